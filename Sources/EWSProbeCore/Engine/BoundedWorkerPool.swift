import EWSProbeTransport
import Foundation
import Synchronization

/// Threads of their own for one class of blocking work (bcrypt, configuration parsing, libldap),
/// so it never occupies Swift's cooperative pool, the event loops or another class's threads.
/// A thread starts when work waits and none is idle, up to `threads`, and ends after `idleExit`
/// without work: a process that never does such work has none, and a burst's threads do not
/// outlive it. The queue is bounded: past the limit `run` refuses at once instead of queueing
/// forever, so a flood of such work is answered (503) rather than piled up.
public final class BoundedWorkerPool: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var idle = 0
        var started = 0
        /// Threads ever started: names stay unique while threads come and go.
        var spawned = 0
    }

    private let state = Mutex(State())
    private let signal = DispatchSemaphore(value: 0)
    private let name: String
    private let threads: Int
    private let queueLimit: Int
    private let idleExit: Duration

    /// `name` prefixes the threads' names (`name-0`, …) as `top -H` shows them.
    public init(name: String, threads: Int, queueLimit: Int, idleExit: Duration = .seconds(60)) {
        (self.name, self.threads, self.queueLimit, self.idleExit) = (name, max(1, threads), max(0, queueLimit), idleExit)
    }

    /// Runs `work` on a worker thread and returns its value; nil when the queue is full.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let (accepted, spawn) = state.withLock { state -> (Bool, Int?) in
                guard state.jobs.count < queueLimit else { return (false, nil) }
                state.jobs.append { continuation.resume(returning: work()) }
                // More work waiting than threads waiting for it: one more thread, up to the limit.
                guard state.jobs.count > state.idle, state.started < threads else { return (true, nil) }
                state.started += 1
                state.spawned += 1
                return (true, state.spawned - 1)
            }
            guard accepted else { return continuation.resume(returning: nil) }
            if let index = spawn { ServiceThread.start("\(name)-\(index)") { [self] in serve() } }
            signal.signal()
        }
    }

    private func serve() {
        let idleSeconds = idleExit.seconds
        while true {
            state.withLock { $0.idle += 1 }
            let woken = signal.wait(timeout: .now() + idleSeconds) == .success
            // Under the lock: a job appended after this thread decided to end sees one idle
            // thread fewer and starts another.
            let next = state.withLock { state -> (@Sendable () -> Void)?? in
                state.idle -= 1
                if !state.jobs.isEmpty { return .some(state.jobs.removeFirst()) }
                guard woken else {
                    state.started -= 1
                    return .none
                }
                return .some(nil)
            }
            guard let job = next else { return }
            job?()
        }
    }
}
