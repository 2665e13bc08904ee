import EWSProbeTransport
import Foundation

/// The demo's outbound proxy: HTTP CONNECT with Basic authentication on 127.0.0.1, tunnelling
/// only to the demo's own names (every `*.demo.test` is 127.0.0.1). It shows a target probed
/// through a proxy; it is not a test oracle (the tests use squid and tinyproxy). One thread per
/// direction of each tunnel: the demo makes a few connections a minute.
public final class DemoProxy: @unchecked Sendable {
    public static let username = "demo-proxy"
    static let password = "Demo-Proxy-Pass-1!"
    public let port: Int
    public let passwordFile: String
    private let listener: Int32

    public static func start() throws -> DemoProxy { try DemoProxy() }

    private init() throws {
        let (fd, port) = LoopbackSocket.bind(listen: 64)
        guard fd >= 0 else { throw DemoError(message: "the demo proxy could not listen") }
        listener = fd
        self.port = port
        let file = DemoWorkspace.file("proxy.password")
        try Self.password.write(to: file, atomically: true, encoding: .utf8)
        chmod(file.path, 0o600)
        passwordFile = file.path
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread { [self] in serve(client) }.start()
        }
    }

    /// One CONNECT: 407 without the right Basic credentials (the proxy then closes, as many do),
    /// 403 for a host outside the demo, else the tunnel.
    private func serve(_ client: Int32) {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let head = Self.readHead(client) else {
            close(client)
            return
        }
        let lines = head.split(separator: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        let expected = "Basic " + Data("\(Self.username):\(Self.password)".utf8).base64EncodedString()
        let authorized = lines.contains { $0.lowercased().hasPrefix("proxy-authorization:") && $0.hasSuffix(expected) }
        guard parts.count == 3, parts[0] == "CONNECT", let colon = parts[1].lastIndex(of: ":"),
            let port = UInt16(parts[1][parts[1].index(after: colon)...])
        else { return answer(client, "400 Bad Request") }
        guard authorized else {
            return answer(client, "407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"ewsprobe demo proxy\"")
        }
        guard parts[1][..<colon].hasSuffix(".demo.test"), let origin = SocketAddress(ip: "127.0.0.1", port: port) else {
            return answer(client, "403 Forbidden")
        }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard upstream >= 0, origin.withSockaddr({ connect(upstream, $0, $1) }) == 0 else {
            if upstream >= 0 { close(upstream) }
            return answer(client, "502 Bad Gateway")
        }
        _ = Self.write(client, Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
        // Both descriptors are closed only once neither pump can touch them any more.
        let done = DispatchSemaphore(value: 0)
        Thread {
            Self.pump(from: upstream, to: client)
            done.signal()
        }.start()
        Self.pump(from: client, to: upstream)
        done.wait()
        close(client)
        close(upstream)
    }

    private func answer(_ client: Int32, _ status: String) {
        _ = Self.write(client, Array("HTTP/1.1 \(status)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
        close(client)
    }

    /// The request head, up to 16 KiB.
    static func readHead(_ fd: Int32) -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 16 * 1024 {
            guard recv(fd, &byte, 1, 0) == 1 else { return nil }
            bytes.append(byte)
            if bytes.suffix(4) == [13, 10, 13, 10] { return String(decoding: bytes, as: UTF8.self) }
        }
        return nil
    }

    /// Copies until either side ends, then shuts both down (the other pump then ends too).
    static func pump(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if n <= 0 || !write(sink, Array(buffer[0..<n])) { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(sink, Int32(SHUT_RDWR))
    }

    static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}
