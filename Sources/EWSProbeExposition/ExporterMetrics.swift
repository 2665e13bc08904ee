import EWSProbeCore
import EWSProbeTransport
import Foundation
import Prometheus

/// The exporter's own metrics, kept across scrapes in a swift-prometheus registry: build info,
/// configuration reloads, scheduler lag, probes in flight, probe durations per check.
public final class ExporterMetrics: SchedulerObserver {

    public let registry = PrometheusCollectorRegistry()
    private let lag: ValueHistogram
    private let inFlight: Gauge
    private let skipped: Counter
    private let reloadSuccess: Gauge
    private let reloadTimestamp: Gauge

    public init() {
        let build = registry.gauge(
            "ewsprobe_build_info", [("version", BuildInfo.version)],
            help: "Build information of the running ewsprobe; the value is always 1.")
        build.value(1)
        lag = registry.histogram(
            "ewsprobe_scheduler_lag_seconds", [],
            buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
            help: "How late probe runs started compared with their schedule.")
        inFlight = registry.gauge("ewsprobe_probes_in_flight", help: "Probe runs executing now.")
        skipped = registry.counter(
            "ewsprobe_scheduler_skipped_runs_total",
            help: "Scheduled runs skipped because the previous run of the same target ended after their start time.")
        reloadSuccess = registry.gauge(
            "ewsprobe_config_last_reload_successful", help: "Whether the last configuration load succeeded (1) or was refused (0).")
        reloadTimestamp = registry.gauge(
            "ewsprobe_config_last_reload_success_timestamp_seconds", help: "When the configuration was last loaded successfully.")
    }

    /// The revocation cache's fetches and size, from the cache's own events.
    public func watch(_ cache: RevocationCache) {
        let entries = registry.gauge(
            "ewsprobe_revocation_cache_entries", help: "CRLs and OCSP answers held for every target (until their nextUpdate).")
        entries.value(Double(cache.count))
        let registry = self.registry
        cache.observe { event in
            switch event {
            case .entries(let count): entries.value(Double(count))
            case .fetched(let source, let seconds):
                registry.histogram(
                    "ewsprobe_revocation_fetch_seconds", [("source", source)],
                    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
                    help: "How long CRL and OCSP fetches took (each fetched once for every target that needs it)."
                ).record(seconds)
            }
        }
    }

    /// This instance's shard: `ewsprobe_shard_index` of `ewsprobe_shards` (0 until a
    /// StatefulSet pod has counted its peers).
    public func shardAssigned(index: Int, count: Int) {
        registry.gauge("ewsprobe_shard_index", help: "Which shard of the fleet this instance probes (0-based).").value(Double(index))
        registry.gauge("ewsprobe_shards", help: "How many shards the fleet is split into (0: not known yet).").value(Double(count))
    }

    public func configLoaded(success: Bool) {
        reloadSuccess.value(success ? 1 : 0)
        if success { reloadTimestamp.value(Date().timeIntervalSince1970) }
    }

    public func probeStarted(lagSeconds: Double) {
        lag.record(max(0, lagSeconds))
        inFlight.increment()
    }

    public func runsSkipped(_ count: Int) {
        skipped.increment(by: Int64(count))
    }

    public func probeFinished(_ report: ProbeReport) {
        inFlight.decrement()
        // A verdict carried from an earlier run (check_intervals) took no time in this one.
        for check in report.checks
        where !check.measurements.contains(where: { $0.name == "ewsprobe_check_result_age_seconds" && $0.value > 0 }) {
            registry.histogram(
                "ewsprobe_check_run_duration_seconds", [("check", check.check)],
                buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
                help: "Distribution of check durations over all targets."
            ).record(check.durationSeconds)
        }
    }
}
