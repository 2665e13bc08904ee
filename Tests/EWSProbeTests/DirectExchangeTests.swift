import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The direct client: its response reader as pure logic, then the whole exchange against nginx
/// with libcurl's answer to the same request as the oracle.
@Suite(.serialized) struct DirectExchangeTests {
    /// Feeds `text` in pieces of `step` bytes; the reader's verdict and what it kept.
    func read(_ text: String, step: Int, bodyLimit: Int = 1 << 20, head: Bool = false, close: Bool = false) throws -> ResponseReader {
        var reader = ResponseReader(headerLimit: 1024, bodyLimit: bodyLimit, bodyExpected: !head)
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + step)
            let done = try bytes[offset..<end].withUnsafeBytes { try reader.consume($0) }
            offset = end
            if done { return reader }
        }
        if close { try reader.endOfStream() }
        return reader
    }

    static let steps = [1, 2, 3, 7, 64, 4096]

    @Test(arguments: steps) func contentLengthBody(step: Int) throws {
        let reader = try read("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\nContent-Length: 5\r\n\r\nhelloEXTRA", step: step)
        #expect(reader.isDone)
        #expect(reader.head.status == 401)
        #expect(reader.head.httpVersion == "1.1")
        #expect(reader.head.headers.map(\.0) == ["WWW-Authenticate", "Content-Length"])
        #expect(reader.body == Array("hello".utf8))
    }

    @Test(arguments: steps) func chunkedBodyWithExtensionsAndTrailer(step: Int) throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: 1\r\n\r\n"
        let reader = try read(text, step: step)
        #expect(reader.isDone)
        #expect(String(decoding: reader.body, as: UTF8.self) == "hello, world!!!")
    }

    @Test(arguments: steps) func interimResponsesAreSkipped(step: Int) throws {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nLocation: /owa/\r\nContent-Length: 0\r\n\r\n"
        let reader = try read(text, step: step)
        #expect(reader.head.status == 302)
        #expect(reader.head.values("location") == ["/owa/"])
        #expect(reader.body.isEmpty)
    }

    @Test func bodyUntilCloseAndHead() throws {
        let untilClose = try read("HTTP/1.0 200 OK\r\n\r\nall of it", step: 4, close: true)
        #expect(untilClose.isDone)
        #expect(untilClose.body == Array("all of it".utf8))
        let head = try read("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", step: 5, head: true)
        #expect(head.isDone)
        #expect(head.body.isEmpty)
    }

    @Test func bodyIsCappedAtTheLimit() throws {
        let reader = try read("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", step: 3, bodyLimit: 4)
        #expect(reader.isDone)
        #expect(reader.bodyTruncated)
        #expect(reader.body == Array("0123".utf8))
    }

    @Test func brokenResponsesAreNamed() {
        #expect(throws: ResponseReader.Failure.empty) { _ = try read("", step: 1, close: true) }
        #expect(throws: ResponseReader.Failure.malformed("the reply is not HTTP/1.x")) {
            _ = try read("SSH-2.0-OpenSSH\r\n", step: 3)
        }
        #expect(throws: ResponseReader.Failure.malformed("invalid status line (HTTP/2 200)")) {
            _ = try read("HTTP/2 200\r\n\r\n", step: 3)
        }
        #expect(throws: ResponseReader.Failure.malformed("invalid Content-Length")) {
            _ = try read("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", step: 8)
        }
        #expect(throws: ResponseReader.Failure.malformed("invalid chunk size line")) {
            _ = try read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", step: 8)
        }
        #expect(throws: ResponseReader.Failure.malformed("connection closed before the end of the response body")) {
            _ = try read("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", step: 8, close: true)
        }
        #expect(throws: ResponseReader.Failure.tooLarge("response headers exceed 1024 bytes")) {
            _ = try read("HTTP/1.1 200 OK\r\nX-Big: \(String(repeating: "a", count: 2000))\r\n\r\n", step: 100)
        }
        // Header bytes count across lines, not only within one.
        let manyLines = "HTTP/1.1 200 OK\r\n" + String(repeating: "X-A: 0123456789\r\n", count: 100) + "\r\n"
        #expect(throws: ResponseReader.Failure.tooLarge("response headers exceed 1024 bytes")) { _ = try read(manyLines, step: 50) }
    }

    /// The same one-shot request through the direct client and through libcurl: status,
    /// version, headers and body must agree.
    @Test func agreesWithLibcurlOverHTTPAndHTTPS() async throws {
        let pki = try TestPKI()
        let (cert, key) = try pki.leaf("direct", names: ["mail.lab.test"])
        let served = try #require(Certificate(pem: try String(contentsOf: cert, encoding: .utf8)))
        // A body past the 64 KiB limit: both clients keep the same prefix.
        let big = pki.directory.appendingPathComponent("big.txt")
        try String(repeating: "0123456789", count: 7000).write(to: big, atomically: true, encoding: .utf8)
        let nginx = try NginxLab(
            serverBlock: "ssl_certificate \(cert.path);\nssl_certificate_key \(key.path);\nlocation = /big { alias \(big.path); }\n"
                + TransportTests.serverBlock, listenOptions: "ssl")
        defer { nginx.stop() }
        for (method, path) in [("POST", "/ews"), ("GET", "/big")] {
            var request = HTTPRequest(
                url: "https://mail.lab.test:\(nginx.port)\(path)", method: method, headers: [("Content-Type", "text/xml")],
                body: method == "POST" ? Array("<soap/>".utf8) : nil, pinnedAddress: "127.0.0.1", verifyPeer: false,
                bodyLimit: 64 * 1024)
            request.captureCertificates = true
            #expect(HTTPClientRoute.choose(for: request, policy: .oneShot) == .direct)
            let transport = ProbeRuntime.test.transport
            let direct = try await transport.exchange(request, policy: .oneShot, route: .direct)
            let curl = try await transport.exchange(request, policy: .oneShot, route: .curl)
            #expect(direct.status == curl.status)
            #expect(direct.httpVersion == curl.httpVersion)
            #expect(direct.headers.map(\.0) == curl.headers.map(\.0))
            #expect(direct.headerValues("www-authenticate") == curl.headerValues("WWW-Authenticate"))
            #expect(direct.body == curl.body)
            #expect(direct.bodyTruncated == curl.bodyTruncated)
            #expect(direct.bodyTruncated == (path == "/big"))
            #expect(direct.tls.version == curl.tls.version)
            #expect(direct.tls.chain.map(\.sha256) == [served.sha256])
            #expect(direct.timings.connect > 0 && direct.timings.tlsHandshake >= direct.timings.connect)
            #expect(direct.timings.firstByte >= direct.timings.tlsHandshake && direct.timings.total >= direct.timings.firstByte)
            #expect(direct.connection.localPort > 0 && direct.connection.peerPort == nginx.port)
        }
    }

    /// Only what the direct client serves exactly as libcurl would goes to it.
    @Test func whichRequestsGoDirect() {
        var request = HTTPRequest(
            url: "https://mail.lab.test/EWS/Exchange.asmx", method: "POST", pinnedAddress: "127.0.0.1", verifyPeer: false)
        #expect(HTTPClientRoute.choose(for: request, policy: .oneShot) == .direct)
        #expect(HTTPClientRoute.choose(for: request, policy: .connectOnly) == .direct)
        let stayWithCurl: [(String, @Sendable (inout HTTPRequest) -> Void)] = [
            ("an IPv6 zone, which libcurl resolves", { $0.pinnedAddress = "fe80::1%lo" }),
            ("no pinned address", { $0.pinnedAddress = nil }),
            ("verification over https", { $0.verifyPeer = true }),
            ("a method other than GET, POST, HEAD", { $0.method = "PUT" }),
        ]
        for (what, change) in stayWithCurl {
            var changed = request
            change(&changed)
            #expect(HTTPClientRoute.choose(for: changed, policy: .oneShot) == .curl, "\(what)")
        }
        let scope = ProbeRuntime.test.transport.makeScope()
        #expect(HTTPClientRoute.choose(for: request, policy: .pooled(scope)) == .curl, "a request that shares a connection")
        // Both clients tunnel: a proxy keeps the direct client (its handshake comes early).
        var proxied = request
        proxied.proxy = ProxyRoute(host: "proxy.lab.test", port: 3128, address: "127.0.0.1")
        proxied.pinnedAddress = nil
        #expect(HTTPClientRoute.choose(for: proxied, policy: .oneShot) == .direct, "a proxy")
        request.verifyPeer = true
        request.url = "http://mail.lab.test/EWS/Exchange.asmx"
        #expect(HTTPClientRoute.choose(for: request, policy: .oneShot) == .direct, "plain http has nothing to verify")
    }

    @Test func refusedAndNotTLS() async throws {
        let closed = LabNetwork.freePort()
        var request = HTTPRequest(url: "https://mail.lab.test:\(closed)/", pinnedAddress: "127.0.0.1", verifyPeer: false)
        await #expect(throws: TransportError.self) { try await ProbeRuntime.test.transport.exchange(request, policy: .oneShot) }
        do {
            _ = try await ProbeRuntime.test.transport.exchange(request, policy: .oneShot)
        } catch {
            #expect(error.kind == .refused)
            #expect(error.timings.connect == 0)
        }
        // TLS spoken to a plain HTTP server: the connect succeeded, the handshake failed.
        let nginx = try NginxLab(serverBlock: TransportTests.serverBlock)
        defer { nginx.stop() }
        request.url = "https://mail.lab.test:\(nginx.port)/ews"
        do {
            _ = try await ProbeRuntime.test.transport.exchange(request, policy: .oneShot)
            Issue.record("a TLS handshake with a plain HTTP server succeeded")
        } catch {
            #expect(error.kind == .tls)
            #expect(error.timings.connect > 0)
        }
    }

    /// The direct client's thread carries its own name in the kernel (what `top -H` shows),
    /// not the name of the pool thread that happened to create it.
    @Test func loopThreadIsNamed() async throws {
        let closed = LabNetwork.freePort()
        let request = HTTPRequest(url: "http://mail.lab.test:\(closed)/", pinnedAddress: "127.0.0.1")
        _ = try? await ProbeRuntime.test.transport.exchange(request, policy: .oneShot)
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        let names = tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(names.contains("ews-direct"), "\(names)")
    }
}
