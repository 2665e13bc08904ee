/// What one verified source (a stapled or fetched OCSP response, a CRL) says of one certificate.
public struct RevocationAnswer: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case good
        /// When, and the reason code's name (`keyCompromise`, ...) when the source gives one.
        case revoked(at: Double, reason: String?)
        /// An OCSP responder that does not know the certificate (its issuer is not its own).
        case unknown
    }

    public var state: State
    public var thisUpdate: Double
    /// When the source promises newer information; nil when it does not say (OCSP allows that).
    public var nextUpdate: Double?

    public init(state: State, thisUpdate: Double, nextUpdate: Double?) {
        self.state = state
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
    }

    /// Past its `nextUpdate`: a stale answer is no proof of the present.
    public func isStale(at now: Double) -> Bool { nextUpdate.map { $0 < now } ?? false }
}

/// Why a source gave no usable answer, in words for the report ("the CRL's signature does not
/// verify with the key of ...").
public struct RevocationProblem: Error, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
}
