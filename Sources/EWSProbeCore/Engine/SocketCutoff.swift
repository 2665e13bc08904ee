import Foundation
import Synchronization

/// Shuts a socket down at its run's deadline, from the watchdog's thread, so whatever a blocking
/// C library is doing with it ends: its next read sees the end of the stream. libldap 2.5 with
/// GnuTLS retries a TLS handshake that a silent server never answers for as long as the socket
/// lets it (OpenLDAP ITS#8047); the socket's own timeouts only make each retry wait.
/// `release` before the socket is closed: a descriptor number reused by another connection is
/// never touched.
package final class SocketCutoff: Sendable {
    private let descriptor: Mutex<Int32?>
    private let armed = Mutex<Int?>(nil)
    private let watchdog: Watchdog

    package init(_ fd: Int32, at deadline: ContinuousClock.Instant, watchdog: Watchdog) {
        descriptor = Mutex(fd)
        self.watchdog = watchdog
        let id = watchdog.arm(at: deadline) { [self] in cut() }
        armed.withLock { $0 = id }
    }

    private func cut() {
        descriptor.withLock { fd in
            if let fd { _ = shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Before the socket closes: the cut-off will not touch it any more.
    package func release() {
        descriptor.withLock { $0 = nil }
        if let id = armed.withLock({ $0 }) { watchdog.disarm(id) }
    }
}
