import EWSProbeTransport

/// One address's connect: how long it took, or why it failed. Through a proxy the address is
/// the proxy's and the attempt is the tunnel: connect, then CONNECT to the origin.
struct TCPAttempt: Sendable {
    var address: String
    var seconds: Double
    var failure: TransportError?
    /// The proxy's answers to CONNECT (nil: no proxy).
    var proxy: ProxyOutcome?
    /// Whether proxy credentials were configured (a 407 then means they were rejected).
    var proxyCredentials = false

    var reason: String? {
        guard let failure else { return nil }
        if let proxy { return ProxyTunnelFailure.reason(proxy, failure, credentials: proxyCredentials) }
        switch failure.kind {
        case .refused: return "refused"
        case .timeout: return "timeout"
        default: return "unreachable"
        }
    }
}
