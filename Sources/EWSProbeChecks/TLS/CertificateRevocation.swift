import EWSProbeTransport

/// The revocation state of one certificate of a chain, and where it came from.
public struct CertificateRevocation: Sendable, Equatable {
    public enum Source: String, Sendable, CaseIterable {
        case stapled, ocsp, crl
    }

    public enum Status: Sendable, Equatable {
        case good
        case revoked(at: Double, reason: String?)
        /// No source gave a usable answer: each one's cause, in the order tried.
        case unknown([String])
        /// The certificate names no source (an internal CA's, usually): nothing to ask.
        case notChecked

        /// The metric's value: 0 good, 1 revoked, 2 unknown.
        var metricValue: Double? {
            switch self {
            case .good: 0
            case .revoked: 1
            case .unknown: 2
            case .notChecked: nil
            }
        }

        var word: String {
            switch self {
            case .good: "good"
            case .revoked: "revoked"
            case .unknown: "unknown"
            case .notChecked: "not checked"
            }
        }
    }

    /// Position in the chain (0 = leaf) and the certificate itself.
    public var index: Int
    public var subjectCN: String
    public var status: Status = .notChecked
    /// The source that answered (or, for `unknown`, the last one tried).
    public var source: Source?
    /// The CRL's or responder's URL; nil for a stapled response.
    public var url: String?
    public var nextUpdate: Double?
    /// The stapled response was past its `nextUpdate` (when it was).
    public var staleStaple: Double?

    public init(index: Int, subjectCN: String) {
        self.index = index
        self.subjectCN = subjectCN
    }
}
