import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The c-ares resolver against real peers: dnsmasq, a DNS server that never answers, and the
/// system configuration (a private /etc/resolv.conf bind-mounted in a mount namespace).
@Suite(.serialized) struct ResolverTests {
    func target(_ url: String, dnsServer: Int, timeout: Duration = .seconds(3)) -> TargetConfig {
        var dns = DNSCheck()
        dns.server = .server(address: "127.0.0.1", port: dnsServer)
        var target = TargetConfig(name: "t", url: EndpointURL(url)!, module: ModuleConfig(name: "m", checks: [dns]))
        target.timeout = timeout
        return target
    }

    /// 50 A records do not fit a 512-byte UDP answer: dnsmasq sets TC, c-ares asks again over
    /// TCP and gets all 50 (the hand-written client used to take the 30 that fitted).
    @Test func truncatedAnswerIsAskedAgainOverTCP() async throws {
        let records = (1...50).map { ("big.lab.test", "127.0.1.\($0)") }
        let dns = try DNSLab(hosts: records, txtOnly: [])
        defer { dns.process.stop() }
        // 30 records fit dnsmasq's 512-byte UDP answer (checked by hand: TC set, 30 answers);
        // all 50 only arrive over TCP. (A python oracle here would be a second child process,
        // and Foundation's child reaping hangs beside dnsmasq's forked TCP handlers.)
        let report = await ProbeRunner(runtime: .test).run(target("https://big.lab.test/EWS/Exchange.asmx", dnsServer: dns.port))
        let dnsResult = report.checks[0]
        #expect(dnsResult.status == .pass, "\(dnsResult.summary)")
        guard case .array(let addresses) = dnsResult.details.first(where: { $0.0 == "addresses" })?.1 else {
            Issue.record("no addresses")
            return
        }
        let texts = addresses.compactMap { if case .string(let text) = $0 { text } else { nil } }
        #expect(Set(texts) == Set(records.map(\.1)))
        #expect(texts.count == 50)
    }

    /// A refused query (nothing listens on the UDP port: ICMP port unreachable) is a resolver
    /// error, not a timeout.
    @Test func refusedQueryIsAResolverError() async throws {
        let report = await ProbeRunner(runtime: .test).run(
            target("https://x.lab.test/", dnsServer: LabNetwork.freePort(), timeout: .seconds(2)))
        #expect(["resolver_error", "timeout"].contains(report.checks[0].reason ?? ""), "\(report.checks[0].summary)")
    }

    /// The system configuration with `options timeout:30 attempts:1` and a server that never
    /// answers: `probe --timeout 3s` ends in about 3 s with `timeout`, not after 30.
    @Test func systemResolverEndsAtTheProbeDeadline() throws {
        let dir = try LabNetwork.temporaryDirectory("resolv")
        let silent = try SilentDNS(address: "127.0.0.153")
        defer { silent.stop() }
        let resolvConf = dir.appendingPathComponent("resolv.conf")
        try "nameserver 127.0.0.153\noptions timeout:30 attempts:1\n".write(to: resolvConf, atomically: true, encoding: .utf8)
        let start = Date()
        let (status, output) = try ExporterTests.shell(
            "unshare -m sh -c 'mount --bind \(resolvConf.path) /etc/resolv.conf && exec \(CommandLineTests.binary) probe"
                + " https://silent-name.lab.test/EWS/Exchange.asmx --timeout 3 --checks dns --format json'")
        let elapsed = Date().timeIntervalSince(start)
        #expect(status == 2, "\(output)")
        #expect(output.contains("\"reason\":\"timeout\""), "\(output)")
        #expect(elapsed < 6, "took \(elapsed) s")
        #expect(silent.received() > 0, "the query never reached the configured server")
    }

    /// 30 targets whose DNS server drops every query, beside one healthy target (resolved by
    /// c-ares from /etc/hosts, through the same loop): every run of the healthy target passes (lookups are sockets on one loop, not threads to run out of).
    @Test func silentDNSTargetsDoNotStarveAHealthyOne() async throws {
        let silent = try SilentDNS(address: "127.0.0.154")
        defer { silent.stop() }
        let (listener, listenPort) = LabNetwork.silentListener()
        defer { close(listener) }
        let dir = try LabNetwork.temporaryDirectory("dns-starve")
        let config = dir.appendingPathComponent("serve.yml")
        var yaml = """
            global: {interval: 1s, timeout: 900ms, max_concurrency: 64}
            modules:
              silent: {checks: [dns, tcp], dns: {server: "127.0.0.154:53"}, timeout: 4s, interval: 5s}
              healthy: {checks: [dns, tcp]}
            targets:
              - {name: healthy, url: "https://localhost:\(listenPort)/EWS/Exchange.asmx", module: healthy}

            """
        for index in 0..<30 {
            yaml += "  - {name: silent\(index), url: \"https://silent\(index).lab.test/EWS/Exchange.asmx\", module: silent}\n"
        }
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let (serve, port) = try ExporterTests.serve(config)
        defer { serve.stop() }
        try await Task.sleep(for: .seconds(8))
        let text = try await ExporterTests.metrics(port)
        let runs = ServeTests.value(of: "ewsprobe_probe_runs_total{target=\"healthy\"}", in: text)
        let failures = ServeTests.value(of: "ewsprobe_probe_failures_total{target=\"healthy\"}", in: text)
        #expect(runs >= 6, "healthy ran \(runs) times in 8 s")
        #expect(failures == 0, "healthy failed \(failures) of \(runs) runs")
        #expect(text.contains("ewsprobe_check_failure_info{target=\"silent0\",check=\"dns\",status=\"fail\",reason=\"timeout\"} 1"))
        #expect(silent.received() >= 30)
    }
}

/// A DNS server that reads every query and never answers (python, bound on port 53 of a
/// loopback address of its own), counting what it got.
final class SilentDNS: @unchecked Sendable {
    let process: Process
    let countFile: URL

    init(address: String) throws {
        let dir = try LabNetwork.temporaryDirectory("silent-dns")
        countFile = dir.appendingPathComponent("count")
        let script = """
            import os, socket, sys
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(('\(address)', 53))
            def count(n):
                # Replaced whole, never truncated in place: a reader never sees an empty file.
                with open(sys.argv[1] + '.new', 'w') as f:
                    f.write(str(n))
                os.replace(sys.argv[1] + '.new', sys.argv[1])
            count(0)
            n = 0
            while True:
                udp.recv(4096)
                n += 1
                count(n)
            """
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, countFile.path]
        try process.run()
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: countFile.path) { usleep(20_000) }
        guard FileManager.default.fileExists(atPath: countFile.path) else { throw LabError("silent DNS did not start") }
    }

    func received() -> Int { (try? String(contentsOf: countFile, encoding: .utf8)).flatMap { Int($0) } ?? 0 }

    /// SIGKILL: python blocked in recv here does not end on SIGTERM.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
