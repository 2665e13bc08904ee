import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 or IPv6 literal and a port as the socket calls take them, built in one place.
package enum SocketAddress {
    case v4(sockaddr_in)
    case v6(sockaddr_in6)

    /// Nil when `ip` is not an address literal of the family it looks like.
    package init?(ip: String, port: UInt16) {
        if IPAddress.isV6(ip) {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = in_port_t(port.bigEndian)
            guard inet_pton(AF_INET6, ip, &sa.sin6_addr) == 1 else { return nil }
            self = .v6(sa)
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = in_port_t(port.bigEndian)
            guard inet_pton(AF_INET, ip, &sa.sin_addr) == 1 else { return nil }
            self = .v4(sa)
        }
    }

    /// bind(2) of `fd` to the local `source` address (any port) before it connects to a peer of
    /// the family `v6` says; false with errno set.
    package static func bind(_ fd: Int32, toSource source: String, v6: Bool) -> Bool {
        guard let local = SocketAddress(ip: source, port: 0), IPAddress.isV6(source) == v6 else {
            errno = EAFNOSUPPORT
            return false
        }
        return local.withSockaddr { Glibc.bind(fd, $0, $1) } == 0
    }

    /// Receive and send timeouts on a blocking socket.
    package static func setTimeouts(_ fd: Int32, _ timeout: Duration) {
        var limit = timeout.timeval
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    /// `body` with the address as a `sockaddr` and its length (for connect(2), bind(2)).
    package func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        switch self {
        case .v4(var sa): Self.call(&sa, body)
        case .v6(var sa): Self.call(&sa, body)
        }
    }

    private static func call<Address, T>(_ address: inout Address, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<Address>.size)) }
        }
    }
}
