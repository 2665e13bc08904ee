import Prometheus

/// Renders the result store as Prometheus text. A scrape only reads the store; it never runs a probe.
public enum MetricsRenderer {
    public static func render(store: ResultStore, metrics: ExporterMetrics) -> String {
        let registry = PrometheusCollectorRegistry()
        for state in store.snapshot() {
            add(state, to: registry)
        }
        return metrics.registry.emitToString() + registry.emitToString()
    }

    /// The series of one report (the `/probe` endpoint's answer).
    public static func render(report: ProbeReport, target: TargetConfig) -> String {
        let registry = PrometheusCollectorRegistry()
        add(ResultStore.TargetState(target: target, latest: report, runs: 1, failedRuns: report.status == .fail ? 1 : 0), to: registry)
        return registry.emitToString()
    }

    static func add(_ state: ResultStore.TargetState, to registry: PrometheusCollectorRegistry) {
        let target = state.target
        let name = ("target", target.name)
        registry.gauge(
            "ewsprobe_target_info",
            [name, ("url", target.url.description), ("module", target.module.name)] + target.labels,
            help: "Configured targets with their URL, module and user labels; the value is always 1."
        ).value(1)
        registry.gauge("ewsprobe_target_interval_seconds", [name], help: "The target's configured run interval.")
            .value(target.interval.seconds)
        registry.counter("ewsprobe_probe_runs_total", [name], help: "Probe runs of the target.")
            .increment(by: Int64(state.runs))
        registry.counter("ewsprobe_probe_failures_total", [name], help: "Probe runs of the target with a failed check.")
            .increment(by: Int64(state.failedRuns))
        guard let report = state.latest else { return }
        registry.gauge("ewsprobe_probe_success", [name], help: "Whether no check of the last run failed.")
            .value(report.status == .fail ? 0 : 1)
        registry.gauge("ewsprobe_probe_duration_seconds", [name], help: "How long the last run took.")
            .value(report.durationSeconds)
        registry.gauge(
            "ewsprobe_probe_last_run_timestamp_seconds", [name], help: "When the last run started."
        ).value(report.startedAt)

        var helps: [String: String] = [:]
        for check in report.checks {
            let labels = [name, ("check", check.check)]
            if check.status != .skip {
                registry.gauge("ewsprobe_check_success", labels, help: "Whether the check passed (warnings count as passed).")
                    .value(check.status == .fail ? 0 : 1)
            }
            registry.gauge("ewsprobe_check_warning", labels, help: "Whether the check ended with a warning.")
                .value(check.status == .warn ? 1 : 0)
            registry.gauge("ewsprobe_check_duration_seconds", labels, help: "How long the check took in the last run.")
                .value(check.durationSeconds)
            if let reason = check.reason {
                registry.gauge(
                    "ewsprobe_check_failure_info", labels + [("status", check.status.rawValue), ("reason", reason)],
                    help: "Why the check did not pass: its status and stable reason code; the value is always 1."
                ).value(1)
            }
            for measurement in check.measurements {
                // One help text per family: the registry refuses a second one.
                let help = helps[measurement.name] ?? measurement.help
                helps[measurement.name] = help
                registry.gauge(measurement.name, [name] + measurement.labels, help: help).value(measurement.value)
            }
        }
    }
}
