import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `tcp`: a TCP connection to the URL's port on every resolved address, each measured on its own.
/// The cloud service may land on any address, so by default one bad address fails the check.
public struct TCPCheck: Check {
    public static let name = "tcp"
    public static let endpointKinds: Set<EndpointKind> = [.ews, .directory, .m365, .googleWorkspace]
    public static let judgesEachHost = true

    public enum PartialFailure: String, Sendable, CaseIterable {
        case fail, warn
    }

    /// What one unreachable address (of several) counts as.
    public var partialFailure: PartialFailure = .fail
    public var connectTimeout: Duration?

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["partial_failure", "connect_timeout"]) {
            switch key {
            case "partial_failure": partialFailure = try value.choice(PartialFailure.self)
            case "connect_timeout": connectTimeout = try value.duration(.timeout)
            default: break
            }
        }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        let url = ctx.target.url
        guard let addresses = await AddressFanOut.addresses(ctx) else {
            return AddressFanOut.noAddresses(Self.name, "connect to", timer: timer)
        }
        let timeout = min(connectTimeout ?? ctx.remaining, ctx.remaining)
        // One connection per probe where the module sends the SOAP POST anyway (as blackbox's
        // http prober does): the first address's connect is that exchange's.
        let shareFirst = connectTimeout == nil && ctx.target.plan.sharesAnonymousSOAP
        // Plain http:// with CONNECT_ONLY opens the TCP connection and nothing else.
        let connectURL = "http://\(IPAddress.bracketed(url.host)):\(url.port)/"
        let proxied = ctx.target.proxy != nil
        @Sendable func attempt(_ index: Int, _ address: String) async -> TCPAttempt {
            // Through a proxy: the connect to it and the CONNECT tunnel to the origin.
            var request = ctx.request(pinnedTo: address)
            request.url = connectURL
            request.timeout = timeout
            let credentials = request.proxy?.credentials != nil
            do throws(TransportError) {
                // The shared POST's connect, without waiting for its answer.
                let connection =
                    shareFirst && index == 0
                    ? try await ctx.anonymousSOAPConnection(pinnedTo: address)
                    : SecuredConnection(try await ctx.transport.exchange(request, policy: .connectOnly))
                let timings = connection.timings
                return TCPAttempt(
                    address: address, seconds: timings.connect - timings.nameLookup, proxy: connection.connection.proxy,
                    proxyCredentials: credentials)
            } catch {
                // A failure after the connect (and the tunnel) — TLS, HTTP — is not this check's.
                let tunnelOpen = !proxied || error.connection.proxy?.tunnelOpen == true
                if error.kind != .cancelled, error.timings.connect > 0, tunnelOpen {
                    return TCPAttempt(
                        address: address, seconds: error.timings.connect - error.timings.nameLookup, proxy: error.connection.proxy,
                        proxyCredentials: credentials)
                }
                return TCPAttempt(
                    address: address, seconds: error.timings.total, failure: error,
                    proxy: proxied ? error.connection.proxy ?? ProxyOutcome() : nil, proxyCredentials: credentials)
            }
        }
        let attempts = await AddressFanOut.map(addresses, attempt)
        var result = TCPReport(partialFailure: partialFailure).render(
            attempts, port: url.port, durationSeconds: timer.elapsed, proxy: ctx.target.proxy,
            origin: "\(IPAddress.bracketed(url.host)):\(url.port)")
        if result.status != .pass, let note = ProxyTunnelFailure.unreadablePassword(ctx) { result.summary += "; \(note)" }
        return result
    }

    static func ms(_ seconds: Double) -> String {
        NumberText.fixed(seconds * 1000, 1) + " ms"
    }
}
