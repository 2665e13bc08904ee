import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// `lb_affinity`'s legs on one kept-alive connection: the direct client's sequence beside
/// libcurl's pooled one on the same server, answer by answer, with libcurl's connection reuse
/// as the oracle of when a connection may carry the next leg.
@Suite(.serialized) struct KeptAliveSequenceTests {
    static let kept: [SequenceStep] = [.fresh, .reuse, .reuse, .reuse]
    static let modes: [(String, Bool)] = ["ntlm-keep", "ntlm-close", "ntlm-hangup", "ntlm-http10", "ntlm-excess"].flatMap {
        [($0, false), ($0, true)]
    }

    /// Each answer's status and whether it opened a new connection.
    static func shape(_ outcomes: [Result<HTTPResponse, TransportError>]) -> [String] {
        outcomes.map { outcome in
            switch outcome {
            case .success(let response): "\(response.status) \(response.connection.newConnections > 0 ? "new" : "reused")"
            case .failure(let error): "failed: \(error.message)"
            }
        }
    }

    static func localPorts(_ outcomes: [Result<HTTPResponse, TransportError>]) -> Set<Int> {
        Set(outcomes.compactMap { try? $0.get().connection.localPort })
    }

    @Test(arguments: modes) func directSequenceAgreesWithLibcurl(mode: String, tls: Bool) async throws {
        let server = try HostileServerTests.Hostile(mode, tls: tls)
        defer { server.process.stop() }
        let negotiate = "NTLM " + Data(NTLMNegotiate().encoded).base64EncodedString()
        let request = HTTPRequest(
            url: "\(tls ? "https" : "http")://bad.lab.test:\(server.port)/EWS/Exchange.asmx", method: "POST",
            headers: [("Content-Type", "text/xml; charset=utf-8"), ("Authorization", negotiate)], body: Array("<soap/>".utf8),
            timeout: .seconds(5), pinnedAddress: "127.0.0.1", verifyPeer: false)
        #expect(HTTPClientRoute.choose(for: request, policy: .oneShot) == .direct)
        let transport = ProbeRuntime.test.transport
        let direct = await transport.exchangeSequence(request, steps: Self.kept, route: .direct) { _ in true }
        let curl = await transport.exchangeSequence(request, steps: Self.kept, route: .curl) { _ in true }
        #expect(Self.shape(direct) == Self.shape(curl), "\(mode) tls=\(tls)")
        // Excess bytes in the answer's own read are dropped, by libcurl as by the direct client.
        let kept = ["ntlm-keep", "ntlm-excess"].contains(mode)
        #expect(Self.shape(direct) == ["401 new"] + Array(repeating: kept ? "401 reused" : "401 new", count: 3), "\(mode) tls=\(tls)")
        #expect(Self.localPorts(direct).count == (kept ? 1 : 4))
        for outcome in direct {
            let response = try outcome.get()
            #expect(NTLMLeg.carriesChallenge(response))
            #expect(response.tls.version.isEmpty != tls)
        }
    }

    /// The sequence stops at the first answer `proceed` refuses, on both clients.
    @Test func stopsWhereProceedSays() async throws {
        let server = try HostileServerTests.Hostile("ntlm-keep")
        defer { server.process.stop() }
        let request = HTTPRequest(
            url: "http://bad.lab.test:\(server.port)/EWS/Exchange.asmx", method: "POST", body: Array("<soap/>".utf8),
            timeout: .seconds(5), pinnedAddress: "127.0.0.1", verifyPeer: false)
        for route in [HTTPClientRoute.direct, .curl] {
            let outcomes = await ProbeRuntime.test.transport.exchangeSequence(request, steps: Self.kept, route: route) {
                NTLMLeg.carriesChallenge($0)
            }
            #expect(Self.shape(outcomes) == ["401 new"], "\(route)")
        }
    }

    /// A server that answers a connection's first NEGOTIATE and then goes silent on it: the
    /// sequence ends within the request's timeout on both clients, the first answer kept.
    @Test func stallOnAKeptConnectionEndsOnTime() async throws {
        let server = try HostileServerTests.Hostile("ntlm-stall")
        defer { server.process.stop() }
        let request = HTTPRequest(
            url: "http://bad.lab.test:\(server.port)/EWS/Exchange.asmx", method: "POST",
            headers: [("Authorization", "NTLM " + Data(NTLMNegotiate().encoded).base64EncodedString())], body: Array("<soap/>".utf8),
            timeout: .seconds(1), pinnedAddress: "127.0.0.1", verifyPeer: false)
        for route in [HTTPClientRoute.direct, .curl] {
            let start = ContinuousClock.now
            let outcomes = await ProbeRuntime.test.transport.exchangeSequence(request, steps: Self.kept, route: route) { _ in true }
            #expect((ContinuousClock.now - start).seconds < 2.5, "\(route)")
            #expect(Self.shape(outcomes).first == "401 new", "\(route)")
            #expect(outcomes.count == 2, "\(route): \(Self.shape(outcomes))")
            #expect(throws: TransportError.self) { try outcomes.last?.get() }
        }
    }

    /// A server that never answers: the sequence ends within the request's timeout, at its first step.
    @Test func silentServerEndsOnTime() async throws {
        let server = try HostileServerTests.Hostile("silent")
        defer { server.process.stop() }
        let request = HTTPRequest(
            url: "http://bad.lab.test:\(server.port)/EWS/Exchange.asmx", method: "POST", body: Array("<soap/>".utf8),
            timeout: .seconds(1), pinnedAddress: "127.0.0.1", verifyPeer: false)
        let start = ContinuousClock.now
        let outcomes = await ProbeRuntime.test.transport.exchangeSequence(request, steps: Self.kept, route: .direct) { _ in true }
        #expect((ContinuousClock.now - start).seconds < 2.5)
        #expect(outcomes.count == 1)
        #expect(throws: TransportError.self) { try outcomes[0].get() }
    }

    /// Fresh steps with resumption offer each new connection the session of the one before; the
    /// server takes it where `openssl s_client -reconnect` sees it taken.
    @Test func freshStepsResumeWhereTheServerKeepsSessions() async throws {
        let server = try HostileServerTests.Hostile("ntlm-keep", tls: true)
        defer { server.process.stop() }
        // openssl keeps the first connection open a moment (TLS 1.3 tickets come after the
        // handshake), saves its session and offers it on a second connection.
        let session = server.directory.appendingPathComponent("session.pem").path
        let connect = "openssl s_client -connect 127.0.0.1:\(server.port) -servername bad.lab.test"
        let oracle = try Self.shell(
            "sleep 1 | \(connect) -sess_out \(session) >/dev/null 2>&1; \(connect) -sess_in \(session) </dev/null 2>&1")
        #expect(oracle.contains("Reused, TLS"), "\(oracle.suffix(600))")
        var request = HTTPRequest(
            url: "https://bad.lab.test:\(server.port)/EWS/Exchange.asmx", method: "POST",
            headers: [("Authorization", "NTLM " + Data(NTLMNegotiate().encoded).base64EncodedString())], body: Array("<soap/>".utf8),
            timeout: .seconds(5), pinnedAddress: "127.0.0.1", verifyPeer: false)
        let fresh: [SequenceStep] = [.fresh, .reuse, .fresh, .fresh, .fresh]
        for resume in [true, false] {
            request.tlsResumption = resume
            let outcomes = await ProbeRuntime.test.transport.exchangeSequence(request, steps: fresh, route: .direct) { _ in true }
            let responses = try outcomes.map { try $0.get() }
            #expect(responses.map(\.tls.resumed) == [false, false] + Array(repeating: resume, count: 3), "resume=\(resume)")
            #expect(responses.map(\.connection.newConnections) == [1, 0, 1, 1, 1])
            #expect(Self.localPorts(outcomes).count == 4)
            // A resumed connection still says which protocol it speaks.
            #expect(responses.allSatisfy { $0.tls.version.hasPrefix("TLS") })
        }
    }

    static func shell(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: output, as: UTF8.self)
    }
}
