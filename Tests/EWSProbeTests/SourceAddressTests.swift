import Foundation
import Synchronization
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

#if canImport(Glibc)
    import Glibc
#endif

/// `source_address`: outgoing connections bind to the configured local address, on the direct
/// client and on libcurl alike, proven by the peer address a loopback server sees (the whole
/// 127.0.0.0/8 is local on Linux, so 127.0.0.2 needs no set-up).
@Suite(.serialized) struct SourceAddressTests {
    /// A listener on 127.0.0.1 that records each accepted connection's peer address and answers
    /// it with a 401 offering Basic, then closes.
    final class PeerRecorder: @unchecked Sendable {
        let fd: Int32
        let port: Int
        private let peers = Mutex<[String]>([])

        init() {
            let (fd, port) = LabNetwork.silentListener()
            self.fd = fd
            self.port = port
            Thread { [self] in
                while true {
                    var address = sockaddr_in()
                    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                    let client = withUnsafeMutablePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
                    }
                    guard client >= 0 else { return }
                    var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                    inet_ntop(AF_INET, &address.sin_addr, &text, socklen_t(INET_ADDRSTRLEN))
                    let peer = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    peers.withLock { $0.append(peer) }
                    var timeout = timeval(tv_sec: 1, tv_usec: 0)
                    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    if recv(client, &buffer, buffer.count, 0) > 0 {
                        _ = Self.answer.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                    }
                    close(client)
                }
            }.start()
        }

        static let answer =
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"lab\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

        var seen: [String] { peers.withLock { $0 } }

        func waitFor(count: Int) async throws {
            for _ in 0..<50 where seen.count < count { try await Task.sleep(for: .milliseconds(40)) }
        }

        func stop() {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    func request(_ port: Int, source: String?) -> HTTPRequest {
        var request = HTTPRequest(
            url: "http://127.0.0.1:\(port)/EWS/Exchange.asmx", method: "POST", body: Array("<soap/>".utf8), timeout: .seconds(3),
            pinnedAddress: "127.0.0.1")
        request.sourceAddress = source
        return request
    }

    @Test func directClientAndLibcurlBindToTheSourceAddress() async throws {
        let server = PeerRecorder()
        defer { server.stop() }
        let transport = ProbeRuntime.test.transport
        let sourced = request(server.port, source: "127.0.0.2")
        #expect(HTTPClientRoute.choose(for: sourced, policy: .oneShot) == .direct)
        let viaDirect = try await transport.exchange(sourced, policy: .oneShot, route: .direct)
        #expect(viaDirect.status == 401)
        #expect(viaDirect.connection.localAddress == "127.0.0.2")
        let viaCurl = try await transport.exchange(sourced, policy: .oneShot, route: .curl)
        #expect(viaCurl.status == 401)
        #expect(viaCurl.connection.localAddress == "127.0.0.2")
        // Without the setting the kernel picks 127.0.0.1 for a connection to 127.0.0.1.
        _ = try await ProbeRuntime.test.transport.exchange(request(server.port, source: nil), policy: .oneShot)
        #expect(server.seen == ["127.0.0.2", "127.0.0.2", "127.0.0.1"])
    }

    @Test func configuredSourceAddressReachesTheTCPCheckAndLibcurl() async throws {
        let server = PeerRecorder()
        defer { server.stop() }
        let yaml = """
            modules:
              bound: {checks: [dns, tcp], source_address: 127.0.0.3, tcp: {connect_timeout: 2s}}
            targets:
              - {name: from-module, url: "http://127.0.0.1:\(server.port)/EWS/Exchange.asmx", module: bound, timeout: 5s}
              - {name: own, url: "http://127.0.0.1:\(server.port)/EWS/Exchange.asmx", module: bound, source_address: 127.0.0.2}
            """
        let config = try ConfigLoader.load(yaml: yaml, name: "bound.yml")
        #expect(config.targets.map(\.sourceAddress) == ["127.0.0.3", "127.0.0.2"])
        for target in config.targets {
            let report = await ProbeRunner(runtime: .test).run(target)
            #expect(report.checks.map(\.status) == [.pass, .pass], "\(report.checks.map(\.summary))")
        }
        // The kernel completes a connect before the recorder's thread accepts it.
        try await server.waitFor(count: 2)
        #expect(server.seen == ["127.0.0.3", "127.0.0.2"])
        // The login check (verified https) goes through libcurl: its request comes from the
        // target's address too.
        let context = ProbeContext(target: config.targets[1], runtime: .test)
        var login = context.request(method: "POST", pinnedTo: "127.0.0.1")
        login.url = login.url.replacingOccurrences(of: "http:", with: "https:")
        #expect(HTTPClientRoute.choose(for: login, policy: .oneShot) == .curl)
        login.url = login.url.replacingOccurrences(of: "https:", with: "http:")
        let response = try await ProbeRuntime.test.transport.exchange(login, policy: .oneShot, route: .curl)
        #expect(response.connection.localAddress == "127.0.0.2")
        #expect(server.seen.last == "127.0.0.2")
    }

    @Test func anAddressThatIsNotLocalFailsTheConnectWithoutSendingAnything() async throws {
        // 192.0.2.1 (TEST-NET-1) is not an address of this machine: bind() fails before any packet.
        for route in [HTTPClientRoute.direct, .curl] {
            let error = await #expect(throws: TransportError.self) {
                _ = try await ProbeRuntime.test.transport.exchange(
                    request(LabNetwork.freePort(), source: "192.0.2.1"), policy: .oneShot, route: route)
            }
            #expect(error?.connection.localPort == 0, "\(String(describing: error))")
            #expect(error?.message.contains("bind") == true, "\(String(describing: error))")
        }
    }

    @Test func sourceAddressMustBeAnIPLiteral() {
        for (yaml, line) in [
            ("modules:\n  m:\n    source_address: eth0\n", 3),
            ("targets:\n  - url: http://127.0.0.1/\n    source_address: prober.example.com\n", 3),
        ] {
            let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: yaml, name: "bad.yml") }
            #expect(error?.line == line)
            #expect(error?.message.contains("is not an IP address") == true, "\(String(describing: error))")
        }
        let v6 = try? ConfigLoader.load(yaml: "targets:\n  - url: http://[::1]/\n    source_address: \"::1\"\n", name: "v6.yml")
        #expect(v6?.targets.first?.sourceAddress == "::1")
    }
}
