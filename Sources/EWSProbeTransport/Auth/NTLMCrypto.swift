import COpenSSL

/// The hash and cipher primitives NTLMv2 needs. MD4 and RC4 are written here because OpenSSL 3
/// keeps them in its legacy provider; MD5 and HMAC-MD5 come from OpenSSL's default provider.
public enum NTLMCrypto {
    public static func md4(_ message: [UInt8]) -> [UInt8] {
        var a: UInt32 = 0x6745_2301
        var b: UInt32 = 0xefcd_ab89
        var c: UInt32 = 0x98ba_dcfe
        var d: UInt32 = 0x1032_5476
        var data = message
        let bitLength = UInt64(message.count) * 8
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        for i in 0..<8 { data.append(UInt8((bitLength >> (8 * UInt64(i))) & 0xff)) }
        func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
        for chunk in stride(from: 0, to: data.count, by: 64) {
            var x = [UInt32](repeating: 0, count: 16)
            for i in 0..<16 {
                let j = chunk + i * 4
                x[i] = UInt32(data[j]) | UInt32(data[j + 1]) << 8 | UInt32(data[j + 2]) << 16 | UInt32(data[j + 3]) << 24
            }
            let (aa, bb, cc, dd) = (a, b, c, d)
            let f = { (x: UInt32, y: UInt32, z: UInt32) in (x & y) | (~x & z) }
            let g = { (x: UInt32, y: UInt32, z: UInt32) in (x & y) | (x & z) | (y & z) }
            let h = { (x: UInt32, y: UInt32, z: UInt32) in x ^ y ^ z }
            for i in [0, 4, 8, 12] {
                a = rotl(a &+ f(b, c, d) &+ x[i], 3)
                d = rotl(d &+ f(a, b, c) &+ x[i + 1], 7)
                c = rotl(c &+ f(d, a, b) &+ x[i + 2], 11)
                b = rotl(b &+ f(c, d, a) &+ x[i + 3], 19)
            }
            for i in [0, 1, 2, 3] {
                a = rotl(a &+ g(b, c, d) &+ x[i] &+ 0x5a82_7999, 3)
                d = rotl(d &+ g(a, b, c) &+ x[i + 4] &+ 0x5a82_7999, 5)
                c = rotl(c &+ g(d, a, b) &+ x[i + 8] &+ 0x5a82_7999, 9)
                b = rotl(b &+ g(c, d, a) &+ x[i + 12] &+ 0x5a82_7999, 13)
            }
            for i in [0, 2, 1, 3] {
                a = rotl(a &+ h(b, c, d) &+ x[i] &+ 0x6ed9_eba1, 3)
                d = rotl(d &+ h(a, b, c) &+ x[i + 8] &+ 0x6ed9_eba1, 9)
                c = rotl(c &+ h(d, a, b) &+ x[i + 4] &+ 0x6ed9_eba1, 11)
                b = rotl(b &+ h(c, d, a) &+ x[i + 12] &+ 0x6ed9_eba1, 15)
            }
            a = a &+ aa
            b = b &+ bb
            c = c &+ cc
            d = d &+ dd
        }
        return [a, b, c, d].flatMap { v in (0..<4).map { UInt8((v >> (8 * UInt32($0))) & 0xff) } }
    }

    public static func hmacMD5(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = HMAC(EVP_md5(), key, Int32(key.count), data, data.count, &out, &length)
        return Array(out[0..<Int(length)])
    }

    public static func rc4(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var s = [UInt8](0...255)
        var j = 0
        for i in 0..<256 {
            j = (j + Int(s[i]) + Int(key[i % key.count])) & 0xff
            s.swapAt(i, j)
        }
        var i = 0
        j = 0
        return data.map { byte in
            i = (i + 1) & 0xff
            j = (j + Int(s[i])) & 0xff
            s.swapAt(i, j)
            return byte ^ s[(Int(s[i]) + Int(s[j])) & 0xff]
        }
    }

    public static func utf16le(_ text: String) -> [UInt8] {
        text.utf16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
    }

    /// NTOWFv1 = MD4(UTF16LE(password)).
    public static func ntowfv1(password: String) -> [UInt8] { md4(utf16le(password)) }

    /// NTOWFv2 = HMAC_MD5(NTOWFv1, UTF16LE(uppercase(user) + domain)); the domain keeps its case.
    public static func ntowfv2(password: String, user: String, domain: String) -> [UInt8] {
        hmacMD5(key: ntowfv1(password: password), utf16le(user.uppercased() + domain))
    }
}
