import EWSProbeCore
import EWSProbeTransport
import Foundation

/// Fetches CRLs and OCSP responses for `tls` the way every other request goes: through the
/// transport, the target's resolver and `resolve` pins, its source address and its outbound
/// proxy. A fetch is shared by every target that needs the same document (`RevocationCache`),
/// so it carries no one target's deadline: it has its own.
struct RevocationFetcher: Sendable {
    let transport: any HTTPTransport
    let route: HostRoute
    let sourceAddress: String?

    /// The longest a fetch may take, whoever waits for it.
    static let timeout: Duration = .seconds(10)
    /// CRLs of public CAs are kilobytes to a few megabytes; the contract caps them at 10 MiB.
    static let crlLimit = 10 * 1024 * 1024
    static let ocspLimit = 64 * 1024
    /// A document without `nextUpdate` is asked for again after this long.
    static let defaultLifetime = 3600.0

    /// What a fetch's result depends on besides its URL: the way it went (a target behind a
    /// proxy must not be served a document another target fetched directly, or the other way).
    var routeKey: String {
        "\(route.proxy.map { "via \($0.host):\($0.port)" } ?? "direct") from \(sourceAddress ?? "any")"
    }

    init(_ ctx: ProbeContext, proxyAddress: String?) {
        transport = ctx.transport
        route = HostRoute(ctx, proxyAddress: proxyAddress)
        sourceAddress = ctx.target.sourceAddress
    }

    /// The CRL at `url`, parsed and verified against `issuer` before it is kept (its dates
    /// mean nothing before that); kept until its `nextUpdate` (a day at most). One that did not
    /// verify is kept like a failed fetch, a minute.
    func crl(_ url: String, issuer: Certificate) async -> RevocationCache.Fetched {
        let now = Date().timeIntervalSince1970
        switch await get(url, body: nil, limit: Self.crlLimit, what: "CRL") {
        case .failure(let problem): return Self.failed(problem, now: now)
        case .success(let bytes):
            guard let crl = CRLDocument(bytes) else { return Self.failed(RevocationProblem("the answer is not a CRL"), now: now) }
            if let problem = crl.problem(issuedBy: issuer) { return Self.failed(problem, now: now) }
            return RevocationCache.Fetched(.crl(crl), expires: Self.expiry(crl.nextUpdate, now: now))
        }
    }

    /// The OCSP responder at `url` asked about one certificate (POST, RFC 6960 appendix A),
    /// its answer judged by `judge`; kept until its `nextUpdate`, an unusable one for a minute.
    func ocsp(
        _ url: String, request: [UInt8], judge: @Sendable ([UInt8]) -> Result<RevocationAnswer, RevocationProblem>
    ) async -> RevocationCache.Fetched {
        let now = Date().timeIntervalSince1970
        let headers = [("Content-Type", "application/ocsp-request"), ("Accept", "application/ocsp-response")]
        switch await get(url, body: request, limit: Self.ocspLimit, what: "OCSP response", headers: headers) {
        case .failure(let problem): return Self.failed(problem, now: now)
        case .success(let bytes): return Self.judged(judge(bytes), now: now)
        }
    }

    /// An OCSP answer kept until its `nextUpdate`; one that did not verify, for a minute.
    static func judged(_ answer: Result<RevocationAnswer, RevocationProblem>, now: Double) -> RevocationCache.Fetched {
        guard case .success(let good) = answer, good.state != .unknown else {
            return RevocationCache.Fetched(.ocsp(answer), expires: now + RevocationCache.failureLifetime)
        }
        return RevocationCache.Fetched(.ocsp(answer), expires: expiry(good.nextUpdate, now: now))
    }

    static func failed(_ problem: RevocationProblem, now: Double) -> RevocationCache.Fetched {
        RevocationCache.Fetched(.failed(problem), expires: now + RevocationCache.failureLifetime)
    }

    static func expiry(_ nextUpdate: Double?, now: Double) -> Double {
        guard let nextUpdate else { return now + defaultLifetime }
        guard nextUpdate > now else { return now + RevocationCache.failureLifetime }
        return min(nextUpdate, now + 86400)
    }

    private func get(
        _ url: String, body: [UInt8]?, limit: Int, what: String, headers: [(String, String)] = []
    ) async -> Result<[UInt8], RevocationProblem> {
        guard let endpoint = EndpointURL(url), endpoint.kind == .ews else {
            return .failure(RevocationProblem("only http and https URLs are fetched"))
        }
        let start = ContinuousClock.now
        let pinned: String?
        switch await route.find(endpoint, timeout: Self.timeout) {
        case .success(let found): pinned = found.address
        case .failure(let failure): return .failure(RevocationProblem("cannot resolve \(endpoint.host): \(failure.reason)"))
        }
        var request = HTTPRequest(
            url: url, method: body == nil ? "GET" : "POST", headers: headers + [("User-Agent", BuildInfo.userAgent)], body: body,
            timeout: max(.milliseconds(1), Self.timeout - (ContinuousClock.now - start)), pinnedAddress: pinned, bodyLimit: limit)
        request.endpoint = endpoint
        request.sourceAddress = sourceAddress
        request.proxy = route.proxy
        do throws(TransportError) {
            let response = try await transport.exchange(request, policy: .oneShot)
            guard response.status == 200 else { return .failure(RevocationProblem("HTTP \(response.status) from \(url)")) }
            guard !response.bodyTruncated else {
                return .failure(RevocationProblem("the \(what) at \(url) is larger than \(limit / 1024) KiB"))
            }
            return .success(response.body)
        } catch {
            switch error.kind {
            case .timeout: return .failure(RevocationProblem("\(url): no answer within \(Int(Self.timeout.seconds)) s"))
            case .tooLarge: return .failure(RevocationProblem("the \(what) at \(url) is larger than \(limit / 1024) KiB"))
            default: return .failure(RevocationProblem("\(url): \(error.message)"))
            }
        }
    }
}
