import Foundation

/// A socket bound to a free port on 127.0.0.1: the demo's servers and the test lab's silent
/// peers all start from one. The caller owns (and closes) the descriptor.
public enum LoopbackSocket {
    public static func bind(type: Int32 = Int32(SOCK_STREAM.rawValue), listen backlog: Int32? = nil) -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, type, 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                Glibc.bind(fd, pointer, length) == 0 && (backlog.map { Glibc.listen(fd, $0) == 0 } ?? true)
                    && getsockname(fd, pointer, &length) == 0
            }
        }
        guard fd >= 0, ok else {
            if fd >= 0 { close(fd) }
            return (-1, 0)
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
