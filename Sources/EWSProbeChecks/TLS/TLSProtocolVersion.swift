/// A TLS protocol version as `min_version` names it.
public enum TLSProtocolVersion: String, Sendable, CaseIterable, Comparable {
    case tls10 = "1.0"
    case tls11 = "1.1"
    case tls12 = "1.2"
    case tls13 = "1.3"

    var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }

    /// From OpenSSL's name ("TLSv1.2").
    init?(openSSLName: String) {
        switch openSSLName {
        case "TLSv1": self = .tls10
        case "TLSv1.1": self = .tls11
        case "TLSv1.2": self = .tls12
        case "TLSv1.3": self = .tls13
        default: return nil
        }
    }
}
