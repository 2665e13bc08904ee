import Foundation
import Logging
import Synchronization

/// Runs every target on its own interval until cancelled. First runs are spread over each
/// target's interval by a stable hash of its name (no thundering herd after a restart), at most
/// `maxConcurrency` probes run at once, and each run is cut off at the target's timeout.
public struct Scheduler: Sendable {
    public var config: ProbeConfig
    public var store: ResultStore
    public var runner: ProbeRunner
    public var metrics: any SchedulerObserver
    public var logger: Logger

    public init(config: ProbeConfig, store: ResultStore, runner: ProbeRunner, metrics: any SchedulerObserver, logger: Logger) {
        self.config = config
        self.store = store
        self.runner = runner
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async {
        store.setTargets(config.targets)
        let limiter = ConcurrencyLimiter(limit: config.global.maxConcurrency)
        let inFlight = RunsInFlight(count: config.targets.count, watchdog: runner.runtime.watchdog)
        // Stored reports keep no JSON details, so scheduled runs do not build them.
        let scheduled = ProbeRunner(runtime: runner.runtime, includeDetails: false, reuseRecentResults: true)
        // One dispatcher sleeps until the next due run and starts it: 10,000 targets cost 10,000
        // queue entries, not 10,000 sleeping tasks with their timers.
        var queue = DueQueue()
        let start = ContinuousClock.now
        for (index, target) in config.targets.enumerated() {
            queue.push(start + Scheduler.offset(for: target.name, interval: target.interval), index)
        }
        let targets = config.targets
        let dispatcher = Dispatcher()
        await withTaskCancellationHandler {
            await dispatcher.run(queue, wave: Scheduler.wave(for: targets), origin: start, interval: { targets[$0].interval }) {
                wave, index in
                let target = targets[index]
                // Still running from an earlier schedule: this run is skipped, not queued behind it.
                guard let run = inFlight.start(index) else {
                    metrics.runsSkipped(1)
                    return
                }
                run.start { run in
                    await limiter.acquire()
                    guard !Task.isCancelled else {
                        limiter.release()
                        inFlight.finish(index)
                        return
                    }
                    let lag = (ContinuousClock.now - wave).seconds
                    metrics.probeStarted(lagSeconds: lag)
                    await GuardedProbe(runner: scheduled).run(target, in: run) { report in
                        limiter.release()
                        complete(target, report, lagSeconds: lag, recorded: !inFlight.stopping)
                        inFlight.finish(index)
                    }
                }
            }
        } onCancel: {
            dispatcher.stop()
        }
        // Stopping: the runs in flight are cancelled and end (quickly) before the scheduler does.
        await inFlight.cancelAll()
    }

    /// Runs start in waves (see `Dispatcher.run`) of about 32 runs: enough for the CPU to stay
    /// warm through a wave, few enough that the runs in flight at once, and the memory they hold,
    /// stay bounded (10,000 targets at 60 s: 192 ms). At most 500 ms, so a run waits at most that
    /// long past its due time (0.8 % of a 60 s interval), and at most half the shortest interval,
    /// so no target comes due twice in one.
    static func wave(for targets: [TargetConfig]) -> Duration {
        let runsPerSecond = targets.reduce(0.0) { $0 + ($1.interval > .zero ? 1 / $1.interval.seconds : 0) }
        let shortest = targets.lazy.map(\.interval).min() ?? .zero
        let bounded = runsPerSecond > 0 ? Duration.milliseconds(Int64((32_000 / runsPerSecond).rounded())) : .milliseconds(500)
        return min(.milliseconds(500), shortest / 2, bounded)
    }

    /// Where in its interval a target's runs fall, the same on every start.
    public static func offset(for name: String, interval: Duration) -> Duration {
        let ms = max(1, interval.milliseconds)
        return .milliseconds(Int64(StableHash.fnv1a(name) % UInt64(ms)))
    }

    private func complete(_ target: TargetConfig, _ report: ProbeReport, lagSeconds: Double, recorded: Bool) {
        metrics.probeFinished(report)
        guard recorded else { return }
        let previous = store.latestStatus(named: target.name)
        store.record(report, lagSeconds: lagSeconds)
        if report.status != previous {
            // Log state changes only: a target that stays broken does not flood the log.
            let failing = report.checks.filter { $0.status == .fail || $0.status == .warn }
                .map { "\($0.check)=\($0.reason ?? $0.status.rawValue)" }.joined(separator: " ")
            logger.log(
                level: report.status == .fail ? .warning : .info, "target \(target.name) is \(report.status.rawValue)",
                metadata: failing.isEmpty ? [:] : ["checks": .string(failing)])
        }
    }
}
