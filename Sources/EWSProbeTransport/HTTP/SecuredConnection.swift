/// An exchange's connection once it is open and, for https, its TLS handshake is done: what
/// `tcp` (the connect) and `tls` (the chain) judge, whatever the HTTP exchange does next.
public struct SecuredConnection: Sendable {
    public var timings: PhaseTimings
    public var connection: ConnectionFacts
    public var tls: TLSFacts

    public init(timings: PhaseTimings, connection: ConnectionFacts, tls: TLSFacts) {
        self.timings = timings
        self.connection = connection
        self.tls = tls
    }

    package init(_ response: HTTPResponse) {
        self.init(timings: response.timings, connection: response.connection, tls: response.tls)
    }

    /// The connection a failed exchange had reached before it failed, if it got that far: a
    /// server that completes the handshake and then closes or stalls still showed its chain.
    package init?(reachedBefore error: TransportError, tls: Bool) {
        guard tls ? !error.tls.chain.isEmpty : error.timings.connect > 0 else { return nil }
        self.init(timings: error.timings, connection: error.connection, tls: error.tls)
    }
}
