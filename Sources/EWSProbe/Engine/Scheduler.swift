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
        let running = RunningSet(count: config.targets.count)
        // One dispatcher sleeps until the next due run and hands it to a child task: 10,000
        // targets cost 10,000 queue entries, not 10,000 sleeping tasks with their timers.
        var queue = DueQueue()
        let start = ContinuousClock.now
        for (index, target) in config.targets.enumerated() {
            queue.push(start + Scheduler.offset(for: target.name, interval: target.interval), index)
        }
        await withDiscardingTaskGroup { group in
            while let (due, index) = queue.popFirst() {
                do {
                    try await Task.sleep(until: due, clock: .continuous)
                } catch {
                    return
                }
                let target = config.targets[index]
                queue.push(due + target.interval, index)
                // Still running from an earlier schedule: this run is skipped, not queued behind it.
                guard running.start(index) else {
                    metrics.runsSkipped(1)
                    continue
                }
                group.addTask {
                    await limiter.acquire()
                    defer {
                        limiter.release()
                        running.finish(index)
                    }
                    if Task.isCancelled { return }
                    await runOnce(target, due: due)
                }
            }
        }
    }

    /// Where in its interval a target's runs fall, the same on every start.
    public static func offset(for name: String, interval: Duration) -> Duration {
        let ms = max(1, interval.milliseconds)
        return .milliseconds(Int64(StableHash.fnv1a(name) % UInt64(ms)))
    }

    private func runOnce(_ target: TargetConfig, due: ContinuousClock.Instant) async {
        let lag = (ContinuousClock.now - due).seconds
        metrics.probeStarted(lagSeconds: lag)
        let report = await runWithTimeout(target)
        metrics.probeFinished(report)
        if Task.isCancelled { return }
        let previous = store.target(named: target.name)?.latest?.status
        store.record(report, lagSeconds: lag)
        if report.status != previous {
            // Log state changes only: a target that stays broken does not flood the log.
            let failing = report.checks.filter { $0.status == .fail || $0.status == .warn }
                .map { "\($0.check)=\($0.reason ?? $0.status.rawValue)" }.joined(separator: " ")
            logger.log(
                level: report.status == .fail ? .warning : .info, "target \(target.name) is \(report.status.rawValue)",
                metadata: failing.isEmpty ? [:] : ["checks": .string(failing)])
        }
    }

    /// The runner honours the deadline itself; this is the backstop for anything that does not:
    /// past `timeout` + 1 s the run is cancelled and reported as `probe_timeout` at once.
    public func runWithTimeout(_ target: TargetConfig) async -> ProbeReport {
        let startedAt = Date().timeIntervalSince1970
        let hardLimit = target.timeout + .seconds(1)
        let run = GuardedRun()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                run.start(continuation, deadline: .now + hardLimit) { [runner] in
                    await runner.run(target)
                } overrun: {
                    ProbeReport(
                        targetName: target.name, url: target.url.description, startedAt: startedAt,
                        durationSeconds: hardLimit.seconds,
                        checks: [
                            CheckResult(
                                check: "probe", status: .fail, reason: "probe_timeout",
                                summary: "the run did not finish within the timeout (\(DurationText.format(target.timeout)))")
                        ], timedOut: true)
                }
            }
        } onCancel: {
            run.cancel()
        }
    }
}

/// Which targets have a run pending or in progress.
final class RunningSet: Sendable {
    private let flags: Mutex<[Bool]>

    init(count: Int) { flags = Mutex([Bool](repeating: false, count: count)) }

    /// Marks the target running; false when it already was.
    func start(_ index: Int) -> Bool {
        flags.withLock { flags in
            if flags[index] { return false }
            flags[index] = true
            return true
        }
    }

    func finish(_ index: Int) { flags.withLock { $0[index] = false } }
}

/// A binary min-heap of (due time, target index): the dispatcher's schedule.
struct DueQueue {
    private var heap: [(due: ContinuousClock.Instant, index: Int)] = []

    mutating func push(_ due: ContinuousClock.Instant, _ index: Int) {
        heap.append((due, index))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].due < heap[parent].due else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> (ContinuousClock.Instant, Int)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].due < heap[smallest].due { smallest = left }
            if right < heap.count, heap[right].due < heap[smallest].due { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (first.due, first.index)
    }
}
