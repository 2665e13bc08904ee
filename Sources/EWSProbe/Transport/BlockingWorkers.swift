import Foundation
import Synchronization

/// A small fixed set of threads for blocking system calls (getaddrinfo, a UDP resolver wait),
/// so they never occupy Swift's cooperative pool. Jobs queue when all workers are busy.
public final class BlockingWorkers: Sendable {
    public static let shared = BlockingWorkers(count: 8)

    private let jobs = Mutex<[@Sendable () -> Void]>([])
    private let signal = DispatchSemaphore(value: 0)

    init(count: Int) {
        for index in 0..<count {
            ServiceThread.start("ews-blocking-\(index)") { [self] in
                while true {
                    signal.wait()
                    let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
                    job?()
                }
            }
        }
    }

    /// Runs `work` on a worker thread and returns its value.
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            jobs.withLock { $0.append { continuation.resume(returning: work()) } }
            signal.signal()
        }
    }
}
