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
    static let modes: [(String, Bool)] = ["ntlm-keep", "ntlm-close", "ntlm-hangup", "ntlm-http10"].flatMap { [($0, false), ($0, true)] }

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
        #expect(HTTPClientRoute.chooseSequence(for: request) == .direct)
        let transport = ProbeRuntime.test.transport
        let direct = await transport.exchangeSequence(request, count: 4, route: .direct) { _ in true }
        let curl = await transport.exchangeSequence(request, count: 4, route: .curl) { _ in true }
        #expect(Self.shape(direct) == Self.shape(curl), "\(mode) tls=\(tls)")
        let kept = mode == "ntlm-keep"
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
            let outcomes = await ProbeRuntime.test.transport.exchangeSequence(request, count: 4, route: route) {
                NTLMLeg.carriesChallenge($0)
            }
            #expect(Self.shape(outcomes) == ["401 new"], "\(route)")
        }
    }

    /// A server gone silent mid-sequence: the sequence ends within the request's timeout.
    @Test func silentServerEndsOnTime() async throws {
        let server = try HostileServerTests.Hostile("silent")
        defer { server.process.stop() }
        let request = HTTPRequest(
            url: "http://bad.lab.test:\(server.port)/EWS/Exchange.asmx", method: "POST", body: Array("<soap/>".utf8),
            timeout: .seconds(1), pinnedAddress: "127.0.0.1", verifyPeer: false)
        let start = ContinuousClock.now
        let outcomes = await ProbeRuntime.test.transport.exchangeSequence(request, count: 4, route: .direct) { _ in true }
        #expect((ContinuousClock.now - start).seconds < 2.5)
        #expect(outcomes.count == 1)
        #expect(throws: TransportError.self) { try outcomes[0].get() }
    }
}
