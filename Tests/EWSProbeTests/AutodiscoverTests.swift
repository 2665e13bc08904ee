import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// `autodiscover` against real servers on loopback (`AutodiscoverLab`): dnsmasq for the names
/// and SRV records, nginx with Basic auth in front of a responder giving the documented POX
/// answers, certificates made at test time, and hostile answers. exchangelib (PyPI), run against
/// the same servers and DNS, is the oracle for the URL in every passing case.
@Suite(.serialized) struct AutodiscoverTests {
    static func autodiscover(_ report: ProbeReport) -> CheckResult? { report.checks.first { $0.check == "autodiscover" } }

    static func foundURL(_ result: CheckResult) -> String? {
        result.measurements.first { $0.name == "ewsprobe_autodiscover_ews_url_info" }?.labels.first { $0.0 == "url" }?.1
    }

    /// Every reason of the contract's table from a domain of the lab, each run within its time,
    /// the URL found equal to the lab's, and exchangelib finding the same URL in every passing
    /// case (but `srvorder`: exchangelib takes the highest SRV priority, RFC 2782 the lowest).
    @Test func everyDomainGivesItsVerdictAndExchangelibAgrees() async throws {
        let lab = try AutodiscoverLab()
        defer { lab.stop() }
        #expect(lab.domains.count >= 24)
        let runner = ProbeRunner(runtime: ProbeRuntime())
        var reasons: Set<String> = []
        for domain in lab.domains.keys.sorted() {
            let expected = try #require(lab.value(domain, "expect"))
            let started = ContinuousClock.now
            let report = await runner.run(try lab.target(domain))
            let took = ContinuousClock.now - started
            let result = try #require(Self.autodiscover(report))
            let said = "\(domain): \(result.status) \(result.reason ?? "-") \(result.summary) | \(result.trace.joined(separator: " / "))"
            #expect(took < .seconds(11), "\(said) took \(took)")
            if expected == "pass" {
                #expect(result.status == .pass, "\(said)")
                let url = lab.value(domain, "ews_url")
                #expect(Self.foundURL(result) == url, "\(said)")
                guard let url, domain != "srvorder.adlab.test" else { continue }
                let oracle = try lab.oracle(try #require(lab.value(domain, "email")))
                #expect(oracle["ews_url"] as? String == url, "exchangelib on \(domain): \(oracle)")
            } else {
                #expect(result.reason == expected, "\(said)")
                reasons.insert(expected)
            }
        }
        let table: Set<String> = [
            "ews_url_mismatch", "external_ews_url_missing", "address_not_found", "no_autodiscover", "auth_rejected", "redirect_loop",
            "insecure_redirect", "tls_untrusted", "invalid_response",
        ]
        #expect(reasons == table)
        let none = await runner.run(
            TargetConfig(
                name: "none", url: try #require(EndpointURL("https://mail.lab.test/EWS/Exchange.asmx")),
                module: ModuleConfig(name: "ad", checks: [AutodiscoverCheck()]), timeout: .seconds(5)))
        #expect(Self.autodiscover(none)?.reason == "no_address")
    }

    /// The order of the SRV records: lowest priority first, then the highest weight (exchangelib
    /// takes the highest priority, and finds the wrong host).
    @Test func srvRecordsInRFC2782Order() async throws {
        let lab = try AutodiscoverLab()
        defer { lab.stop() }
        let domain = "srvorder.adlab.test"
        let result = try #require(Self.autodiscover(await ProbeRunner(runtime: ProbeRuntime()).run(try lab.target(domain))))
        #expect(Self.foundURL(result) == "https://right.srvorder.adlab.test/EWS/Exchange.asmx", "\(result.trace)")
        let oracle = try lab.oracle(try #require(lab.value(domain, "email")))
        #expect(oracle["ews_url"] as? String == "https://wrong.srvorder.adlab.test/EWS/Exchange.asmx", "\(oracle)")
    }

    /// From nginx's own log: no credentials reached a plain-http candidate or redirect target,
    /// none an unverified certificate (the handshake ends before a request), and every candidate
    /// that got them asked for them first without.
    @Test func credentialsOnlyToVerifiedCandidatesThatAskForThem() async throws {
        let lab = try AutodiscoverLab()
        defer { lab.stop() }
        let runner = ProbeRunner(runtime: ProbeRuntime())
        for domain in ["root", "httponly", "insecure", "insecurehttp", "untrusted", "wrongname", "redirecturl"] {
            _ = await runner.run(try lab.target("\(domain).adlab.test", credentials: true))
        }
        let lines = lab.requests()
        #expect(lines.count > 5)
        for line in lines where line.contains(":80 ") {
            #expect(line.contains("auth=no"), "credentials over http: \(line)")
        }
        for line in lines where line.contains("untrusted.adlab.test") || line.contains("wrongname.adlab.test") {
            #expect(line.contains("auth=no"), "credentials to an unverified certificate: \(line)")
        }
        var asked: Set<String> = []
        for line in lines {
            let host = line.split(separator: " ").first { $0.hasPrefix("host=") }.map(String.init) ?? ""
            if line.contains("auth=no") && line.contains(" 401 ") { asked.insert(host) }
            if line.contains("auth=yes") { #expect(asked.contains(host), "credentials before a 401: \(line)") }
        }
        #expect(lines.contains { $0.contains("auth=yes") })
    }

    /// A redirect to another domain (here `redirectUrl` from redirecturl.adlab.test to
    /// autodiscover.adhost.adlab.test) does not take the credentials along unless that host is
    /// trusted: the walk stops at its 401 and says why; nginx saw no credentials there.
    @Test func credentialsStayWithinTheDomain() async throws {
        let lab = try AutodiscoverLab()
        defer { lab.stop() }
        let result = try #require(
            Self.autodiscover(await ProbeRunner(runtime: ProbeRuntime()).run(try lab.target("redirecturl.adlab.test", trusted: []))))
        #expect(result.status == .pass, "\(result.summary)")
        #expect(result.summary.contains("not sent") && result.summary.contains("trusted_hosts"), "\(result.summary)")
        let elsewhere = lab.requests().filter { $0.contains("host=\"autodiscover.adhost.adlab.test\"") }
        #expect(!elsewhere.isEmpty)
        #expect(elsewhere.allSatisfy { $0.contains("auth=no") }, "\(elsewhere)")
    }

    /// The shipped binary: the default EWS module ends with `autodiscover`; JSON details list
    /// every candidate with its outcome; the metrics the contract names are there.
    @Test func shippedBinaryReportsEveryCandidate() async throws {
        let lab = try AutodiscoverLab()
        defer { lab.stop() }
        let config = lab.directory.appendingPathComponent("ad.yml")
        let password = try DirectoryLab.passwordFile(AutodiscoverLab.password)
        try """
        modules:
          ad:
            checks: [dns, autodiscover]
            dns: {server: "127.0.0.1:\(lab.dnsPort)"}
            ca_file: \(lab.root)
        targets:
          - name: httponly
            url: \(lab.value("httponly.adlab.test", "target_url") ?? "")
            module: ad
            username: \(lab.user)
            password_file: \(password)
            mailbox_check: \(lab.value("httponly.adlab.test", "email") ?? "")
        """.write(to: config, atomically: true, encoding: .utf8)
        let run = try CommandLineTests.run(["probe", "--config", config.path, "--format", "json", "-v", "httponly"])
        #expect(run.stdout.contains("\"check\":\"autodiscover\",\"status\":\"pass\""), "\(run.stdout) \(run.stderr)")
        for candidate in [
            "\"candidate\":\"domain\"", "\"candidate\":\"autodiscover_host\"", "\"candidate\":\"http_redirect\"",
            "\"candidate\":\"redirect\"",
        ] {
            #expect(run.stdout.contains(candidate), "\(candidate) in \(run.stdout)")
        }
        #expect(!(run.stdout + run.stderr).contains(AutodiscoverLab.password))
        #expect(CheckRegistry.builtin.defaultModule(for: .ews).checkNames.last == "autodiscover")
    }

    /// Through an outbound proxy every candidate's request is a tunnel through it (squid's log),
    /// the names resolved by the proxy (its hosts file), and the verdict is the same.
    @Test func candidatesGoThroughTheProxy() async throws {
        let lab = try AutodiscoverLab()
        defer { lab.stop() }
        let addresses = try #require(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: lab.directory.appendingPathComponent("lab.json"))) as? [String: Any])?[
                "addresses"] as? [String: String])
        let root = try #require(addresses["root.adlab.test"])
        let squid = try ProxyLab(["squid-basic"], extra: ["--host", "root.adlab.test=\(root)"])
        defer { squid.stop() }
        var target = try lab.target("root.adlab.test")
        target.proxy = try ProxyLab.settings(squid.url)
        let result = try #require(Self.autodiscover(await ProbeRunner(runtime: ProbeRuntime()).run(target)))
        #expect(result.status == .pass, "\(result.summary) \(result.trace)")
        #expect(Self.foundURL(result) == lab.value("root.adlab.test", "ews_url"))
        #expect(squid.connectLines().contains { $0.contains("CONNECT root.adlab.test:443") }, "\(squid.connectLines())")
    }
}
