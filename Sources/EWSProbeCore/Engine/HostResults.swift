/// One check's results on each host of a connector, as one result: the worst status and its
/// reason, each host's summary and trace under its name, each measurement labelled with its host.
extension CheckResult {
    public static func combining(hosts runs: [(host: String, result: CheckResult)]) -> CheckResult {
        guard let first = runs.first?.result else { return CheckResult(check: "", status: .skip, summary: "") }
        var combined = CheckResult(check: first.check, status: .skip, summary: "")
        var worst: CheckResult?
        for (host, result) in runs {
            if worst == nil || result.status.severity > worst!.status.severity { worst = result }
            combined.status = combined.status.worse(result.status)
            combined.durationSeconds += result.durationSeconds
            combined.trace += result.trace.map { "[\(host)] \($0)" }
            combined.notes += result.notes.map { "[\(host)] \($0)" }
            combined.measurements += result.measurements.map { measurement in
                var labelled = measurement
                labelled.labels.insert(("host", host), at: 0)
                return labelled
            }
            combined.details.append((host, .object(result.details)))
        }
        combined.reason = worst?.reason
        combined.summary = runs.map { "\($0.host): \($0.result.summary)" }.joined(separator: "; ")
        combined.details = [("hosts", .object(combined.details))]
        return combined
    }
}
