/// `dns`: every A and AAAA record of the URL's host.
import EWSProbeCore
import EWSProbeTransport

public struct DNSCheck: Check {
    public static let name = "dns"
    public static let endpointKinds: Set<EndpointKind> = [.ews, .directory, .m365, .googleWorkspace]
    public static let judgesEachHost = true

    /// Ask this DNS server instead of the system resolver.
    public var server: Resolver.Source?

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["server"]) where key == "server" {
            let text = try value.nonEmptyString()
            guard let source = DNSCheck.parseServer(text) else {
                throw value.error("expected ADDRESS or ADDRESS:PORT (IPv6 as [ADDRESS]:PORT), got \"\(text)\"")
            }
            server = source
        }
    }

    static func parseServer(_ text: String) -> Resolver.Source? {
        if IPAddress.isLiteral(text) { return .server(address: text, port: 53) }
        var host = text
        var portText = ""
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = String(text[text.index(after: close)...].dropFirst())
        } else if let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            portText = String(text[text.index(after: colon)...])
        }
        guard IPAddress.isLiteral(host), let port = Int(portText), (1...65535).contains(port) else { return nil }
        return .server(address: host, port: port)
    }

    public func plan(_ plan: inout ProbePlan, for url: EndpointURL) {
        if let server { plan.resolverSource = server }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        // Through a proxy the names looked up here are the proxy's; the proxy resolves the URL's.
        let host = ctx.target.proxy?.host ?? ctx.target.url.host
        let resolution = await ctx.addresses()
        var result = CheckResult(check: Self.name, status: .pass, summary: "", durationSeconds: resolution.durationSeconds)
        let via: String
        switch ctx.resolver.source {
        case .system: via = "the system resolver"
        case .server(let address, let port): via = "DNS server \(IPAddress.endpoint(address, port))"
        }
        result.details = [
            ("host", .string(host)),
            ("source", .string(resolution.source.rawValue)),
            ("addresses", .array(resolution.addresses.map { .string($0) })),
        ]
        if let proxy = ctx.target.proxy {
            result.details += [
                ("proxy", .string(IPAddress.endpoint(proxy.host, proxy.port))),
                ("endpoint_host", .string(ctx.target.url.host)),
                ("proxy_source", .string(resolution.proxySource?.rawValue ?? "")),
            ]
        }
        result.measurements = [
            Measurement(
                "ewsprobe_dns_lookup_seconds", resolution.durationSeconds, help: "Time the DNS lookup of the target's host took."),
            Measurement(
                "ewsprobe_dns_addresses", Double(resolution.addresses.count),
                help: "Addresses the target's host resolved to (pins count too)."),
        ]
        if let failure = resolution.failure {
            result.status = .fail
            result.reason = failure.reason
            switch failure {
            case .nxdomain: result.summary = "\(host) does not exist (NXDOMAIN from \(via))"
            case .noAddresses: result.summary = "\(host) exists but has no A or AAAA record"
            case .timeout: result.summary = "no answer for \(host) from \(via) before the timeout"
            case .resolverError(let message): result.summary = "looking up \(host) failed: \(message)"
            }
            result.trace.append("lookup \(host) via \(via): \(failure.reason)")
            return result
        }
        let list = resolution.addresses.joined(separator: ", ")
        if let proxy = ctx.target.proxy {
            result.summary =
                "\(ctx.target.url.host) is resolved by the proxy \(proxy.host):\(proxy.port), which is at \(list)"
                + (resolution.proxySource == .dns ? "" : " (\(resolution.proxySource?.rawValue ?? ""), no lookup)")
            result.trace.append("proxy \(proxy.host) (\(resolution.proxySource?.rawValue ?? "")) -> \(list)")
            return result
        }
        switch resolution.source {
        case .proxy: break
        case .pinned:
            result.summary = "\(host) pinned to \(list) (no lookup)"
        case .literal:
            result.summary = "\(host) is an IP address (no lookup)"
        case .dns:
            let v6 = resolution.addresses.filter { $0.contains(":") }.count
            let v4 = resolution.addresses.count - v6
            result.summary = "\(host) has \(v4) IPv4 and \(v6) IPv6 address(es): \(list)"
        }
        result.trace.append("lookup \(host) (\(resolution.source.rawValue)) -> \(list)")
        return result
    }
}
