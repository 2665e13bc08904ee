import EWSProbeCore
import EWSProbeTransport

/// How a check reaches a host other than the target's own (a CRL server, an OCSP responder, an
/// Autodiscover candidate): through the outbound proxy when one is set (the proxy resolves the
/// name), else a `resolve` pin, an IP literal, or the target's resolver (`dns.server`). A value,
/// so a fetch that outlives its run (the revocation cache's) keeps it.
struct HostRoute: Sendable {
    let resolver: Resolver
    let pins: [ResolvePin]
    let proxy: ProxyRoute?

    /// Where to send a request for `endpoint`.
    struct Found {
        /// The address to pin the request to: the proxy's with a proxy.
        var address: String?
        /// How the name was resolved, for a trace ("pinned ...", the addresses; empty when the
        /// proxy resolves it or it is an address).
        var resolved: String
    }

    /// `direct`: this host is one the proxy's `no_proxy` exempts.
    init(_ ctx: ProbeContext, proxyAddress: String?, direct: Bool = false) {
        resolver = ctx.resolver
        pins = ctx.target.resolve
        proxy = direct ? nil : ctx.proxyRoute(through: proxyAddress)
    }

    func find(_ endpoint: EndpointURL, timeout: Duration) async -> Result<Found, ResolveFailure> {
        if let proxy { return .success(Found(address: proxy.connectAddress, resolved: "")) }
        if let pin = pins.first(where: { $0.matches(host: endpoint.host, port: endpoint.port) }) {
            return .success(Found(address: pin.addresses.first, resolved: "pinned \(pin.addresses.joined(separator: ","))"))
        }
        if IPAddress.isLiteral(endpoint.host) { return .success(Found(address: endpoint.host, resolved: "")) }
        return await resolver.resolve(endpoint.host, timeout: timeout).map {
            Found(address: $0.first, resolved: $0.prefix(4).joined(separator: ","))
        }
    }
}
