import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// MS-NLMP §4.2 test vectors, byte for byte (values from ntlm.md).
@Suite struct NTLMCodecTests {
    static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            out.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    static let client = NTLMv2Client(user: "User", domain: "Domain", password: Secret("Password"), workstation: "COMPUTER")
    static let serverChallenge = hex("0123456789abcdef")
    static let clientChallenge = hex("aaaaaaaaaaaaaaaa")
    static let targetInfo = hex("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")

    @Test func hashes() {
        #expect(NTLMCrypto.ntowfv1(password: "Password") == Self.hex("a4f49c406510bdcab6824ee7c30fd852"))
        #expect(NTLMCrypto.ntowfv2(password: "Password", user: "User", domain: "Domain") == Self.hex("0c868a403bfd7a93a3001ef22ef02e3f"))
        // RFC 1320's MD4 vectors keep the hand-written MD4 honest beyond the one NTLM value.
        #expect(NTLMCrypto.md4([]) == Self.hex("31d6cfe0d16ae931b73c59d7e0c089c0"))
        #expect(NTLMCrypto.md4(Array("abc".utf8)) == Self.hex("a448017aaf21d8525fc10ae87aa6729d"))
        #expect(
            NTLMCrypto.md4(Array("12345678901234567890123456789012345678901234567890123456789012345678901234567890".utf8))
                == Self.hex("e33b4ddc9c38f2199c3e7b164fcc0536"))
    }

    @Test func ntlmv2Responses() {
        let material = Self.client.responses(
            serverChallenge: Self.serverChallenge, clientChallenge: Self.clientChallenge, time: 0, targetInfo: Self.targetInfo)
        #expect(material.ntProof == Self.hex("68cd0ab851e51c96aabc927bebef6a1c"))
        #expect(material.lmResponse == Self.hex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa"))
        #expect(material.sessionBaseKey == Self.hex("8de40ccadbc14a82f15cb0ad0de95ca3"))
        #expect(
            NTLMCrypto.rc4(key: material.sessionBaseKey, [UInt8](repeating: 0x55, count: 16))
                == Self.hex("c5dad2544fc9799094ce1ce90bc9d03e"))
    }

    @Test func specChallengeDecodes() throws {
        let raw = Array(
            Data(
                base64Encoded:
                    "TlRMTVNTUAACAAAADAAMADgAAAAzgoriASNFZ4mrze8AAAAAAAAAACQAJABEAAAABgBwFwAAAA9TAGUAcgB2AGUAcgACAAwARABvAG0AYQBpAG4AAQAMAFMAZQByAHYAZQByAAAAAAA="
            )!)
        let challenge = try NTLMChallenge.decode(raw)
        #expect(challenge.flags.rawValue == 0xe28a_8233)
        #expect(challenge.serverChallenge == Self.serverChallenge)
        #expect(challenge.targetName == "Server")
        #expect(challenge.targetInfo.string(.nbComputerName) == "Server")
        #expect(challenge.targetInfo.string(.nbDomainName) == "Domain")
        #expect(challenge.targetInfo.encoded == Self.targetInfo)
        #expect(challenge.version == NTLMVersion(major: 6, minor: 0, build: 6000))
    }

    @Test func specAuthenticateIsReproducedByteForByte() {
        let material = Self.client.responses(
            serverChallenge: Self.serverChallenge, clientChallenge: Self.clientChallenge, time: 0, targetInfo: Self.targetInfo)
        let message = NTLMAuthenticate(
            flags: NTLMFlags(rawValue: 0xe288_8235), lmResponse: material.lmResponse, ntResponse: material.ntResponse, domain: "Domain",
            user: "User", workstation: "COMPUTER",
            encryptedSessionKey: NTLMCrypto.rc4(key: material.sessionBaseKey, [UInt8](repeating: 0x55, count: 16)),
            version: NTLMVersion(major: 5, minor: 1, build: 2600), mic: nil)
        let expected =
            "TlRMTVNTUAADAAAAGAAYAGwAAABUAFQAhAAAAAwADABIAAAACAAIAFQAAAAQABAAXAAAABAAEADYAAAANYKI4gUBKAoAAAAPRABvAG0AYQBpAG4AVQBzAGUAcgBDAE8ATQBQAFUAVABFAFIAhsNQl6yc7BAlVHZKV8zMGaqqqqqqqqqqaM0KuFHlHJaqvJJ76+9qHAEBAAAAAAAAAAAAAAAAAACqqqqqqqqqqgAAAAACAAwARABvAG0AYQBpAG4AAQAMAFMAZQByAHYAZQByAAAAAAAAAAAAxdrSVE/JeZCUzhzpC8nQPg=="
        #expect(message.encoded.count == 232)
        #expect(Data(message.encoded).base64EncodedString() == expected)
    }

    @Test func curlNegotiateParses() throws {
        let negotiate = try NTLMNegotiate.decode(Array(Data(base64Encoded: "TlRMTVNTUAABAAAABoIIAAAAAAAAAAAAAAAAAAAAAAA=")!))
        #expect(negotiate.flags == [.oem, .requestTarget, .ntlm, .alwaysSign, .extendedSessionSecurity])
        #expect(negotiate.flags.rawValue == 0x0008_8206)
        let ours = try NTLMNegotiate.decode(NTLMNegotiate().encoded)
        #expect(ours.flags == .census)
        #expect(ours.version == NTLMVersion(major: 10, minor: 0, build: 20348))
    }

    @Test func hostileChallengesAreRejectedNotTrapped() {
        let good = Array(
            Data(
                base64Encoded:
                    "TlRMTVNTUAACAAAADAAMADgAAAAzgoriASNFZ4mrze8AAAAAAAAAACQAJABEAAAABgBwFwAAAA9TAGUAcgB2AGUAcgACAAwARABvAG0AYQBpAG4AAQAMAFMAZQByAHYAZQByAAAAAAA="
            )!)
        // Truncated at every length.
        for length in 0..<good.count {
            _ = try? NTLMChallenge.decode(Array(good[0..<length]))
        }
        #expect(throws: NTLMDecodeError.self) { try NTLMChallenge.decode(Array(good[0..<20])) }
        // Target info offset past the end.
        var pastEnd = good
        pastEnd[44] = 0xF0
        #expect(throws: NTLMDecodeError.self) { try NTLMChallenge.decode(pastEnd) }
        // An AV pair longer than the message.
        var longPair = good
        longPair[0x44 + 2] = 0xFF
        #expect(throws: NTLMDecodeError.self) { try NTLMChallenge.decode(longPair) }
        // Offset pointing into the header.
        var intoHeader = good
        intoHeader[44] = 0x10
        #expect(throws: NTLMDecodeError.self) { try NTLMChallenge.decode(intoHeader) }
        // One AV pair of 65,000 bytes: the NT response that echoes it would pass 16 bits.
        var onePair = Array(good[0..<56])
        let pair: [UInt8] = [2, 0, 0xE8, 0xFD] + [UInt8](repeating: 0x41, count: 65_000) + [0, 0, 0, 0]
        onePair[40] = UInt8(pair.count & 0xff)
        onePair[41] = UInt8(pair.count >> 8)
        onePair[42] = onePair[40]
        onePair[43] = onePair[41]
        onePair[44] = 56
        onePair[45] = 0
        onePair += pair
        #expect(throws: NTLMDecodeError.self) { try NTLMChallenge.decode(onePair) }
        // 64 KiB of AV pairs decode (bounded) or fail, without trouble.
        var huge = Array(good[0..<56])
        var info: [UInt8] = []
        while info.count < 60_000 { info += [1, 0, 2, 0, 0x41, 0] }
        info += [0, 0, 0, 0]
        huge[40] = UInt8(info.count & 0xff)
        huge[41] = UInt8(info.count >> 8)
        huge[44] = 56
        huge += info
        _ = try? NTLMChallenge.decode(huge)
        // Random bytes behind a valid header.
        for seed in 0..<500 {
            var generator = SeededGenerator(seed: UInt64(seed))
            var bytes = Array(good[0..<12]) + [2, 0, 0, 0]
            bytes += (0..<Int.random(in: 0..<200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? NTLMChallenge.decode(bytes)
        }
    }

    @Test func authenticateWithTimestampCarriesAMIC() throws {
        var info = NTLMTargetInfo(pairs: [
            (1, NTLMCrypto.utf16le("SERVER")), (7, NTLMBytes.u64(133_000_000_000_000_000)),
        ])
        info.pairs.append((3, NTLMCrypto.utf16le("server.lab.test")))
        let negotiate = NTLMNegotiate().encoded
        let challengeBytes = NTLMChallenge.encode(
            flags: .census, serverChallenge: Self.serverChallenge, targetName: "SERVER", targetInfo: info,
            version: NTLMVersion(major: 10, minor: 0, build: 17763))
        let challenge = try NTLMChallenge.decode(challengeBytes)
        #expect(challenge.targetName == "SERVER")
        #expect(challenge.targetInfo.string(.dnsComputerName) == "server.lab.test")
        #expect(challenge.version?.build == 17763)
        let message = Self.client.authenticate(negotiate: negotiate, challenge: challenge, clientChallenge: Self.clientChallenge)
        #expect(message.count > 88)
        #expect(Array(message[8..<12]) == [3, 0, 0, 0])
        #expect(Array(message[72..<88]) != [UInt8](repeating: 0, count: 16))
    }
}

/// A small deterministic generator for repeatable random inputs.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state ^ (state >> 33)
    }
}
