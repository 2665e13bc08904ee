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
        plan.sharesAnonymousSOAP = plan.sharesAnonymousSOAP || true
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        let resolution = await ctx.addresses()
        guard let address = resolution.addresses.first else {
            return CheckResult(check: Self.name, status: .skip, reason: "no_addresses", summary: "no address to ask (dns failed)")
        }
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        var hops: [FormsHop] = []
        var url = ctx.target.url
        var method = "POST"
        var outcome: (CheckStatus, String?, String, FormsLoginClassifier.Finding?)?
        while outcome == nil {
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
                outcome = (.fail, "request_failed", "\(method) \(url) failed: \(error.message)", nil)
                break
            }
            let hop = FormsHop(
                url: url.description, status: response.status, location: response.header("Location"),
                cookieNames: response.headerValues("Set-Cookie").map { Self.cookieName($0) },
                contentType: response.header("Content-Type"), body: response.bodyText,
                hasAuthChallenge: !AuthChallengeParser.parse(headers: response.headerValues("WWW-Authenticate")).isEmpty)
            hops.append(hop)
            result.trace.append(
                "\(method) \(url) -> \(response.status)" + (hop.location.map { " Location: \($0)" } ?? "")
                    + (hop.cookieNames.isEmpty ? "" : " cookies: \(hop.cookieNames.joined(separator: ","))"))
            if let finding = FormsLoginClassifier.classify(hop) {
                outcome = (
                    .fail, "forms_login_detected",
                    "\(finding.vendor.displayName) in front of EWS (\(finding.evidence)); publish EWS without pre-authentication",
                    finding
                )
                break
            }
            guard (300..<400).contains(response.status), let location = hop.location else {
                let summary =
                    response.status == 401 && hop.hasAuthChallenge
                    ? "no forms login: EWS answers with an HTTP authentication challenge"
                    : "no forms login (status \(response.status))"
                outcome = (.pass, nil, summary, nil)
                break
            }
            if FormsLoginClassifier.isExchangeErrorPage(location) {
                outcome = (.warn, "exchange_error_page", "Exchange redirected to its transient error page (\(location))", nil)
                break
            }
            guard let next = URL(string: location, relativeTo: URL(string: url.description)).flatMap({ EndpointURL($0.absoluteString) })
            else {
                outcome = (.fail, "redirected_elsewhere", "EWS redirects to \(location), which is not an http(s) URL", nil)
                break
            }
            guard next.host == url.host, next.port == url.port, next.scheme == url.scheme else {
                outcome = (.fail, "redirected_elsewhere", "EWS redirects to another site: \(next)", nil)
                break
            }
            guard hops.count <= maxRedirects else {
                outcome = (.fail, "redirected_elsewhere", "more than \(maxRedirects) redirects (last to \(next))", nil)
                break
            }
            if [301, 302, 303].contains(response.status) { method = "GET" }
            url = next
        }
        let (status, reason, summary, finding) = outcome!
        result.status = status
        result.reason = reason
        result.summary = summary
        result.durationSeconds = timer.elapsed
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
            Measurement(
                "ewsprobe_forms_redirects", Double(max(0, hops.count - 1)), help: "Redirects followed from the EWS URL."))
        if let finding {
            result.measurements.append(
                Measurement(
                    "ewsprobe_forms_login_detected", 1, help: "A forms login in front of EWS, by vendor (value 1).",
                    labels: [("vendor", finding.vendor.rawValue)]))
        }
        return result
    }

    static func cookieName(_ header: String) -> String {
        let pair = header.split(separator: ";", maxSplits: 1).first ?? ""
        return String(pair.split(separator: "=", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces)
    }
}
