import Foundation
import Logging
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The seams the next checks build on: a check defined only here, registered in one line,
/// runs through the scheduler, `/metrics`, `/probe`'s JSON and the status page; and a check's
/// logic runs against a fake transport without a server.
@Suite(.serialized) struct CheckSeamTests {
    /// The one line that registers the test's check.
    static let registry = CheckRegistry.builtin.adding(EchoCheck.self)

    @Test func aCheckRegisteredInOneLineRunsEverywhere() async throws {
        let yaml = """
            global: {interval: 1s, timeout: 900ms}
            modules:
              echoing: {checks: [dns, echo], echo: {word: sesame}}
            targets:
              - {name: seam, url: "http://127.0.0.1:1/EWS/Exchange.asmx", module: echoing}
            """
        let config = try ConfigLoader.load(yaml: yaml, name: "<seam>", registry: Self.registry)
        #expect(config.targets[0].module.checkNames == ["dns", "echo"])
        let ports = AsyncStream<Int>.makeStream()
        let server = ExporterServer(
            source: .embedded(config), initial: config, runtime: .test, host: "127.0.0.1", port: 0, logger: Logger(label: "seam"))
        let running = Task { try await server.run { ports.continuation.yield($0) } }
        defer { running.cancel() }
        var iterator = ports.stream.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let base = "http://127.0.0.1:\(port)"

        let metrics = try await ExporterTests.waitFor(port) { $0.contains("ewsprobe_echo_addresses{target=\"seam\"} 1") }
        #expect(metrics.contains("ewsprobe_check_success{target=\"seam\",check=\"echo\"} 1"), "\(metrics)")
        #expect(metrics.contains("# HELP ewsprobe_echo_addresses Addresses the echo check saw."))

        let json = try await ServeTests.get("\(base)/probe?target=seam&format=json")
        #expect(json.contains("\"check\":\"echo\""), "\(json)")
        #expect(json.contains("sesame to 127.0.0.1"), "\(json)")

        let page = try await ServeTests.get("\(base)/status?target=seam")
        #expect(page.contains("echo"), "\(page)")
        #expect(page.contains("sesame to 127.0.0.1"), "\(page)")
    }

    @Test func aCheckRunsAgainstAFakeTransport() async throws {
        let fake = FakeTransport { _ in
            .success(
                FakeTransport.response(
                    status: 401, headers: [("WWW-Authenticate", "NTLM"), ("WWW-Authenticate", "Basic realm=\"lab\"")]))
        }
        let module = ModuleConfig(name: "m", checks: [AuthMethodsCheck()])
        let target = TargetConfig(name: "t", url: EndpointURL("https://192.0.2.10/EWS/Exchange.asmx")!, module: module)
        let ctx = ProbeContext(target: target, runtime: .test, transport: fake)
        let result = await AuthMethodsCheck().run(ctx)
        #expect(result.status == .pass, "\(result.summary)")
        #expect(fake.requests.count == 1)
        #expect(fake.requests.first?.0.method == "POST")
        #expect(fake.requests.first?.0.pinnedAddress == "192.0.2.10")
        if case .oneShot = fake.requests.first?.1 {} else { Issue.record("the anonymous POST is not one-shot") }

        let broken = FakeTransport { _ in
            .failure(
                TransportError(
                    kind: .refused, curlCode: nil, osErrno: 111, message: "refused", timings: PhaseTimings(), connection: ConnectionFacts(),
                    tls: TLSFacts()))
        }
        let failed = await AuthMethodsCheck().run(ProbeContext(target: target, runtime: .test, transport: broken))
        #expect(failed.status == .fail, "\(failed.summary)")
    }
}
