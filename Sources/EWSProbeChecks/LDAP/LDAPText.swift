import Foundation

/// The directory's own formats: RFC 4515 filter values, GeneralizedTime, Active Directory's
/// FILETIME (100 ns since 1601) and bind diagnostics.
enum LDAPText {
    /// `value` safe inside a filter: `\`, `*`, `(`, `)` and NUL as `\xx`.
    static func escapeFilterValue(_ value: String) -> String {
        var out: [UInt8] = []
        for byte in value.utf8 {
            switch byte {
            case 0x5C, 0x2A, 0x28, 0x29, 0x00: out += Array(String(format: "\\%02x", byte).utf8)
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Seconds since 1970 of GeneralizedTime, `YYYYMMDDHHMMSS[.fraction](Z|±HH[MM])`: UTC as
    /// directories mostly send it (Active Directory: `20261203150000.0Z`), or with an offset.
    static func generalizedTime(_ text: String) -> Double? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 15, bytes.count <= 64, bytes[0..<14].allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        func number(_ range: Range<Int>) -> Int32 { bytes[range].reduce(0) { $0 * 10 + Int32($1 - 0x30) } }
        var parts = tm()
        parts.tm_year = number(0..<4) - 1900
        parts.tm_mon = number(4..<6) - 1
        parts.tm_mday = number(6..<8)
        parts.tm_hour = number(8..<10)
        parts.tm_min = number(10..<12)
        parts.tm_sec = number(12..<14)
        var index = 14
        var fraction = 0.0
        if bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: ",") {
            index += 1
            var scale = 0.1
            while index < bytes.count, (0x30...0x39).contains(bytes[index]) {
                fraction += Double(bytes[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
        }
        guard index < bytes.count else { return nil }
        var offset = 0
        switch bytes[index] {
        case UInt8(ascii: "Z") where index == bytes.count - 1: break
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let zone = bytes[(index + 1)...]
            guard zone.count == 2 || zone.count == 4, zone.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            let hours = Int(number(index + 1..<index + 3))
            let minutes = zone.count == 4 ? Int(number(index + 3..<index + 5)) : 0
            guard hours < 24, minutes < 60 else { return nil }
            offset = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
        default: return nil
        }
        let seconds = timegm(&parts)
        return seconds < 0 ? nil : Double(seconds - offset) + fraction
    }

    /// Seconds since 1970 of a FILETIME; nil for 0 and the "never" value.
    static func fileTime(_ text: String) -> Double? {
        guard let value = Int64(text), value > 0, value != Int64.max else { return nil }
        return Double(value) / 10_000_000 - 11_644_473_600
    }

    /// Active Directory's bind data code (`... AcceptSecurityContext error, data 775, v4563`).
    static func dataCode(in diagnostic: String) -> String? {
        guard let range = diagnostic.range(of: "data ") else { return nil }
        let code = diagnostic[range.upperBound...].prefix { $0.isHexDigit }
        return code.isEmpty ? nil : code.lowercased()
    }
}
