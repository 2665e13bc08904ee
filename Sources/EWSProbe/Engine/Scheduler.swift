import Foundation
import Logging

/// Runs every target on its own interval until cancelled. First runs are spread over each
/// target's interval by a stable hash of its name (no thundering herd after a restart), at most
/// `maxConcurrency` probes run at once, and each run is cut off at the target's timeout.
public struct Scheduler: Sendable {
    public var config: ProbeConfig
    public var store: ResultStore
    public var runner: ProbeRunner
    public var metrics: ExporterMetrics
    public var logger: Logger

    public init(config: ProbeConfig, store: ResultStore, runner: ProbeRunner = ProbeRunner(), metrics: ExporterMetrics, logger: Logger) {
        self.config = config
        self.store = store
        self.runner = runner
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async {
        store.setTargets(config.targets)
        let limiter = ConcurrencyLimiter(limit: config.global.maxConcurrency)
        let start = ContinuousClock.now
        await withDiscardingTaskGroup { group in
            for target in config.targets {
                group.addTask { await loop(target, limiter: limiter, start: start) }
            }
        }
    }

    /// Where in its interval a target's runs fall, the same on every start.
    public static func offset(for name: String, interval: Duration) -> Duration {
        let ms = max(1, interval.milliseconds)
        return .milliseconds(Int64(StableHash.fnv1a(name) % UInt64(ms)))
    }

    private func loop(_ target: TargetConfig, limiter: ConcurrencyLimiter, start: ContinuousClock.Instant) async {
        var next = start + Scheduler.offset(for: target.name, interval: target.interval)
        var lastStatus: CheckStatus?
        while !Task.isCancelled {
            do {
                try await Task.sleep(until: next, clock: .continuous)
            } catch {
                return
            }
            await limiter.acquire()
            let lag = (ContinuousClock.now - next).seconds
            metrics.probeStarted(lagSeconds: lag)
            let report = await runWithTimeout(target)
            limiter.release()
            if Task.isCancelled { return }
            store.record(report, lagSeconds: lag)
            metrics.probeFinished(report)
            if report.status != lastStatus {
                // Log state changes only: a target that stays broken does not flood the log.
                let failing = report.checks.filter { $0.status == .fail || $0.status == .warn }
                    .map { "\($0.check)=\($0.reason ?? $0.status.rawValue)" }.joined(separator: " ")
                logger.log(
                    level: report.status == .fail ? .warning : .info, "target \(target.name) is \(report.status.rawValue)",
                    metadata: failing.isEmpty ? [:] : ["checks": .string(failing)])
                lastStatus = report.status
            }
            next += target.interval
            let now = ContinuousClock.now
            if next < now {
                // Missed whole intervals (a long stall): skip them rather than run a burst.
                let behind = Int(((now - next).seconds / target.interval.seconds).rounded(.up))
                next += target.interval * behind
                metrics.runsSkipped(behind)
            }
        }
    }

    /// The runner honours the deadline itself; this is the backstop for anything that does not.
    public func runWithTimeout(_ target: TargetConfig) async -> ProbeReport {
        let startedAt = Date().timeIntervalSince1970
        let hardLimit = target.timeout + .seconds(1)
        return await withTaskGroup(of: ProbeReport?.self) { group in
            group.addTask { await runner.run(target) }
            group.addTask {
                try? await Task.sleep(for: hardLimit)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            if let first { return first }
            return ProbeReport(
                targetName: target.name, url: target.url.description, startedAt: startedAt,
                durationSeconds: hardLimit.seconds,
                checks: [
                    CheckResult(
                        check: "probe", status: .fail, reason: "probe_timeout",
                        summary: "the run did not finish within the timeout (\(DurationText.format(target.timeout)))")
                ], timedOut: true)
        }
    }
}
