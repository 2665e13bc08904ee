import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// Revocation in `tls` against real peers on loopback (`RevocationLab`): CRLs made by
/// `openssl ca -gencrl` and served by nginx, `openssl ocsp` as a delegated responder, nginx
/// stapling, and hostile responders and distribution points. openssl's own verdict on every
/// site (`openssl verify -crl_check_all`, `openssl ocsp`, `openssl s_client -status`) is the
/// oracle the verdicts are checked against.
@Suite(.serialized) struct RevocationTests {
    /// What `tls` must conclude on each site, which source decides, and what openssl says.
    struct Expectation {
        var reason: String?
        var status: CheckStatus
        /// The `ewsprobe_tls_revocation_status` series expected (source -> value), all of them.
        var series: [String: Double]
        /// The oracle's key and the prefix its verdict must start with.
        var oracle: [String: String]
    }

    static let expectations: [String: Expectation] = [
        "good": .init(reason: nil, status: .pass, series: ["crl": 0], oracle: ["crl": "good", "ocsp": "good"]),
        "revoked": .init(reason: "revoked", status: .fail, series: ["crl": 1], oracle: ["crl": "revoked", "ocsp": "revoked"]),
        "crl-good": .init(reason: nil, status: .pass, series: ["crl": 0], oracle: ["crl": "good", "ocsp": "none"]),
        "crl-revoked": .init(reason: "revoked", status: .fail, series: ["crl": 1], oracle: ["crl": "revoked"]),
        "ocsp-good": .init(reason: nil, status: .pass, series: ["ocsp": 0, "crl": 0], oracle: ["ocsp": "good"]),
        "ocsp-revoked": .init(reason: "revoked", status: .fail, series: ["ocsp": 1, "crl": 0], oracle: ["ocsp": "revoked"]),
        "ocsp-unknown": .init(reason: "revocation_unknown", status: .warn, series: ["ocsp": 2, "crl": 0], oracle: ["ocsp": "unknown"]),
        "no-sources": .init(reason: nil, status: .pass, series: ["crl": 0], oracle: ["crl": "none", "ocsp": "none"]),
        "stapled-good": .init(reason: nil, status: .pass, series: ["stapled": 0, "crl": 0], oracle: ["stapled": "good"]),
        "stapled-revoked": .init(reason: "revoked", status: .fail, series: ["stapled": 1, "crl": 0], oracle: ["stapled": "revoked"]),
        "stapled-stale": .init(
            reason: "ocsp_response_stale", status: .warn, series: ["crl": 0], oracle: ["stapled": "error", "crl": "good"]),
        "ocsp-silent": .init(reason: "revocation_unknown", status: .warn, series: ["ocsp": 2, "crl": 0], oracle: ["ocsp": "error"]),
        "ocsp-garbage": .init(reason: "revocation_unknown", status: .warn, series: ["ocsp": 2, "crl": 0], oracle: ["ocsp": "error"]),
        "ocsp-wrong-serial": .init(reason: "revocation_unknown", status: .warn, series: ["ocsp": 2, "crl": 0], oracle: ["ocsp": "error"]),
        "ocsp-unrelated-key": .init(reason: "revocation_unknown", status: .warn, series: ["ocsp": 2, "crl": 0], oracle: ["ocsp": "error"]),
        "crl-huge": .init(reason: "revocation_unknown", status: .warn, series: ["crl": 2], oracle: ["crl": "error"]),
        "crl-wrong-key": .init(reason: "revocation_unknown", status: .warn, series: ["crl": 2], oracle: ["crl": "error"]),
        "crl-expired": .init(reason: "revocation_unknown", status: .warn, series: ["crl": 2], oracle: ["crl": "error"]),
        "crl-silent": .init(reason: "revocation_unknown", status: .warn, series: ["crl": 2], oracle: [:]),
        "crl-garbage": .init(reason: "revocation_unknown", status: .warn, series: ["crl": 2], oracle: ["crl": "error"]),
        "crl-fallback-ocsp": .init(reason: nil, status: .pass, series: ["ocsp": 0, "crl": 0], oracle: ["ocsp": "good"]),
        "revoked-intermediate": .init(reason: "revoked", status: .fail, series: ["crl": 1], oracle: ["crl": "revoked"]),
    ]

    static func tls(_ report: ProbeReport) -> CheckResult? { report.checks.first { $0.check == "tls" } }

    static func series(_ result: CheckResult) -> [String: Double] {
        var out: [String: Double] = [:]
        for measurement in result.measurements where measurement.name == "ewsprobe_tls_revocation_status" {
            if let source = measurement.labels.first(where: { $0.0 == "source" })?.1 { out[source] = measurement.value }
        }
        return out
    }

    /// Every reason of the contract's revocation table from a real peer, the deciding source
    /// as the metrics say, and openssl agreeing on every site.
    @Test func everySiteGivesItsVerdictAndOpenSSLAgrees() async throws {
        let lab = try RevocationLab()
        defer { lab.stop() }
        #expect(Set(lab.sites.keys) == Set(Self.expectations.keys), "the lab's sites changed")
        let runner = ProbeRunner(runtime: ProbeRuntime())
        for (site, expected) in Self.expectations.sorted(by: { $0.key < $1.key }) {
            let report = await runner.run(try lab.target(site))
            let result = try #require(Self.tls(report), "\(site)")
            let said = "\(site): \(result.status) \(result.reason ?? "-") \(result.summary) | \(result.notes.joined(separator: " / "))"
            #expect(result.status == expected.status, "\(said)")
            #expect(result.reason == expected.reason, "\(said)")
            #expect(Self.series(result) == expected.series, "\(said) \(Self.series(result))")
            let oracle = try lab.oracle(site)
            for (key, prefix) in expected.oracle {
                #expect(
                    oracle[key]?.hasPrefix(prefix) == true, "openssl on \(site): \(key) = \(oracle[key] ?? "nothing"), expected \(prefix)")
            }
        }
    }

    /// Two hundred targets whose certificates name one CRL, probed at the same moment: nginx
    /// serves that CRL once, and every target is judged good from it.
    @Test func oneCRLFetchServesTwoHundredTargets() async throws {
        let lab = try RevocationLab()
        defer { lab.stop() }
        let runner = ProbeRunner(runtime: ProbeRuntime())
        let targets = try (0..<200).map { try lab.target("crl-good", name: "t\($0)", timeout: .seconds(20)) }
        let statuses = await withTaskGroup(of: CheckStatus?.self) { group in
            for target in targets { group.addTask { Self.tls(await runner.run(target))?.status } }
            var all: [CheckStatus?] = []
            for await status in group { all.append(status) }
            return all
        }
        #expect(statuses.count == 200)
        #expect(statuses.allSatisfy { $0 == .pass }, "\(statuses.filter { $0 != .pass })")
        #expect(lab.requests(for: "/int.crl") == 1)
        #expect(lab.requests(for: "/root.crl") == 1)
    }

    /// A silent distribution point shared by two hundred targets: one request reaches it, every
    /// run ends within its own time with `revocation_unknown`, and a healthy target probed at the
    /// same moment passes untouched.
    @Test func silentDistributionPointSharedByAFleet() async throws {
        let lab = try RevocationLab()
        defer { lab.stop() }
        let runner = ProbeRunner(runtime: ProbeRuntime())
        let silent = try (0..<200).map { try lab.target("crl-silent", name: "s\($0)", timeout: .seconds(4)) }
        let healthy = try lab.target("crl-good", name: "healthy", timeout: .seconds(4))
        let start = ContinuousClock.now
        let results = await withTaskGroup(of: (String, CheckResult?, Duration).self) { group in
            for target in silent + [healthy] {
                group.addTask {
                    let began = ContinuousClock.now
                    let report = await runner.run(target)
                    return (target.name, Self.tls(report), ContinuousClock.now - began)
                }
            }
            var all: [(String, CheckResult?, Duration)] = []
            for await result in group { all.append(result) }
            return all
        }
        let elapsed = ContinuousClock.now - start
        for (name, result, took) in results {
            if name == "healthy" {
                #expect(result?.status == .pass, "\(result?.summary ?? "")")
            } else {
                #expect(result?.reason == "revocation_unknown", "\(name): \(result?.summary ?? "")")
            }
            #expect(took < .seconds(6), "\(name) took \(took)")
        }
        #expect(elapsed < .seconds(10))
        #expect(lab.hostileRequests(for: "/silent.crl") == 1)
    }

    /// The shipped binary: `--revocation off` skips the lookup, the JSON details carry each
    /// certificate's state, and `require_stapling` warns on a server that staples nothing.
    @Test func commandLineAndSettings() async throws {
        let lab = try RevocationLab()
        defer { lab.stop() }
        let base = ["probe", "--checks", "dns,tcp,tls", "--ca-file", lab.root, "--format", "json"]
        let revoked = try CommandLineTests.run(base + ["--resolve", lab.pin("revoked").description, lab.url("revoked")])
        #expect(revoked.status == 2, "\(revoked.stdout) \(revoked.stderr)")
        #expect(revoked.stdout.contains("\"reason\":\"revoked\""), "\(revoked.stdout)")
        let off = try CommandLineTests.run(base + ["--revocation", "off", "--resolve", lab.pin("revoked").description, lab.url("revoked")])
        #expect(off.status == 0, "\(off.stdout) \(off.stderr)")
        let bad = try CommandLineTests.run(base + ["--revocation", "maybe", lab.url("revoked")])
        #expect(bad.status == 3 && bad.stderr.contains("--revocation"), "\(bad.stderr)")

        let config = lab.directory.appendingPathComponent("stapling.yml")
        try """
        modules:
          stapling:
            checks: [dns, tcp, tls]
            ca_file: \(lab.root)
            tls: {require_stapling: true}
        targets:
          - name: unstapled
            url: \(lab.url("good"))
            module: stapling
            resolve: ["\(lab.pin("good").description)"]
          - name: stapled
            url: \(lab.url("stapled-good"))
            module: stapling
            resolve: ["\(lab.pin("stapled-good").description)"]
        """.write(to: config, atomically: true, encoding: .utf8)
        let unstapled = try CommandLineTests.run(["probe", "--config", config.path, "--format", "json", "unstapled"])
        #expect(unstapled.status == 1, "\(unstapled.stdout)")
        #expect(unstapled.stdout.contains("\"reason\":\"ocsp_stapling_missing\""), "\(unstapled.stdout)")
        let stapled = try CommandLineTests.run(["probe", "--config", config.path, "--format", "json", "-v", "stapled"])
        #expect(stapled.status == 0, "\(stapled.stdout)")
        let text = try CommandLineTests.run(["probe", "--config", config.path, "stapled"])
        #expect(text.stdout.contains("OCSP stapling: stapled"), "\(text.stdout)")
        #expect(text.stdout.contains("revocation #0 stapled-good.rev.test: good (the stapled OCSP response"), "\(text.stdout)")
        #expect(text.stdout.contains("revocation #1 Revocation Lab Intermediate: good (the CRL http://127.0.0.1:\(lab.httpPort)/root.crl"))
    }

    /// Through an outbound proxy the CRLs are fetched through it, like every other request:
    /// squid's log has the tunnel to the CRL server, and the verdict is the same as direct.
    @Test func fetchesGoThroughTheProxy() async throws {
        let lab = try RevocationLab()
        defer { lab.stop() }
        let squid = try ProxyLab(["squid-basic"], extra: ["--host", "\(lab.host("crl-revoked"))=127.0.0.1"])
        defer { squid.stop() }
        var target = try lab.target("crl-revoked")
        target.proxy = try ProxyLab.settings(squid.url)
        target.resolve = []  // the proxy resolves the site's name (its hosts file)
        let report = await ProbeRunner(runtime: ProbeRuntime()).run(target)
        let result = try #require(Self.tls(report))
        #expect(result.reason == "revoked", "\(result.summary)")
        let tunnels = squid.connectLines()
        #expect(tunnels.contains { $0.contains("CONNECT 127.0.0.1:\(lab.httpPort)") }, "\(tunnels)")
        #expect(lab.requests(for: "/int.crl") == 1)
    }

    /// A directory is judged the same way: slapd presenting the revoked site's chain over LDAPS
    /// and after StartTLS, and the good one's.
    @Test func directoriesGetTheSameJudgement() async throws {
        let lab = try RevocationLab()
        defer { lab.stop() }
        let runner = ProbeRunner(runtime: ProbeRuntime())
        for (site, reason) in [("revoked", Optional("revoked")), ("good", nil)] {
            let info = try #require(lab.sites[site])
            let chain = URL(fileURLWithPath: try #require(info["chain"] as? String))
            let key = URL(fileURLWithPath: try #require(info["key"] as? String))
            let slapd = try DirectoryLab.Slapd(certificate: (chain, key), ca: URL(fileURLWithPath: lab.root))
            defer { slapd.process.stop() }
            for url in ["ldaps://\(lab.host(site)):\(slapd.ldapsPort)", "ldap://\(lab.host(site)):\(slapd.ldapPort)"] {
                let endpoint = try #require(EndpointURL(url))
                let module = try CheckRegistry.builtin.defaultModule(for: .directory).selecting(["dns", "tcp", "tls"], registry: .builtin)
                var target = TargetConfig(name: site, url: endpoint, module: module, timeout: .seconds(6))
                target.caFile = lab.root
                target.resolve = [ResolvePin(host: lab.host(site), port: endpoint.port, addresses: ["127.0.0.1"])]
                let result = try #require(Self.tls(await runner.run(target)))
                #expect(result.reason == reason, "\(url): \(result.status) \(result.summary)")
                #expect(Self.series(result)["crl"] == (reason == nil ? 0 : 1), "\(url): \(result.measurements.map(\.name))")
            }
        }
    }
}
