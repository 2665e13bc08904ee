import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The connector seam against real servers: a TLS handshake at connect, and a plaintext
/// preamble before the handshake, here an HTTP CONNECT tunnel through tinyproxy to nginx
/// (curl through the same proxy is the independent client).
@Suite(.serialized) struct StreamConnectorTests {
    /// tinyproxy on loopback, allowing CONNECT to any port.
    final class TinyproxyLab: @unchecked Sendable {
        let port = LabNetwork.freePort()
        let process: LabProcess

        init() throws {
            let dir = try LabNetwork.temporaryDirectory("tinyproxy")
            let config = dir.appendingPathComponent("tinyproxy.conf")
            try """
            User nobody
            Group nogroup
            Port \(port)
            Listen 127.0.0.1
            Allow 127.0.0.1
            Timeout 10
            LogLevel Info
            """.write(to: config, atomically: true, encoding: .utf8)
            process = try LabProcess("/usr/bin/tinyproxy", ["-d", "-c", config.path], directory: dir, port: port)
        }

        func stop() { process.stop() }
    }

    @Test func handshakeThroughAConnectTunnel() async throws {
        let pki = try TestPKI()
        let (cert, key) = try pki.leaf("tunnel", names: ["mail.lab.test"])
        let served = try #require(Certificate(pem: try String(contentsOf: cert, encoding: .utf8)))
        let nginx = try NginxLab(
            serverBlock: "ssl_certificate \(cert.path);\nssl_certificate_key \(key.path);\nlocation / { return 200 \"ok\"; }\n",
            listenOptions: "ssl")
        defer { nginx.stop() }
        let proxy = try TinyproxyLab()
        defer { proxy.stop() }
        let transport = ProbeRuntime.test.transport

        let tunnel = HTTPConnectPreamble(host: "127.0.0.1", port: nginx.port)
        let secured = try await transport.openStream(
            to: "127.0.0.1", port: proxy.port, security: .preambleThenTLS(tunnel, serverName: "mail.lab.test", legacy: false),
            timeout: .seconds(5))
        #expect(secured.tls.chain.map(\.sha256) == [served.sha256])
        #expect(secured.tls.version.hasPrefix("TLSv1."))
        #expect(secured.timings.tlsHandshake > secured.timings.connect)
        #expect(secured.connection.peerPort == proxy.port)
        // The same tunnel to nginx directly, without a preamble: the same certificate.
        let direct = try await transport.openStream(
            to: "127.0.0.1", port: nginx.port, security: .tls(serverName: "mail.lab.test", legacy: false), timeout: .seconds(5))
        #expect(direct.tls.chain.map(\.sha256) == [served.sha256])
        // curl through the same proxy agrees that the tunnel works.
        #expect(try Self.curlThroughProxy(proxy.port, nginx.port) == "ok")
    }

    @Test func refusedTunnelsAndNonProxiesFailWithAReason() async throws {
        let proxy = try TinyproxyLab()
        defer { proxy.stop() }
        let nginx = try NginxLab(serverBlock: "location / { return 200 \"plain\"; }\n")
        defer { nginx.stop() }
        let transport = ProbeRuntime.test.transport
        let closed = LabNetwork.freePort()
        let cases: [(Int, Int, String)] = [
            // tinyproxy cannot reach the closed port: it answers CONNECT with an error status.
            (proxy.port, closed, "status"),
            // nginx is no proxy: it answers CONNECT with 400 or 405.
            (nginx.port, closed, "status"),
        ]
        for (port, destination, words) in cases {
            let preamble = HTTPConnectPreamble(host: "127.0.0.1", port: destination)
            let error = await #expect(throws: TransportError.self) {
                _ = try await transport.openStream(
                    to: "127.0.0.1", port: port, security: .preambleThenTLS(preamble, serverName: "mail.lab.test", legacy: false),
                    timeout: .seconds(5))
            }
            #expect(error?.kind == .protocolError, "\(String(describing: error))")
            #expect(error?.message.contains(words) == true, "\(String(describing: error))")
            #expect(error?.tls.chain.isEmpty == true)
        }
    }

    @Test func preambleVerdicts() {
        let preamble = HTTPConnectPreamble(host: "mail.lab.test", port: 443, headers: [("Proxy-Authorization", "Basic eA==")])
        #expect(String(decoding: preamble.request, as: UTF8.self).hasPrefix("CONNECT mail.lab.test:443 HTTP/1.1\r\n"))
        #expect(preamble.verdict(Array("HTTP/1.1 200 Connection established\r\n".utf8)) == .needMore)
        let answer = Array("HTTP/1.1 200 Connection established\r\nProxy-agent: x\r\n\r\n".utf8)
        #expect(preamble.verdict(answer) == .proceed(consumed: answer.count))
        #expect(preamble.verdict(Array("HTTP/1.0 407 Proxy Authentication Required\r\n\r\n".utf8)) != .proceed(consumed: 47))
        #expect(preamble.verdict(Array("SSH-2.0-OpenSSH\r\n\r\n".utf8)) == .refused("not an HTTP proxy answer"))
        #expect(preamble.verdict([UInt8](repeating: 0x41, count: 20_000)) == .refused("the proxy's answer has no end of header"))
        #expect(HTTPConnectPreamble(host: "::1", port: 8443).authority == "[::1]:8443")
    }

    static func curlThroughProxy(_ proxy: Int, _ server: Int) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = [
            // The proxy resolves the CONNECT authority itself: an address, not the lab's name.
            "-sk", "--proxytunnel", "-x", "http://127.0.0.1:\(proxy)", "https://127.0.0.1:\(server)/",
        ]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
