import EWSProbeTransport
import Foundation
import Synchronization

/// The demo CA's CRL over plain http on loopback, the way a CA publishes it: every GET gets the
/// current list (DER). It listens before the certificates are made, because they name its URL.
final class DemoCRLServer: Sendable {
    let port: Int
    private let listener: Int32
    private let crl = Mutex<[UInt8]>([])

    init() throws {
        let (fd, boundPort) = LoopbackSocket.bind(listen: 64)
        guard fd >= 0 else { throw DemoError(message: "cannot listen for the demo CRL") }
        listener = fd
        port = boundPort
        ServiceThread.start("demo-crl") { [self] in acceptLoop() }
    }

    var url: String { "http://127.0.0.1:\(port)/demo-ca.crl" }

    func publish(_ der: [UInt8]) {
        crl.withLock { $0 = der }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            Thread { [self] in serve(client) }.start()
        }
    }

    /// One request per connection: read its head, answer, close.
    private func serve(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while DemoTLSSite.headerEnd(pending) == nil, pending.count < 65536 {
            let count = recv(client, &buffer, buffer.count, 0)
            if count <= 0 { return }
            pending += buffer[0..<count]
        }
        let body = crl.withLock { $0 }
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        let answer = Array(head.utf8) + body
        var sent = 0
        while sent < answer.count {
            let count = answer.withUnsafeBytes { send(client, $0.baseAddress! + sent, answer.count - sent, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return }
            sent += count
        }
    }
}
