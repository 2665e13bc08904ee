import Foundation
import Testing

@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The binary users run (`CommandLineTests.binary`: the release build under scripts/test.sh, the
/// AddressSanitizer build in its sanitizer run) against real peers, one test per C library's
/// path: OpenSSL loading a `ca_file`, libcurl's exchange, c-ares' lookup, libldap's session, and
/// the demo as a newcomer first sees it.
@Suite(.serialized) struct ShippedBinaryTests {
    /// One `ewsprobe probe --format json` run, its JSON Lines parsed.
    struct Probe {
        var status: Int32
        var reports: [[String: Any]]
        var stderr: String

        func check(_ name: String) -> [String: Any]? {
            (reports.first?["checks"] as? [[String: Any]])?.first { $0["check"] as? String == name }
        }
        func status(of name: String) -> String? { check(name)?["status"] as? String }
        func reason(of name: String) -> String? { check(name)?["reason"] as? String }
        func summary(of name: String) -> String { check(name)?["summary"] as? String ?? "" }
    }

    static func probe(_ arguments: [String]) throws -> Probe {
        let run = try CommandLineTests.run(["probe", "--format", "json"] + arguments)
        let reports = run.stdout.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        return Probe(status: run.status, reports: reports, stderr: run.stderr)
    }

    /// A private CA with an RSA root (as the report had it), a leaf for `host`, nginx serving it.
    final class RSALab: @unchecked Sendable {
        let pki: TestPKI
        let root: URL
        let nginx: NginxLab
        static let host = "ews.lab.test"

        init(serverBlock: String = "location / { return 200 'ok'; }") throws {
            pki = try TestPKI(name: "rsa-root")
            let root = try pki.issue("rsa-root", names: ["ewsprobe rsa root"], key: .rsa(2048), isCA: true, selfSign: true)
            self.root = root.0
            let leaf = try pki.issue("leaf", names: [Self.host], issuer: root, key: .rsa(2048))
            nginx = try NginxLab(
                serverBlock: """
                    ssl_certificate \(leaf.0.path);
                    ssl_certificate_key \(leaf.1.path);
                    \(serverBlock)
                    """, listenOptions: "ssl")
        }

        var resolve: [String] { ["--resolve", "\(Self.host):\(nginx.port):127.0.0.1"] }
    }

    /// The release binary trusted no `ca_file` at all: the trust store was read from freed memory.
    /// `openssl verify` and `s_client -CAfile` are the oracles for the same chain.
    @Test func caFileIsTrusted() throws {
        let lab = try RSALab()
        defer { lab.nginx.stop() }
        let url = "https://\(RSALab.host):\(lab.nginx.port)/EWS/Exchange.asmx"
        let trusted = try Self.probe(["--checks", "dns,tcp,tls", "--ca-file", lab.root.path] + lab.resolve + [url])
        #expect(trusted.status(of: "tls") == "pass", "\(trusted.summary(of: "tls")) \(trusted.stderr)")
        #expect(trusted.status == 0)
        // The same probe with no ca_file: the private root is unknown, so the fault is the chain.
        let untrusted = try Self.probe(["--checks", "dns,tcp,tls"] + lab.resolve + [url])
        #expect(untrusted.status(of: "tls") == "fail")
        // The server sends the leaf alone, so the root it names is not there to judge: a missing issuer.
        #expect(untrusted.reason(of: "tls") == "incomplete_chain", "\(untrusted.summary(of: "tls"))")
        #expect(
            try TestPKI.openssl(["verify", "-CAfile", lab.root.path, lab.pki.directory.appendingPathComponent("leaf.pem").path]).contains(
                "OK"))
        // A file that is not a certificate at all is a clear refusal, not a silent pass.
        let junk = try LabNetwork.temporaryDirectory("junk-ca").appendingPathComponent("junk.pem")
        try "not a certificate\n".write(to: junk, atomically: true, encoding: .utf8)
        let bad = try Self.probe(["--checks", "tls", "--ca-file", junk.path] + lab.resolve + [url])
        #expect(bad.status(of: "tls") == "fail")
    }

    /// The whole EWS path through libcurl with a `ca_file`: the login's exchange verifies the
    /// certificate with the same trust (curl is the oracle: it gets the same 401 with the same file).
    @Test func exchangeWithCAFile() throws {
        let lab = try RSALab(serverBlock: CommandLineTests.exchangeLike)
        defer { lab.nginx.stop() }
        let url = "https://\(RSALab.host):\(lab.nginx.port)/EWS/Exchange.asmx"
        let run = try Self.probe(["--checks", "dns,tcp,tls,auth_methods", "--ca-file", lab.root.path] + lab.resolve + [url])
        #expect(run.status(of: "tls") == "pass", "\(run.summary(of: "tls"))")
        #expect(run.status(of: "auth_methods") == "pass", "\(run.summary(of: "auth_methods"))")
        let curl = try Self.curl(["--cacert", lab.root.path, "--resolve", "\(RSALab.host):\(lab.nginx.port):127.0.0.1", url])
        #expect(curl == "401", "curl got \(curl)")
    }

    /// `ldaps://` to a TLS server that answers HTTP (a web server on 636, or a balancer sending
    /// 636 to HTTPS): the bytes inside TLS are not BER, so `not_ldap`, as over StartTLS.
    @Test func ldapsToAWebServerIsNotLDAP() throws {
        let lab = try RSALab(serverBlock: "location / { return 400; }")
        defer { lab.nginx.stop() }
        let url = "ldaps://\(RSALab.host):\(lab.nginx.port)"
        let run = try Self.probe(["--ca-file", lab.root.path] + lab.resolve + [url])
        #expect(run.status(of: "tls") == "pass", "\(run.summary(of: "tls"))")
        #expect(run.reason(of: "ldap") == "not_ldap", "\(run.summary(of: "ldap"))")
        // libldap reads the first eight bytes, enough to name a web server.
        #expect(run.summary(of: "ldap").contains("\"HTTP/1.1"), "\(run.summary(of: "ldap"))")
        #expect(run.status == 2)
    }

    /// libldap in the shipped binary: a healthy service account over LDAPS and StartTLS against
    /// slapd, with the directory's CA as `ca_file` (ldapwhoami binds the same way).
    @Test func directoryBindWithCAFile() throws {
        let lab = try LDAPCheckTests.Lab()
        defer { lab.slapd.process.stop() }
        let password = try DirectoryLab.passwordFile("Svc-Sync-Pass-1!")
        for url in [lab.ldaps, lab.ldap] {
            let port = url == lab.ldaps ? lab.slapd.ldapsPort : lab.slapd.ldapPort
            let run = try Self.probe([
                "--ca-file", lab.ca, "--username", LDAPCheckTests.dn("svc-sync"), "--password-file", password,
                "--mailbox-check", "user@example.com", "--resolve", "\(LDAPCheckTests.host):\(port):127.0.0.1", url,
            ])
            #expect(run.status == 0, "\(url): \(run.reports) \(run.stderr)")
            #expect(run.status(of: "ldap") == "pass", "\(url): \(run.summary(of: "ldap"))")
        }
    }

    /// c-ares in the shipped binary: a name only a hosts file of the test's own knows (bound over
    /// /etc/hosts in a mount namespace of its own; dnsmasq beside a child process hangs
    /// Foundation's reaping, see ResolverTests).
    @Test func nameResolvedFromTheHostsFile() throws {
        let hosts = try LabNetwork.temporaryDirectory("hosts").appendingPathComponent("hosts")
        try "127.0.0.1 localhost\n127.0.7.9 svc.lab.test\n".write(to: hosts, atomically: true, encoding: .utf8)
        let (status, output) = try ExporterTests.shell(
            "unshare -m sh -c 'mount --bind \(hosts.path) /etc/hosts && exec \(CommandLineTests.binary) probe"
                + " https://svc.lab.test/EWS/Exchange.asmx --checks dns --format json'")
        #expect(status == 0, "\(output)")
        #expect(output.contains("\"status\":\"pass\"") && output.contains("127.0.7.9"), "\(output)")
    }

    /// NIO's event loops run the binary's Swift tasks: its own installer finds the runtime's hook
    /// with dlsym, which the statically linked release build does not export, and `serve` then
    /// ran every task on the default pool, a thread hop each way per request.
    @Test func serveRunsItsTasksOnTheEventLoops() async throws {
        let port = LabNetwork.freePort()
        let dir = try LabNetwork.temporaryDirectory("event-loops")
        let config = dir.appendingPathComponent("serve.yml")
        try "targets:\n  - {name: closed, url: \"https://127.0.0.1:\(LabNetwork.freePort())/EWS/Exchange.asmx\", interval: 1h}\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let serve = try LabProcess(
            CommandLineTests.binary, ["serve", "--config", config.path, "--listen", "127.0.0.1:\(port)", "--log-level", "debug"],
            directory: dir, port: port)
        defer { serve.stop() }
        let answer = try await ServeTests.get("http://127.0.0.1:\(port)/probe?target=closed")
        #expect(answer.contains("ewsprobe_probe_success{target=\"closed\"} 0"), "\(answer)")
        let log = try String(contentsOf: dir.appendingPathComponent("process.log"), encoding: .utf8)
        #expect(log.contains("Swift concurrency runs on NIO's event loops"), "\(log)")
    }

    /// The demo exactly as scripts/demo.sh starts it (slapd present): the healthy targets pass
    /// every check and each broken one fails with the reason it was built to show.
    @Test func demoShowsWhatItPromises() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/sbin/slapd"), "scripts/setup.sh --test installs slapd")
        let port = LabNetwork.freePort()
        let demo = try LabProcess(
            CommandLineTests.binary, ["demo", "--listen", "127.0.0.1:\(port)"], directory: try LabNetwork.temporaryDirectory("demo"),
            port: port)
        defer { demo.stop() }
        // Its certificates, the directory's database and the cloud client's secret live in a
        // workspace of its own, which it removes when it stops.
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("ewsprobe-demo-run-\(demo.process.processIdentifier)")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: workspace.path)) ?? []
        #expect(
            files.contains { $0.hasPrefix("ca-") } && files.contains { $0.hasPrefix("cloud-") } && files.contains("ldap")
                && files.contains("proxy.password"), "\(files)")
        // target -> the check that must fail and its reason; nil: every check passes.
        let expected: [(String, (check: String, reason: String)?)] = [
            ("demo-healthy", nil),
            ("demo-directory-healthy", nil),
            ("demo-via-proxy", nil),
            ("demo-one-node-down", ("tcp", "refused")),
            ("demo-basic-disabled", ("auth_methods", "basic_not_offered")),
            ("demo-forms-login", ("forms_auth", "forms_login_detected")),
            ("demo-cert-self-signed-expiring", ("tls", "self_signed")),
            ("demo-cert-revoked", ("tls", "revoked")),
            ("demo-autodiscover-mismatch", ("autodiscover", "ews_url_mismatch")),
            ("demo-farm-not-sticky", ("lb_affinity", "backend_switch")),
            ("demo-port-closed", ("tcp", "refused")),
            ("demo-directory-password-expiring", ("ldap", "password_expiring")),
            ("demo-m365-healthy", nil),
            ("demo-m365-ews-blocked", ("exo_ews", "ews_blocked_by_policy")),
        ]
        for (target, failure) in expected {
            let json = try await ServeTests.get("http://127.0.0.1:\(port)/probe?target=\(target)&format=json")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "\(target): \(json)")
            let checks = try #require(report["checks"] as? [[String: Any]], "\(target): \(json)")
            let outcome = checks.map { "\($0["check"] ?? ""): \($0["status"] ?? "") \($0["reason"] ?? "") \($0["summary"] ?? "")" }
            if let failure {
                let failed = checks.first { $0["check"] as? String == failure.check }
                #expect(failed?["reason"] as? String == failure.reason, "\(target): \(outcome)")
                #expect(report["status"] as? String != "pass", "\(target): \(outcome)")
            } else {
                #expect(!checks.isEmpty && checks.allSatisfy { $0["status"] as? String == "pass" }, "\(target): \(outcome)")
            }
        }
        demo.stop()
        #expect(!FileManager.default.fileExists(atPath: workspace.path), "the demo left \(workspace.path) behind")
    }

    static func curl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--noproxy", "*"] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
