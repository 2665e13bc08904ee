import EWSProbeTransport
import Foundation
import Synchronization

/// A few threads of their own for one class of blocking work (bcrypt, configuration parsing),
/// so it never occupies Swift's cooperative pool, the event loops or another class's threads.
/// The queue is bounded: past the limit `run` refuses at once instead of queueing forever, so
/// a flood of such work is answered (503) rather than piled up.
public final class BoundedWorkerPool: Sendable {
    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let signal = DispatchSemaphore(value: 0)
    private let queueLimit: Int

    /// `name` prefixes the threads' names (`name-0`, …) as `top -H` shows them.
    public init(name: String, threads: Int, queueLimit: Int) {
        self.queueLimit = queueLimit
        for index in 0..<threads {
            ServiceThread.start("\(name)-\(index)") { [self] in
                while true {
                    signal.wait()
                    let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    job?()
                }
            }
        }
    }

    /// Runs `work` on a worker thread and returns its value; nil when the queue is full.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T? {
        await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            let accepted = jobs.withLock { jobs in
                guard jobs.count < queueLimit else { return false }
                jobs.append { continuation.resume(returning: work()) }
                return true
            }
            if accepted {
                signal.signal()
            } else {
                continuation.resume(returning: nil)
            }
        }
    }
}
