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

    /// Seconds since 1970 of `YYYYMMDDHHMMSS[.fraction]Z` (UTC only, as directories send it).
    static func generalizedTime(_ text: String) -> Double? {
        let digits = Array(text.utf8.prefix(14))
        guard digits.count == 14, digits.allSatisfy({ (0x30...0x39).contains($0) }), text.hasSuffix("Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32 { digits[range].reduce(0) { $0 * 10 + Int32($1 - 0x30) } }
        var parts = tm()
        parts.tm_year = number(0..<4) - 1900
        parts.tm_mon = number(4..<6) - 1
        parts.tm_mday = number(6..<8)
        parts.tm_hour = number(8..<10)
        parts.tm_min = number(10..<12)
        parts.tm_sec = number(12..<14)
        let seconds = timegm(&parts)
        return seconds < 0 ? nil : Double(seconds)
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
