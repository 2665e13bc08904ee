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
        let inFlight = RunsInFlight(count: config.targets.count)
        // Stored reports keep no JSON details, so scheduled runs do not build them.
        let scheduled = ProbeRunner(transport: runner.transport, includeDetails: false)
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
            await dispatcher.run(queue, interval: { targets[$0].interval }) { due, index in
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
                    let lag = (ContinuousClock.now - due).seconds
                    metrics.probeStarted(lagSeconds: lag)
                    await runGuarded(run, target, runner: scheduled) { report in
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

    /// The runner honours the deadline itself; this is the backstop for anything that does not:
    /// past `timeout` + 1 s the run is cancelled and reported as `probe_timeout` at once.
    public func runWithTimeout(_ target: TargetConfig) async -> ProbeReport {
        let run = GuardedRun()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                run.start { run in
                    await runGuarded(run, target, runner: runner) { continuation.resume(returning: $0) }
                }
            }
        } onCancel: {
            run.cancel()
        }
    }

    /// Runs the target within its run's task under the backstop: `completion` gets the runner's
    /// report, or a `probe_timeout` report once `timeout` + 1 s has passed first.
    private func runGuarded(
        _ run: GuardedRun, _ target: TargetConfig, runner: ProbeRunner, completion: @escaping @Sendable (ProbeReport) -> Void
    ) async {
        let startedAt = Date().timeIntervalSince1970
        let hardLimit = target.timeout + .seconds(1)
        run.arm(
            at: .now + hardLimit,
            overrun: {
                ProbeReport(
                    targetName: target.name, url: target.url.description, startedAt: startedAt,
                    durationSeconds: hardLimit.seconds,
                    checks: [
                        CheckResult(
                            check: "probe", status: .fail, reason: "probe_timeout",
                            summary: "the run did not finish within the timeout (\(DurationText.format(target.timeout)))")
                    ], timedOut: true)
            }, completion: completion)
        run.finish(await runner.run(target))
    }
}

/// The scheduler's runs in progress, one slot per target. A target whose run is still going
/// skips its next; when the scheduler stops, every run is cancelled and awaited briefly.
final class RunsInFlight: Sendable {
    private struct State {
        var runs: [GuardedRun?]
        var count = 0
        var stopping = false
        var drained: CheckedContinuation<Void, Never>?
    }
    private let state: Mutex<State>

    init(count: Int) { state = Mutex(State(runs: [GuardedRun?](repeating: nil, count: count))) }

    /// A new run of the target; nil while one is in flight or once stopping.
    func start(_ index: Int) -> GuardedRun? {
        state.withLock { state in
            guard state.runs[index] == nil, !state.stopping else { return nil }
            let run = GuardedRun()
            state.runs[index] = run
            state.count += 1
            return run
        }
    }

    var stopping: Bool { state.withLock { $0.stopping } }

    func finish(_ index: Int) {
        let drained = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.runs[index] != nil else { return nil }
            state.runs[index] = nil
            state.count -= 1
            guard state.count == 0 else { return nil }
            defer { state.drained = nil }
            return state.drained
        }
        drained?.resume()
    }

    /// Cancels every run in flight and returns when all have finished, or after `grace`: a
    /// stop cancels, it does not wait for work that ignores cancellation (nothing it would
    /// still record is kept: `stopping` is set).
    func cancelAll(grace: Duration = .milliseconds(500)) async {
        await withCheckedContinuation { continuation in
            let runs = state.withLock { state -> [GuardedRun]? in
                state.stopping = true
                guard state.count > 0 else { return nil }
                state.drained = continuation
                return state.runs.compactMap { $0 }
            }
            guard let runs else { return continuation.resume() }
            runs.forEach { $0.cancel() }
            Task {
                try? await Task.sleep(for: grace)
                self.abandonWaiting()
            }
        }
    }

    private func abandonWaiting() {
        state.withLock { state in
            defer { state.drained = nil }
            return state.drained
        }?.resume()
    }
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
