import Foundation
import Synchronization

/// Fires the action of a run that overran its hard limit: the scheduler's backstop. One thread
/// looks four times a second, so a run that ends in time costs a heap entry, not a timer, a
/// sleeping task and their wake-ups (the backstop fires within a quarter second of its limit).
final class Watchdog: Sendable {
    static let shared = Watchdog()
    static let resolution: Duration = .milliseconds(250)

    private struct State {
        var due = DueQueue()
        var actions: [Int: @Sendable () -> Void] = [:]
        var nextID = 0
    }
    private let state = Mutex(State())

    private init() {
        ServiceThread.start("ews-watchdog") { [self] in
            while true {
                Thread.sleep(forTimeInterval: Self.resolution.seconds)
                let now = ContinuousClock.now
                let expired = state.withLock { state -> [@Sendable () -> Void] in
                    var fired: [@Sendable () -> Void] = []
                    while let (due, id) = state.due.popFirst() {
                        if due > now {
                            state.due.push(due, id)
                            break
                        }
                        if let action = state.actions.removeValue(forKey: id) { fired.append(action) }
                    }
                    return fired
                }
                expired.forEach { $0() }
            }
        }
    }

    /// Calls `action` once `due` has passed, unless disarmed first.
    func arm(at due: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> Int {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.actions[id] = action
            state.due.push(due, id)
            return id
        }
    }

    /// The heap entry stays until its time (then it is skipped): removal from a heap would cost more.
    func disarm(_ id: Int) {
        _ = state.withLock { $0.actions.removeValue(forKey: id) }
    }
}

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
        let alarm = Watchdog.shared.arm(at: deadline) { [self] in
            cancel()
            finish(overrun())
        }
        let finished = state.withLock { state -> Bool in
            state.alarm = alarm
            return state.finished
        }
        if finished { Watchdog.shared.disarm(alarm) }
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
        if let alarm { Watchdog.shared.disarm(alarm) }
        completion?(report)
    }
}
