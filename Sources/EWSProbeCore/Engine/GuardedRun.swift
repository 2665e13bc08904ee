import Synchronization

/// One run raced against its hard limit: the first of the runner's report and the watchdog's
/// verdict goes to the completion; the other is dropped. The run's work happens in one task that
/// reports through a callback, so nobody waits on it: each task waiting on another costs a
/// thread wake-up per run.
final class GuardedRun: Sendable {
    private struct State {
        var completion: (@Sendable (ProbeReport) -> Void)?
        var runner: Task<Void, Never>?
        var alarm: Int?
        var finished = false
        var cancelled = false
    }
    private let state = Mutex(State())
    private let watchdog: Watchdog

    init(watchdog: Watchdog) {
        self.watchdog = watchdog
    }

    /// Starts `work` in a task of its own; it calls `arm` once it is ready to run (waiting for a
    /// concurrency slot does not count against the limit) and `finish` with its report.
    func start(_ work: @escaping @Sendable (GuardedRun) async -> Void) {
        let runner = Task { [self] in await work(self) }
        let cancelled = state.withLock { state -> Bool in
            state.runner = runner
            return state.cancelled
        }
        if cancelled { runner.cancel() }
    }

    /// From now on the first of `finish` and, past `deadline`, `overrun()` goes to `completion`.
    func arm(
        at deadline: ContinuousClock.Instant, overrun: @escaping @Sendable () -> ProbeReport,
        completion: @escaping @Sendable (ProbeReport) -> Void
    ) {
        state.withLock { $0.completion = completion }
        let alarm = watchdog.arm(at: deadline) { [self] in
            cancel()
            finish(overrun())
        }
        let finished = state.withLock { state -> Bool in
            state.alarm = alarm
            return state.finished
        }
        if finished { watchdog.disarm(alarm) }
    }

    /// Cancels the runner, also when asked before it started.
    func cancel() {
        state.withLock { state in
            state.cancelled = true
            return state.runner
        }?.cancel()
    }

    func finish(_ report: ProbeReport) {
        let (completion, alarm) = state.withLock { state -> ((@Sendable (ProbeReport) -> Void)?, Int?) in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            defer { state.completion = nil }
            return (state.completion, state.alarm)
        }
        if let alarm { watchdog.disarm(alarm) }
        completion?(report)
    }
}
