import EWSProbeCore
import EWSProbeTransport

/// The `autodiscover` result from how the walk ended: the verdict, each candidate's line in
/// the trace and the notes, the contract's metrics, and the JSON details.
enum AutodiscoverReport {
    /// At most this many candidate series per run (a redirect chain is bounded anyway).
    static let maxCandidateSeries = 16

    static func render(
        _ ending: AutodiscoverWalk.Ending, attempts: [AutodiscoverAttempt], address: String, configured: EndpointURL,
        includeDetails: Bool, seconds: Double, shown: (String) -> String
    ) -> CheckResult {
        var result = CheckResult(check: AutodiscoverCheck.name, status: .pass, summary: "")
        var match: Bool?
        var found: (external: String?, internal: String?) = (nil, nil)
        switch ending {
        case .settings(let answer, let url):
            found = (answer.externalEwsURL, answer.internalEwsURL)
            let inside = answer.internalEwsURL.map { "; internal (EXCH) \(shown($0))" } ?? ""
            if let external = answer.externalEwsURL {
                match = EwsURLComparison.same(external, configured)
                if match == true {
                    result.summary = "\(url) hands out \(shown(external)) for \(address), the configured URL\(inside)"
                } else {
                    result.status = .fail
                    result.reason = "ews_url_mismatch"
                    result.summary =
                        "Autodiscover hands out \(shown(external)) for \(address), not the configured \(configured)\(inside)"
                }
            } else if let internalURL = answer.internalEwsURL {
                result.status = .warn
                result.reason = "external_ews_url_missing"
                result.summary = "\(url) publishes only an internal (EXCH) EWS URL, \(shown(internalURL)), for \(address)"
            } else {
                result.status = .fail
                result.reason = "invalid_response"
                result.summary = "\(url) answers settings without an EWS URL for \(address)"
            }
        case .authenticationRequired(let url, let withheld):
            let why = withheld.map { "the credentials were not sent: \($0)" } ?? "configure username and password to compare it"
            result.summary =
                "\(shown(url)) asks for credentials on a verified certificate: Autodiscover is there; the EWS URL was not compared (\(why))"
        case .failure(let reason, let summary):
            result.status = .fail
            result.reason = reason
            result.summary = summary
        }
        result.trace = attempts.map(\.line)
        // Without -v the candidates show when something is wrong, as the analyzer lists them.
        if result.status != .pass { result.notes = attempts.map { "  \($0.line)" } }
        result.durationSeconds = seconds
        result.measurements = measurements(
            attempts, match: match, external: found.external.map(shown), success: result.status != .fail, seconds: seconds,
            shown: shown)
        if includeDetails { result.details = details(attempts, address: address, found: found, match: match) }
        return result
    }

    static func measurements(
        _ attempts: [AutodiscoverAttempt], match: Bool?, external: String?, success: Bool, seconds: Double, shown: (String) -> String
    ) -> [Measurement] {
        var out = [
            Measurement("ewsprobe_autodiscover_success", success ? 1 : 0, help: "Whether Autodiscover handed out the configured EWS URL."),
            Measurement("ewsprobe_autodiscover_seconds", seconds, help: "Time the whole Autodiscover walk took."),
        ]
        var seen: Set<String> = []
        for attempt in attempts.prefix(maxCandidateSeries) {
            let url = shown(attempt.url)
            guard seen.insert("\(attempt.candidate.rawValue) \(url)").inserted else { continue }
            let answered: Bool
            switch attempt.outcome {
            case .answered, .authenticationRequired, .rejected: answered = true
            default: answered = false
            }
            out.append(
                Measurement(
                    "ewsprobe_autodiscover_candidate_info", answered ? 1 : 0,
                    help: "Each Autodiscover candidate tried: 1 when it answered as Autodiscover, 0 when it did not.",
                    labels: [("candidate", attempt.candidate.rawValue), ("url", url)]))
        }
        if let match {
            out.append(
                Measurement(
                    "ewsprobe_autodiscover_ews_url_match", match ? 1 : 0,
                    help: "Whether the external EWS URL Autodiscover hands out is the configured one."))
        }
        if let external {
            out.append(
                Measurement(
                    "ewsprobe_autodiscover_ews_url_info", 1, help: "The external EWS URL Autodiscover hands out; the value is always 1.",
                    labels: [("url", external)]))
        }
        return out
    }

    static func details(
        _ attempts: [AutodiscoverAttempt], address: String, found: (external: String?, internal: String?), match: Bool?
    ) -> [(String, JSONValue)] {
        [
            ("address", .string(address)),
            ("ews_url", found.external.map { .string($0) } ?? .null),
            ("internal_ews_url", found.internal.map { .string($0) } ?? .null),
            ("ews_url_match", match.map { .bool($0) } ?? .null),
            (
                "candidates",
                .array(
                    attempts.map { attempt in
                        .object([
                            ("candidate", .string(attempt.candidate.rawValue)), ("url", .string(attempt.url)),
                            ("address", .string(attempt.address)), ("resolved", .string(attempt.resolved)),
                            ("status", attempt.status.map { .number(Double($0)) } ?? .null), ("seconds", .number(attempt.seconds)),
                            ("outcome", .string(attempt.line)),
                        ])
                    })
            ),
        ]
    }
}
