import EWSProbeCore
import EWSProbeTransport
import Foundation

/// How the cloud checks reach the authority and the APIs: each URL's host by `HostRoute` (the
/// outbound proxy, a `resolve` pin, the target's resolver), the certificate verified against the
/// trust store or `ca_file` before a byte is sent, the run's deadline, a bounded answer.
struct CloudClient {
    let ctx: ProbeContext
    static let bodyLimit = 256 * 1024

    /// Why a request got no HTTP answer: the contract's reason and what to say.
    struct Failure: Error {
        var reason: String
        var summary: String
    }

    func send(
        _ url: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8]? = nil, budget: Duration? = nil
    ) async -> Result<HTTPResponse, Failure> {
        let started = ContinuousClock.now
        let budget = min(ctx.remaining, budget ?? ctx.remaining)
        guard let endpoint = EndpointURL(url), endpoint.scheme == "https" else {
            return .failure(Failure(reason: "request_failed", summary: "\(url) is not an https URL"))
        }
        // `no_proxy` is judged per host: a connector's hosts may be on either side of it.
        let direct = ctx.target.proxy?.bypasses(endpoint.host) ?? true
        let through = direct ? nil : await ctx.addresses().addresses.first
        let route = HostRoute(ctx, proxyAddress: through, direct: direct)
        let pinned: String?
        switch await route.find(endpoint, timeout: budget) {
        case .success(let found): pinned = found.address
        case .failure(let failure):
            return .failure(Failure(reason: "request_failed", summary: "\(endpoint.host) does not resolve (\(failure.reason))"))
        }
        var request = HTTPRequest(
            url: url, method: method, headers: [("User-Agent", BuildInfo.userAgent), ("Accept", "application/json")] + headers,
            body: body, timeout: max(.milliseconds(1), budget - (ContinuousClock.now - started)), pinnedAddress: pinned,
            caFile: ctx.target.caFile, verifyPeer: true, proxy: route.proxy, bodyLimit: Self.bodyLimit)
        request.endpoint = endpoint
        request.sourceAddress = ctx.target.sourceAddress
        do throws(TransportError) {
            return .success(try await ctx.transport.exchange(request, policy: .pooled(ctx.scope)))
        } catch {
            return .failure(Self.failure(error, host: endpoint.host, ctx: ctx, budget: budget))
        }
    }

    static func failure(_ error: TransportError, host: String, ctx: ProbeContext, budget: Duration) -> Failure {
        if let tunnel = ProxyTunnelFailure(error, ctx) { return Failure(reason: tunnel.reason, summary: tunnel.summary) }
        if error.kind == .tls, error.curlCode == 60 || error.tls.verifyResult != 0 {
            return Failure(reason: "request_failed", summary: "\(host)'s certificate is not trusted, nothing was sent (\(error.message))")
        }
        if error.kind == .tooLarge {
            return Failure(reason: "request_failed", summary: "\(host) answered more than \(bodyLimit / 1024) KiB")
        }
        if error.kind == .timeout {
            return Failure(reason: "request_failed", summary: "no answer from \(host) within \(DurationText.format(budget))")
        }
        return Failure(reason: "request_failed", summary: "no answer from \(host): \(error.message)")
    }

    /// The answer's JSON object, when it is one.
    static func json(_ response: HTTPResponse) -> [String: Any]? {
        guard !response.bodyTruncated, !response.body.isEmpty else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
    }

    /// A form body (`application/x-www-form-urlencoded`), every value percent-encoded.
    static func form(_ fields: [(String, String)]) -> [UInt8] {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let text = fields.map { key, value in
            "\(key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
        return Array(text.utf8)
    }

    /// A path segment (a mailbox address in an API path), percent-encoded.
    static func segment(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~@+")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
