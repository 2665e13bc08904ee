import EWSProbeCore
import EWSProbeTransport

/// The `tcp` result from every address's connect: one unreachable address of several fails
/// (or warns, with `partial_failure: warn`); all of them down is a fail.
struct TCPReport {
    var partialFailure: TCPCheck.PartialFailure

    func render(_ attempts: [TCPAttempt], port: Int, durationSeconds: Double) -> CheckResult {
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
}
