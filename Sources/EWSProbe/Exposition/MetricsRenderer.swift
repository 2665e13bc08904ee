import Prometheus

/// Renders the result store as Prometheus text. A scrape only reads the store; it never runs a probe.
/// Renders the result store as Prometheus text. A scrape only reads the store; it never runs a
/// probe. Results are written straight to text: building a swift-prometheus registry per scrape
/// cost about 2 ms per target (1.9 s for 1,000 targets, measured); the exporter's own metrics
/// keep their persistent swift-prometheus registry.
public enum MetricsRenderer {
    public static func render(store: ResultStore, metrics: ExporterMetrics) -> String {
        var text = TextExposition()
        for state in store.snapshot() {
            add(state, to: &text)
        }
        return metrics.registry.emitToString() + text.output()
    }

    /// The series of one report (the `/probe` endpoint's answer).
    public static func render(report: ProbeReport, target: TargetConfig) -> String {
        var text = TextExposition()
        add(ResultStore.TargetState(target: target, latest: report, runs: 1, failedRuns: report.status == .fail ? 1 : 0), to: &text)
        return text.output()
    }

    static func add(_ state: ResultStore.TargetState, to text: inout TextExposition) {
        let target = state.target
        let name = ("target", target.name)
        text.add(
            "ewsprobe_target_info", [name, ("url", target.url.description), ("module", target.module.name)] + target.labels, 1,
            help: "Configured targets with their URL, module and user labels; the value is always 1.")
        text.add("ewsprobe_target_interval_seconds", [name], target.interval.seconds, help: "The target's configured run interval.")
        text.add("ewsprobe_probe_runs_total", [name], Double(state.runs), help: "Probe runs of the target.", type: "counter")
        text.add(
            "ewsprobe_probe_failures_total", [name], Double(state.failedRuns), help: "Probe runs of the target with a failed check.",
            type: "counter")
        guard let report = state.latest else { return }
        text.add("ewsprobe_probe_success", [name], report.status == .fail ? 0 : 1, help: "Whether no check of the last run failed.")
        text.add("ewsprobe_probe_duration_seconds", [name], report.durationSeconds, help: "How long the last run took.")
        text.add("ewsprobe_probe_last_run_timestamp_seconds", [name], report.startedAt, help: "When the last run started.")
        for check in report.checks {
            let labels = [name, ("check", check.check)]
            if check.status != .skip {
                text.add(
                    "ewsprobe_check_success", labels, check.status == .fail ? 0 : 1,
                    help: "Whether the check passed (warnings count as passed).")
            }
            text.add("ewsprobe_check_warning", labels, check.status == .warn ? 1 : 0, help: "Whether the check ended with a warning.")
            text.add("ewsprobe_check_duration_seconds", labels, check.durationSeconds, help: "How long the check took in the last run.")
            if let reason = check.reason {
                text.add(
                    "ewsprobe_check_failure_info", labels + [("status", check.status.rawValue), ("reason", reason)], 1,
                    help: "Why the check did not pass: its status and stable reason code; the value is always 1.")
            }
            for measurement in check.measurements {
                text.add(measurement.name, [name] + measurement.labels, measurement.value, help: measurement.help)
            }
        }
    }
}

/// Prometheus text exposition built family by family: HELP and TYPE once, then every series of
/// the family together, in first-seen order.
struct TextExposition {
    private var order: [String] = []
    private var families: [String: (help: String, type: String, lines: String)] = [:]

    mutating func add(_ name: String, _ labels: [(String, String)], _ value: Double, help: String, type: String = "gauge") {
        var line = name
        if !labels.isEmpty {
            line += "{"
            for (index, (key, labelValue)) in labels.enumerated() {
                if index > 0 { line += "," }
                line += key
                line += "=\""
                Self.escape(labelValue, into: &line)
                line += "\""
            }
            line += "}"
        }
        line += " "
        line += Self.format(value)
        line += "\n"
        if families[name] == nil {
            order.append(name)
            families[name] = (help, type, "")
        }
        families[name]!.lines += line
    }

    func output() -> String {
        var out = ""
        for name in order {
            let family = families[name]!
            out += "# HELP \(name) \(family.help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: " "))\n"
            out += "# TYPE \(name) \(family.type)\n"
            out += family.lines
        }
        return out
    }

    static func escape(_ value: String, into out: inout String) {
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
