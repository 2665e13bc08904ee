// CAres: once ares.h is in the module, Swift attributes glibc's socket type constants
// (SOCK_STREAM, SOCK_NONBLOCK) to it and Glibc alone no longer shows them.
import CAres
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP connection for a blocking C library (libldap) that must not pick its own address:
/// connected here to the pinned address, from the source address, within the deadline, and
/// with send and receive timeouts so no later call blocks past it.
package enum BlockingSocket {
    package struct Failure: Error {
        package var errno: Int32
        package var message: String
        package var timedOut: Bool { errno == ETIMEDOUT }
    }

    package static func connect(
        to address: String, port: Int, sourceAddress: String?, timeout: Duration
    ) -> Result<Int32, Failure> {
        guard let peer = SocketAddress(ip: address, port: UInt16(port)) else {
            return .failure(Failure(errno: EINVAL, message: "\(address) is not an IP address"))
        }
        let v6 = IPAddress.isV6(address)
        let fd = socket(
            v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Failure(errno: errno, message: "socket: \(String(cString: strerror(errno)))")) }
        func fail(_ code: Int32, _ what: String) -> Result<Int32, Failure> {
            close(fd)
            return .failure(Failure(errno: code, message: "\(what): \(String(cString: strerror(code)))"))
        }
        if let sourceAddress, !SocketAddress.bind(fd, toSource: sourceAddress, v6: v6) {
            return fail(errno, "Couldn't bind to '\(sourceAddress)'")
        }
        // Requests are small writes answered at once: without NODELAY, Nagle and the peer's
        // delayed ACK add about 40 ms to the first exchange after the handshake.
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if peer.withSockaddr({ Glibc.connect(fd, $0, $1) }) != 0 {
            guard errno == EINPROGRESS else { return fail(errno, "connect to \(address) port \(port)") }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&poller, 1, Int32(clamping: max(1, timeout.milliseconds)))
            guard ready > 0 else { return fail(ready == 0 ? ETIMEDOUT : errno, "connect to \(address) port \(port)") }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { return fail(error, "connect to \(address) port \(port)") }
        }
        // Blocking from here, each read and write bounded by what is left of the deadline.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        SocketAddress.setTimeouts(fd, timeout)
        return .success(fd)
    }
}
