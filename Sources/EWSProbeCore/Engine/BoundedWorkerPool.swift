import EWSProbeTransport
import Foundation
import Synchronization

/// Threads of their own for one class of blocking work (bcrypt, configuration parsing, libldap),
/// so it never occupies Swift's cooperative pool, the event loops or another class's threads.
/// A thread starts when work waits and none is idle, up to `threads`: a process that never does
/// such work has none. The queue is bounded: past the limit `run` refuses at once instead of
/// queueing forever, so a flood of such work is answered (503) rather than piled up.
public final class BoundedWorkerPool: Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var idle = 0
        var started = 0
    }

    private let state = Mutex(State())
    private let signal = DispatchSemaphore(value: 0)
    private let name: String
    private let threads: Int
    private let queueLimit: Int

    /// `name` prefixes the threads' names (`name-0`, …) as `top -H` shows them.
    public init(name: String, threads: Int, queueLimit: Int) {
        (self.name, self.threads, self.queueLimit) = (name, max(1, threads), max(0, queueLimit))
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
                return (true, state.started - 1)
            }
            guard accepted else { return continuation.resume(returning: nil) }
            if let index = spawn { ServiceThread.start("\(name)-\(index)") { [self] in serve() } }
            signal.signal()
        }
    }

    private func serve() {
        while true {
            state.withLock { $0.idle += 1 }
            signal.wait()
            let job = state.withLock { state -> (@Sendable () -> Void)? in
                state.idle -= 1
                return state.jobs.isEmpty ? nil : state.jobs.removeFirst()
            }
            job?()
        }
    }
}
