import Dispatch
import EWSProbeTransport
import Synchronization

/// The scheduler's clock: one thread that sleeps until the next due run and starts it.
/// A thread, not a task in `Task.sleep`: each such sleep is a timer on libdispatch's timer thread
/// and a hop back to the concurrency pool, two thread wake-ups per run before the run's own.
final class Dispatcher: Sendable {
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    /// Calls `fire` at each entry's due time, re-queueing the entry `interval(index)` later,
    /// until stopped; returns once the thread has ended.
    func run(
        _ schedule: DueQueue, interval: @escaping @Sendable (Int) -> Duration,
        fire: @escaping @Sendable (ContinuousClock.Instant, Int) -> Void
    ) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            ServiceThread.start("ews-schedule") { [self] in
                var queue = schedule
                while let (due, index) = queue.popFirst(), sleep(until: due) {
                    queue.push(due + interval(index), index)
                    fire(due, index)
                }
                continuation.resume()
            }
        }
    }

    /// False once stopped, else true at `due` (never earlier: a timed wait may end a little early).
    private func sleep(until due: ContinuousClock.Instant) -> Bool {
        while !stopped.load(ordering: .acquiring) {
            let left = ContinuousClock.now.duration(to: due)
            guard left > .zero else { return true }
            _ = wake.wait(timeout: .now() + .nanoseconds(Int((left.seconds * 1e9).rounded(.up))))
        }
        return false
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        wake.signal()
    }
}
