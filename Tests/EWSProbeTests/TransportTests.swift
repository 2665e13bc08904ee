import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The transport against a real nginx on loopback.
@Suite(.serialized) struct TransportTests {
    static let serverBlock = """
        location /ews {
          add_header WWW-Authenticate "Negotiate" always;
          add_header WWW-Authenticate "NTLM" always;
          add_header WWW-Authenticate 'Basic realm="lab"' always;
          return 401 "unauthorised\\n";
        }
        location /big { return 200 "\(String(repeating: "x", count: 3000))"; }
        location / { return 200 "hello\\n"; }
        """

    @Test func statusRepeatedHeadersAndTimings() async throws {
        let nginx = try NginxLab(serverBlock: Self.serverBlock)
        defer { nginx.stop() }
        let response = try await ProbeRuntime.test.transport.exchange(
            HTTPRequest(url: "http://127.0.0.1:\(nginx.port)/ews", method: "POST", body: Array("<soap/>".utf8)), policy: .oneShot)
        #expect(response.status == 401)
        #expect(response.headerValues("www-authenticate") == ["Negotiate", "NTLM", "Basic realm=\"lab\""])
        #expect(response.bodyText == "unauthorised\n")
        #expect(response.httpVersion == "1.1")
        #expect(response.timings.total > 0)
        #expect(response.timings.firstByte > 0)
        #expect(response.timings.connect > 0)
        #expect(response.connection.peerAddress == "127.0.0.1")
        #expect(response.connection.peerPort == nginx.port)
        #expect(response.connection.localPort > 0)
        #expect(response.connection.newConnections == 1)
    }

    @Test func bodyIsCappedAtTheLimit() async throws {
        let nginx = try NginxLab(serverBlock: Self.serverBlock)
        defer { nginx.stop() }
        let response = try await ProbeRuntime.test.transport.exchange(
            HTTPRequest(url: "http://127.0.0.1:\(nginx.port)/big", bodyLimit: 1000), policy: .oneShot)
        #expect(response.status == 200)
        #expect(response.body.count == 1000)
        #expect(response.bodyTruncated)
        let whole = try await ProbeRuntime.test.transport.exchange(HTTPRequest(url: "http://127.0.0.1:\(nginx.port)/big"), policy: .oneShot)
        #expect(whole.body.count == 3000)
        #expect(!whole.bodyTruncated)
    }

    @Test func reuseWithinAScopeAndNotWithAFreshConnection() async throws {
        let nginx = try NginxLab(serverBlock: Self.serverBlock)
        defer { nginx.stop() }
        let transport = ProbeRuntime.test.transport
        let scope = ProbeRuntime.test.transport.makeScope()
        let url = "http://127.0.0.1:\(nginx.port)/"
        let first = try await transport.exchange(HTTPRequest(url: url), policy: .pooled(scope))
        let second = try await transport.exchange(HTTPRequest(url: url), policy: .pooled(scope))
        #expect(first.connection.newConnections == 1)
        #expect(second.connection.newConnections == 0)
        #expect(second.connection.reused)
        #expect(second.connection.localPort == first.connection.localPort)
        let fresh = try await transport.exchange(HTTPRequest(url: url), policy: .oneShot)
        #expect(fresh.connection.newConnections == 1)
        #expect(fresh.connection.localPort != first.connection.localPort)
        // Another scope never sees this scope's connection.
        let other = try await transport.exchange(HTTPRequest(url: url), policy: .pooled(ProbeRuntime.test.transport.makeScope()))
        #expect(other.connection.newConnections == 1)
    }

    @Test func timeoutIsHonoured() async throws {
        let (fd, port) = LabNetwork.silentListener()
        defer { close(fd) }
        let start = ContinuousClock.now
        let error = await #expect(throws: TransportError.self) {
            try await ProbeRuntime.test.transport.exchange(
                HTTPRequest(url: "http://127.0.0.1:\(port)/", timeout: .milliseconds(500)), policy: .oneShot)
        }
        let elapsed = ContinuousClock.now - start
        #expect(error?.kind == .timeout)
        #expect(elapsed >= .milliseconds(450))
        #expect(elapsed < .seconds(3))
    }

    @Test func refusedConnectionIsClassified() async throws {
        let port = LabNetwork.freePort()
        let error = await #expect(throws: TransportError.self) {
            try await ProbeRuntime.test.transport.exchange(HTTPRequest(url: "http://127.0.0.1:\(port)/"), policy: .oneShot)
        }
        #expect(error?.kind == .refused)
    }

    @Test func pinnedAddressKeepsTheHostName() async throws {
        let nginx = try NginxLab(serverBlock: "location / { return 200 \"$host\"; }")
        defer { nginx.stop() }
        let response = try await ProbeRuntime.test.transport.exchange(
            HTTPRequest(url: "http://mail.lab.test:\(nginx.port)/", pinnedAddress: "127.0.0.1"), policy: .oneShot)
        #expect(response.bodyText == "mail.lab.test")
    }

    @Test func cancellationStopsATransfer() async throws {
        let (fd, port) = LabNetwork.silentListener()
        defer { close(fd) }
        let start = ContinuousClock.now
        let task = Task {
            try await ProbeRuntime.test.transport.exchange(
                HTTPRequest(url: "http://127.0.0.1:\(port)/", timeout: .seconds(30)), policy: .oneShot)
        }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(5))
        guard case .failure(let error as TransportError) = result else {
            Issue.record("expected a cancellation error")
            return
        }
        #expect(error.kind == .cancelled)
    }
}
