import EWSProbeCore
import EWSProbeTransport

/// The `tcp` result from every address's connect: one unreachable address of several fails
/// (or warns, with `partial_failure: warn`); all of them down is a fail.
struct TCPReport {
    var partialFailure: TCPCheck.PartialFailure

    func render(
        _ attempts: [TCPAttempt], port: Int, durationSeconds: Double, proxy: ProxySettings? = nil, origin: String = ""
    ) -> CheckResult {
        if let proxy { return renderTunnels(attempts, proxy: proxy, origin: origin, durationSeconds: durationSeconds) }
        var result = CheckResult(check: TCPCheck.name, status: .pass, summary: "", durationSeconds: durationSeconds)
        for attempt in attempts {
            let endpoint = IPAddress.endpoint(attempt.address, port)
            result.measurements.append(
                Measurement(
                    "ewsprobe_tcp_connect_success", attempt.failure == nil ? 1 : 0,
                    help: "Whether a TCP connection to this address succeeded.", labels: [("address", attempt.address)]))
            if attempt.failure == nil {
                result.measurements.append(
                    Measurement(
                        "ewsprobe_tcp_connect_seconds", attempt.seconds, help: "Time the TCP connect to this address took.",
                        labels: [("address", attempt.address)]))
                result.trace.append("connect \(endpoint): ok in \(TCPCheck.ms(attempt.seconds))")
            } else {
                result.trace.append("connect \(endpoint): \(attempt.reason!) (\(attempt.failure!.message))")
            }
        }
        result.details = [
            ("port", .int(port)),
            (
                "addresses",
                .array(
                    attempts.map { attempt in
                        var pairs: [(String, JSONValue)] = [
                            ("address", .string(attempt.address)),
                            ("status", .string(attempt.failure == nil ? "pass" : "fail")),
                            ("connect_seconds", .number(attempt.seconds)),
                        ]
                        if let reason = attempt.reason {
                            pairs.append(("reason", .string(reason)))
                            pairs.append(("error", .string(attempt.failure!.message)))
                        }
                        return .object(pairs)
                    })
            ),
        ]
        let failed = attempts.filter { $0.failure != nil }
        if failed.isEmpty {
            let slowest = attempts.map(\.seconds).max() ?? 0
            result.summary =
                attempts.count == 1
                ? "port \(port) open on \(attempts[0].address) (\(TCPCheck.ms(slowest)))"
                : "port \(port) open on all \(attempts.count) addresses (slowest \(TCPCheck.ms(slowest)))"
            return result
        }
        result.reason = failed[0].reason
        let names = failed.map { "\($0.address) \($0.reason!)" }.joined(separator: ", ")
        if failed.count == attempts.count {
            result.status = .fail
            result.summary =
                attempts.count == 1
                ? "cannot connect to port \(port) on \(names)"
                : "port \(port) unreachable on every address: \(names)"
        } else {
            result.status = partialFailure == .fail ? .fail : .warn
            result.summary = "port \(port) unreachable on \(failed.count) of \(attempts.count) addresses: \(names)"
        }
        return result
    }

    /// Through a proxy: each of the proxy's addresses, its connect and the CONNECT tunnel to the
    /// origin, with the proxy's status and time as metrics.
    func renderTunnels(_ attempts: [TCPAttempt], proxy: ProxySettings, origin: String, durationSeconds: Double) -> CheckResult {
        var result = render(attempts, port: proxy.port, durationSeconds: durationSeconds)
        for attempt in attempts {
            let labels = [("address", attempt.address)]
            result.measurements.append(
                Measurement(
                    "ewsprobe_proxy_tunnel_status_code", Double(attempt.proxy?.status ?? 0),
                    help: "The proxy's status answering CONNECT (0: no answer).", labels: labels))
            if let seconds = attempt.proxy?.tunnelSeconds {
                result.measurements.append(
                    Measurement(
                        "ewsprobe_proxy_connect_seconds", seconds, help: "Time until the proxy's CONNECT tunnel was open.",
                        labels: labels))
            }
            let endpoint = IPAddress.endpoint(attempt.address, proxy.port)
            let said = attempt.proxy?.status.map { "CONNECT \(origin): \($0)" } ?? "CONNECT \(origin): no answer"
            let offered = attempt.proxy?.offeredSchemes ?? []
            result.trace.append(
                "proxy \(endpoint): \(said)" + (offered.isEmpty ? "" : " (offers \(offered.joined(separator: ", ")))")
                    + (attempt.proxy?.schemeUsed.map { ", sent \($0)" } ?? ""))
        }
        if case .array(let rows) = result.details.first(where: { $0.0 == "addresses" })?.1 {
            let proxied: [JSONValue] = zip(rows, attempts).map { row, attempt in
                guard case .object(var pairs) = row else { return row }
                pairs.append(("tunnel_status", .int(attempt.proxy?.status ?? 0)))
                pairs.append(("proxy_auth_offered", .array((attempt.proxy?.offeredSchemes ?? []).map { .string($0) })))
                return .object(pairs)
            }
            result.details = result.details.map { $0.0 == "addresses" ? ($0.0, .array(proxied)) : $0 }
        }
        result.details.append(("proxy", .string(IPAddress.endpoint(proxy.host, proxy.port))))
        result.details.append(("endpoint", .string(origin)))
        let failed = attempts.filter { $0.failure != nil }
        let via = "the proxy \(proxy.host):\(proxy.port)"
        guard let first = failed.first, let reason = first.reason else {
            let slowest = attempts.compactMap { $0.proxy?.tunnelSeconds }.max() ?? 0
            result.summary = "tunnel to \(origin) open through \(via) (\(TCPCheck.ms(slowest)))"
            return result
        }
        let status = first.proxy?.status.map(String.init) ?? "none"
        let offered = first.proxy?.offeredSchemes.joined(separator: ", ") ?? ""
        let problem: String
        switch reason {
        case "proxy_unreachable": problem = "no connection to \(via): \(first.failure!.message)"
        case "proxy_auth_required":
            problem =
                "\(via) requires authentication (offers \(offered.isEmpty ? "no scheme" : offered)); configure proxy username and password_file"
        case "proxy_auth_rejected":
            let sent = first.proxy?.schemeUsed.map { "\($0) credentials" } ?? "the credentials"
            problem =
                first.proxy?.offersNoKnownScheme == true
                ? "\(via) asks for authentication ewsprobe does not speak (offers \(offered)): no credentials were sent"
                : "\(via) answered 407 to \(sent) (offers \(offered.isEmpty ? "no scheme" : offered))"
        case "proxy_denied": problem = "\(via) refuses CONNECT to \(origin) (403: its access rules)"
        default: problem = "\(via) did not open a tunnel to \(origin) (status \(status)): \(first.failure!.message)"
        }
        result.reason = reason
        result.summary =
            failed.count == attempts.count || attempts.count == 1
            ? problem : "\(problem) (\(failed.count) of \(attempts.count) proxy addresses)"
        return result
    }
}
