import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `forms_auth`: is a forms-based login page (or a pre-authenticating proxy) in front of EWS?
/// The cloud service's connection fails when "a forms based authentication page is presented".
/// Follows same-host redirects up to a bound, keeps the whole chain, and never leaves the
/// target's host: a redirect elsewhere is judged from its URL alone.
public struct FormsAuthCheck: Check {
    public static let name = "forms_auth"

    public var maxRedirects = 5

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["max_redirects"]) where key == "max_redirects" {
            maxRedirects = try value.int(in: 0...20)
        }
    }

    public func plan(_ plan: inout ProbePlan, for url: EndpointURL) {
        plan.sharedProbeBody = SOAPEnvelope.anonymousGetFolder
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard let address = await AddressFanOut.addresses(ctx)?.first else { return AddressFanOut.noAddresses(Self.name, "ask") }
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        let (hops, verdict) = await walk(address, ctx, trace: &result.trace)
        result.status = verdict.status
        result.reason = verdict.reason
        result.summary = verdict.summary
        result.durationSeconds = timer.elapsed
        Self.report(hops, finding: verdict.finding, into: &result)
        return result
    }

    /// The redirect walk from the EWS URL: same-site hops only, at most `maxRedirects`.
    func walk(_ address: String, _ ctx: ProbeContext, trace: inout [String]) async -> ([FormsHop], FormsAuthVerdict) {
        var hops: [FormsHop] = []
        var url = ctx.target.url
        var method = "POST"
        while true {
            var request = ctx.anonymousSOAPRequest(pinnedTo: address)
            request.url = url.description
            if method != "POST" {
                request.method = method
                request.body = nil
                request.headers = []
            }
            let response: HTTPResponse
            do {
                // The first hop is the probe's shared anonymous SOAP POST.
                response =
                    hops.isEmpty
                    ? try await ctx.anonymousSOAPExchange(pinnedTo: address)
                    : try await ctx.transport.exchange(request, policy: .pooled(ctx.scope))
            } catch {
                let tunnel = ProxyTunnelFailure(error, ctx)
                return (
                    hops,
                    FormsAuthVerdict(
                        status: .fail, reason: tunnel?.reason ?? "request_failed",
                        summary: tunnel?.summary ?? "\(method) \(url) failed: \(error.message)")
                )
            }
            let hop = Self.hop(response, at: url)
            hops.append(hop)
            trace.append(
                "\(method) \(url) -> \(response.status)" + (hop.location.map { " Location: \($0)" } ?? "")
                    + (hop.cookieNames.isEmpty ? "" : " cookies: \(hop.cookieNames.joined(separator: ","))"))
            switch FormsAuthVerdict.step(after: hop, at: url, count: hops.count, maxRedirects: maxRedirects) {
            case .verdict(let verdict): return (hops, verdict)
            case .follow(let next):
                if [301, 302, 303].contains(response.status) { method = "GET" }
                url = next
            }
        }
    }

    static func hop(_ response: HTTPResponse, at url: EndpointURL) -> FormsHop {
        FormsHop(
            url: url.description, status: response.status, location: response.header("Location"),
            cookieNames: response.headerValues("Set-Cookie").map { cookieName($0) },
            contentType: response.header("Content-Type"), body: response.bodyText,
            hasAuthChallenge: !AuthChallengeParser.parse(headers: response.headerValues("WWW-Authenticate")).isEmpty)
    }

    static func report(_ hops: [FormsHop], finding: FormsLoginClassifier.Finding?, into result: inout CheckResult) {
        result.details = [
            ("vendor", finding.map { .string($0.vendor.rawValue) } ?? .null),
            ("evidence", finding.map { .string($0.evidence) } ?? .null),
            (
                "chain",
                .array(
                    hops.map { hop in
                        .object([
                            ("url", .string(hop.url)), ("status", .int(hop.status)),
                            ("location", hop.location.map { .string($0) } ?? .null),
                            ("cookies", .array(hop.cookieNames.map { .string($0) })),
                        ])
                    })
            ),
        ]
        result.measurements.append(
            Measurement("ewsprobe_forms_redirects", Double(max(0, hops.count - 1)), help: "Redirects followed from the EWS URL."))
        if let finding {
            result.measurements.append(
                Measurement(
                    "ewsprobe_forms_login_detected", 1, help: "A forms login in front of EWS, by vendor (value 1).",
                    labels: [("vendor", finding.vendor.rawValue)]))
        }
    }

    static func cookieName(_ header: String) -> String {
        let pair = header.split(separator: ";", maxSplits: 1).first ?? ""
        return String(pair.split(separator: "=", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces)
    }
}
