/// `auth_methods`: which authentication schemes EWS offers to an unauthenticated SOAP POST.
/// A POST, not GET/HEAD: some publishing setups send everything but that POST to OWA.
import EWSProbeCore
import EWSProbeTransport

public struct AuthMethodsCheck: Check {
    public static let name = "auth_methods"

    /// Schemes that must be offered (the cloud connector needs Basic).
    public var required: [String] = ["basic"]
    /// Schemes whose absence is a warning.
    public var expected: [String] = ["ntlm"]
    /// Schemes that must not be offered.
    public var forbidden: [String] = []

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["required", "expected", "forbidden"]) {
            let schemes = try value.stringList().map { $0.lowercased() }
            switch key {
            case "required": required = schemes
            case "expected": expected = schemes
            case "forbidden": forbidden = schemes
            default: break
            }
        }
    }

    public func plan(_ plan: inout ProbePlan, for url: EndpointURL) {
        plan.sharedProbeBody = SOAPEnvelope.anonymousGetFolder
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        guard let address = await AddressFanOut.addresses(ctx)?.first else { return AddressFanOut.noAddresses(Self.name, "ask") }
        let response: HTTPResponse
        do {
            response = try await ctx.anonymousSOAPExchange(pinnedTo: address)
        } catch {
            let tunnel = ProxyTunnelFailure(error, ctx)
            result.status = .fail
            result.reason = tunnel?.reason ?? "request_failed"
            result.summary = tunnel?.summary ?? "the SOAP POST to \(IPAddress.bracketed(address)) failed: \(error.message)"
            result.durationSeconds = timer.elapsed
            return result
        }
        let challenges = AuthChallengeParser.parse(headers: response.headerValues("WWW-Authenticate"))
        let offered = challenges.map(\.normalizedScheme).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        result = evaluate(status: response.status, challenges: challenges, offered: offered)
        result.durationSeconds = timer.elapsed
        result.trace.append("POST \(ctx.target.url.path) via \(IPAddress.endpoint(address, ctx.target.url.port)) -> \(response.status)")
        for line in response.headerValues("WWW-Authenticate") { result.trace.append("WWW-Authenticate: \(line)") }
        result.measurements += schemeMeasurements(offered)
        result.measurements.append(
            Measurement("ewsprobe_http_status_code", Double(response.status), help: "HTTP status of the unauthenticated SOAP POST."))
        for (phase, seconds) in response.timings.phases {
            result.measurements.append(
                Measurement(
                    "ewsprobe_http_duration_seconds", seconds, help: "Phases of the SOAP POST exchange.", labels: [("phase", phase)]))
        }
        result.details.insert(("address", .string(address)), at: 0)
        return result
    }

    /// Schemes that become a `scheme` label by name: the IANA registry's and the Microsoft ones.
    /// A server may offer any number of made-up names; those fold into `other`.
    static let knownSchemes: Set<String> = [
        "basic", "bearer", "concealed", "digest", "dpop", "gnap", "hoba", "kerberos", "mutual", "negotiate", "ntlm", "oauth",
        "privatetoken", "scram-sha-1", "scram-sha-256", "vapid",
    ]

    /// Known schemes and the ones this module names (the configuration bounds those).
    var namedSchemes: Set<String> { Self.knownSchemes.union(required + expected + forbidden) }

    /// One series per named scheme, one `other` for the rest with their count beside it.
    func schemeMeasurements(_ offered: [String]) -> [Measurement] {
        let help = "Authentication schemes EWS offers (value 1 per scheme; unknown schemes as other)."
        let named = namedSchemes
        var measurements = offered.filter(named.contains).map {
            Measurement("ewsprobe_auth_scheme_offered", 1, help: help, labels: [("scheme", $0)])
        }
        let others = offered.count - measurements.count
        if others > 0 {
            measurements.append(Measurement("ewsprobe_auth_scheme_offered", 1, help: help, labels: [("scheme", "other")]))
            measurements.append(
                Measurement(
                    "ewsprobe_auth_other_schemes_offered", Double(others),
                    help: "Distinct offered schemes outside the known list (scheme=\"other\")."))
        }
        return measurements
    }

    /// The offered schemes for a summary: named ones by name, the rest counted.
    func summaryList(_ offered: [String]) -> String {
        let known = offered.filter(namedSchemes.contains)
        let others = offered.count - known.count
        let parts = known + (others > 0 ? ["\(others) other scheme\(others == 1 ? "" : "s")"] : [])
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// The verdict from the answer alone (pure, unit-tested).
    func evaluate(status: Int, challenges: [AuthChallenge], offered: [String]) -> CheckResult {
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        result.details = [
            ("http_status", .int(status)),
            ("schemes", .array(offered.map { .string($0) })),
            (
                "challenges",
                .array(
                    challenges.map { challenge in
                        var pairs: [(String, JSONValue)] = [("scheme", .string(challenge.scheme))]
                        if let realm = challenge.parameter("realm") { pairs.append(("realm", .string(realm))) }
                        return .object(pairs)
                    })
            ),
        ]
        let list = summaryList(offered)
        switch status {
        case 200..<300:
            result.status = .fail
            result.reason = "anonymous_allowed"
            result.summary = "EWS answered \(status) to a SOAP request without credentials"
            return result
        case 401:
            break
        default:
            result.status = .fail
            result.reason = "unexpected_status"
            result.summary = "EWS answered \(status) instead of 401 to an unauthenticated SOAP POST"
            return result
        }
        if challenges.isEmpty {
            result.status = .fail
            result.reason = "no_auth_challenge"
            result.summary = "401 without any WWW-Authenticate challenge"
            return result
        }
        if let bad = forbidden.first(where: offered.contains) {
            result.status = .fail
            result.reason = "forbidden_scheme_offered"
            result.summary = "offers \(list); \(bad) must not be offered"
            return result
        }
        if let missing = required.first(where: { !offered.contains($0) }) {
            result.status = .fail
            result.reason = missing == "basic" ? "basic_not_offered" : "required_scheme_missing"
            result.summary =
                missing == "basic"
                ? "Basic authentication is not offered (offers \(list)); enable Basic on the EWS virtual directory"
                : "offers \(list); required \(missing) is missing"
            return result
        }
        if let missing = expected.first(where: { !offered.contains($0) }) {
            result.status = .warn
            result.reason = "expected_scheme_missing"
            result.summary = "offers \(list); \(missing) is usually offered by Exchange but is not"
            return result
        }
        result.summary = "401 offering \(list)"
        return result
    }
}
