import EWSProbeCore
import EWSProbeTransport

/// A connection through the outbound proxy whose tunnel never opened. Every check that connects
/// gives the proxy's reason then, as `tcp` does, instead of a TLS or HTTP verdict about an
/// origin it never reached.
struct ProxyTunnelFailure {
    var reason: String
    var summary: String

    /// Nil when there is no proxy or the tunnel opened (the failure is then the origin's).
    init?(_ error: TransportError, _ ctx: ProbeContext) {
        guard let proxy = ctx.target.proxy, error.kind != .cancelled else { return nil }
        let outcome = error.connection.proxy ?? ProxyOutcome()
        guard !outcome.tunnelOpen else { return nil }
        reason = Self.reason(outcome, error, credentials: ctx.proxyRoute(through: nil)?.credentials != nil)
        let status = outcome.status.map { "answered CONNECT with \($0)" } ?? "gave no tunnel"
        summary = "no tunnel through the proxy \(proxy.host):\(proxy.port): it \(status) (\(error.message))"
        if let note = Self.unreadablePassword(ctx) { summary += "; \(note)" }
    }

    /// Why configured proxy credentials were not sent: their password could not be read.
    static func unreadablePassword(_ ctx: ProbeContext) -> String? {
        guard ctx.target.proxy?.username != nil else { return nil }
        do {
            _ = try ctx.proxyPassword()
            return nil
        } catch {
            return "the proxy credentials were not sent: \(error)"
        }
    }

    /// The contract's proxy reasons: no connection to the proxy, then what it said to CONNECT.
    static func reason(_ proxy: ProxyOutcome, _ failure: TransportError, credentials: Bool) -> String {
        if failure.timings.connect == 0 && proxy.status == nil { return "proxy_unreachable" }
        switch proxy.status {
        case 407: return credentials ? "proxy_auth_rejected" : "proxy_auth_required"
        case 403: return "proxy_denied"
        default: return "proxy_tunnel_failed"
        }
    }
}
