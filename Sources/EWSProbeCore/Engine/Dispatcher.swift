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
    /// With a `wave` length the clock ticks on a grid from `origin`: everything due within a wave
    /// fires together at its end (`fire` is given the wave's instant, never earlier than the due
    /// time). Runs started one by one each meet cold caches and an idle core; the same handshakes
    /// started in small bursts cost about a third less CPU each (README, "When runs start").
    /// Each entry keeps its exact period: it is re-queued from its own due time, not the wave's.
    func run(
        _ schedule: DueQueue, wave: Duration = .zero, origin: ContinuousClock.Instant = .now,
        interval: @escaping @Sendable (Int) -> Duration,
        fire: @escaping @Sendable (ContinuousClock.Instant, Int) -> Void
    ) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            ServiceThread.start("ews-schedule") { [self] in
                var queue = schedule
                var batch: [(due: ContinuousClock.Instant, index: Int)] = []
                while let (due, index) = queue.popFirst() {
                    let at = Self.waveEnd(containing: due, length: wave, origin: origin)
                    guard sleep(until: at) else { break }
                    batch.removeAll(keepingCapacity: true)
                    batch.append((due, index))
                    while let next = queue.first, next.due <= at {
                        _ = queue.popFirst()
                        batch.append(next)
                    }
                    // An interval at least the wave's length puts the next run in a later wave.
                    for entry in batch { queue.push(entry.due + interval(entry.index), entry.index) }
                    for entry in batch { fire(at, entry.index) }
                }
                continuation.resume()
            }
        }
    }

    /// The first grid point from `origin` at or after `due` (`due` itself without waves).
    static func waveEnd(containing due: ContinuousClock.Instant, length: Duration, origin: ContinuousClock.Instant)
        -> ContinuousClock.Instant
    {
        guard length > .zero, due > origin else { return due }
        let waves = (origin.duration(to: due) / length).rounded(.up)
        let end = origin + length * waves
        return end < due ? end + length : end
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
