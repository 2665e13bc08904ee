import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

@Suite(.serialized) struct DNSAndTCPCheckTests {
    func target(_ url: String, resolve: [String] = [], dnsServer: Int? = nil, partial: TCPCheck.PartialFailure = .fail) throws
        -> TargetConfig
    {
        var dns = DNSCheck()
        if let dnsServer { dns.server = .server(address: "127.0.0.1", port: dnsServer) }
        var tcp = TCPCheck()
        tcp.partialFailure = partial
        var target = TargetConfig(name: "t", url: EndpointURL(url)!, module: ModuleConfig(name: "m", checks: [dns, tcp]))
        target.timeout = .seconds(3)
        target.resolve = try resolve.map { try ResolvePin.parse($0).get() }
        return target
    }

    @Test func openAndClosedPortsOnLoopback() async throws {
        let nginx = try NginxLab(serverBlock: "location / { return 200; }")
        defer { nginx.stop() }
        let open = await ProbeRunner(runtime: .test).run(try target("http://127.0.0.1:\(nginx.port)/EWS/Exchange.asmx"))
        #expect(open.checks.map(\.status) == [.pass, .pass])
        #expect(open.checks[0].details.first { $0.0 == "source" }?.1 == .string("literal"))
        #expect(open.checks[1].measurements.contains { $0.name == "ewsprobe_tcp_connect_seconds" })

        let closed = await ProbeRunner(runtime: .test).run(try target("http://127.0.0.1:\(LabNetwork.freePort())/"))
        #expect(closed.checks[1].status == .fail)
        #expect(closed.checks[1].reason == "refused")
        #expect(closed.exitCode == 2)
    }

    @Test func everyPinnedAddressIsConnectedSeparately() async throws {
        let nginx = try NginxLab(serverBlock: "location / { return 200; }")
        defer { nginx.stop() }
        let url = "https://mail.lab.test:\(nginx.port)/EWS/Exchange.asmx"
        let pin = "mail.lab.test:\(nginx.port):127.0.0.1,127.0.0.2"
        let report = await ProbeRunner(runtime: .test).run(try target(url, resolve: [pin]))
        #expect(report.checks[0].status == .pass)
        #expect(report.checks[0].summary.contains("pinned"))
        let tcp = report.checks[1]
        #expect(tcp.status == .fail)
        #expect(tcp.reason == "refused")
        #expect(tcp.summary.contains("1 of 2"))
        let successes = tcp.measurements.filter { $0.name == "ewsprobe_tcp_connect_success" }
        #expect(successes.count == 2)
        #expect(successes.first { $0.labels.contains { $0 == ("address", "127.0.0.1") } }?.value == 1)
        #expect(successes.first { $0.labels.contains { $0 == ("address", "127.0.0.2") } }?.value == 0)

        let lenient = await ProbeRunner(runtime: .test).run(try target(url, resolve: [pin], partial: .warn))
        #expect(lenient.checks[1].status == .warn)
        #expect(lenient.exitCode == 1)
    }

    @Test func systemResolverFindsLocalhost() async throws {
        let report = await ProbeRunner(runtime: .test).run(try target("http://localhost:\(LabNetwork.freePort())/"))
        #expect(report.checks[0].status == .pass)
        #expect(report.checks[0].details.first { $0.0 == "addresses" }?.1 == .array(["127.0.0.1"]))
    }

    @Test func dnsServerAnswersAreClassified() async throws {
        let dns = try DNSLab(
            hosts: [("farm.lab.test", "127.0.0.1"), ("farm.lab.test", "127.0.0.3"), ("farm.lab.test", "::1")],
            txtOnly: ["textonly.lab.test"])
        let port = LabNetwork.freePort()
        let farm = await ProbeRunner(runtime: .test).run(try target("http://farm.lab.test:\(port)/", dnsServer: dns.port))
        #expect(farm.checks[0].status == .pass)
        #expect(farm.checks[0].details.first { $0.0 == "addresses" }?.1 == .array(["127.0.0.1", "127.0.0.3", "::1"]))
        #expect(farm.checks[1].details.first { $0.0 == "addresses" }.map { if case .array(let a) = $0.1 { a.count } else { 0 } } == 3)

        let missing = await ProbeRunner(runtime: .test).run(try target("http://nothing.lab.test/", dnsServer: dns.port))
        #expect(missing.checks[0].status == .fail)
        #expect(missing.checks[0].reason == "nxdomain")
        #expect(missing.checks[1].status == .skip)

        let noAddress = await ProbeRunner(runtime: .test).run(try target("http://textonly.lab.test/", dnsServer: dns.port))
        #expect(noAddress.checks[0].reason == "no_addresses")
    }

    @Test func silentDNSServerTimesOut() async throws {
        // A UDP port nobody answers on: bind it and never read.
        let (fd, udpPort) = LoopbackSocket.bind(type: Int32(SOCK_DGRAM.rawValue))
        defer { close(fd) }
        var t = try target("http://slow.lab.test/", dnsServer: udpPort)
        t.timeout = .seconds(1)
        let start = ContinuousClock.now
        let report = await ProbeRunner(runtime: .test).run(t)
        #expect(report.checks[0].reason == "timeout")
        #expect(ContinuousClock.now - start < .seconds(3))
    }

}
