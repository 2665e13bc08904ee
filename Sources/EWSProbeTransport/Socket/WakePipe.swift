import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes a loop thread that waits in poll(2): the read end is polled with the loop's sockets,
/// and a submission writes one byte, but only while the loop is asleep (a write per
/// submission would cost a system call each when the loop is busy anyway).
final class WakePipe: Sendable {
    let readEnd: Int32
    private let writeEnd: Int32
    private let sleeping = Atomic<Bool>(false)

    init() {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { fatalError("pipe failed") }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        (readEnd, writeEnd) = (ends[0], ends[1])
    }

    /// From any thread.
    func wake() {
        guard sleeping.exchange(false, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// The loop is about to wait; it must look for work once more after this, since work
    /// submitted just before saw the loop awake and did not write.
    func willSleep() { sleeping.store(true, ordering: .releasing) }

    func didWake() { sleeping.store(false, ordering: .releasing) }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &buffer, buffer.count) > 0 {}
    }
}
