import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The outbound proxy against real proxies on loopback: squid with Basic and with NTLM (pyspnego
/// accepting), tinyproxy, and hostile proxies (`proxy_lab.py`). curl through the same proxy to
/// the same origin is the independent client for every verdict.
@Suite(.serialized) struct ProxyTests {
    static let host = "ews.lab.test"
    static let denied = "denied.lab.test"

    /// An HTTPS origin (nginx) answering like Exchange's EWS without credentials, with a
    /// certificate from a test CA, logging every client address.
    final class Origin: @unchecked Sendable {
        let pki: TestPKI
        let nginx: NginxLab
        let log: URL

        init() throws {
            pki = try TestPKI(name: "proxy-origin")
            let (cert, key) = try pki.issue("origin", names: [ProxyTests.host, ProxyTests.denied], ipAddresses: ["127.0.0.1"])
            log = try LabNetwork.temporaryDirectory("origin-log").appendingPathComponent("access.log")
            nginx = try NginxLab(
                serverBlock: """
                    ssl_certificate \(cert.path);
                    ssl_certificate_key \(key.path);
                    access_log \(log.path);
                    \(CommandLineTests.exchangeLike)
                    """, listenOptions: "ssl")
        }

        var ca: String { pki.caPEM.path }
        var port: Int { nginx.port }
        func url(_ host: String = ProxyTests.host, port: Int? = nil) -> String {
            "https://\(host):\(port ?? self.port)/EWS/Exchange.asmx"
        }
        /// The client address of every request nginx logged.
        func clients() -> [String] {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map { String($0.prefix { $0 != " " }) }
        }
    }

    static func squidBasic() throws -> ProxyLab {
        try ProxyLab(
            ["squid-basic"], extra: ["--deny-host", denied, "--host", "\(host)=127.0.0.1", "--host", "\(denied)=127.0.0.1"])
    }

    static func target(
        _ url: String, proxy: ProxySettings?, checks: [String] = ["dns", "tcp", "tls", "auth_methods"], caFile: String?,
        timeout: Duration = .seconds(8)
    ) throws -> TargetConfig {
        let endpoint = try #require(EndpointURL(url))
        let module = try CheckRegistry.builtin.defaultModule(for: .ews).selecting(checks, registry: .builtin)
        var target = TargetConfig(name: "proxied", url: endpoint, module: module, timeout: timeout)
        target.caFile = caFile
        target.proxy = proxy
        return target
    }

    static func run(_ target: TargetConfig) async -> ProbeReport { await ProbeRunner(runtime: .test).run(target) }

    static func outcome(_ report: ProbeReport) -> String {
        report.checks.map { "\($0.check): \($0.status) \($0.reason ?? "") \($0.summary)" }.joined(separator: " | ")
    }

    /// squid with Basic: each contract reason from the proxy's own answer, and curl through the
    /// same squid gets the same CONNECT status in every case.
    @Test func squidBasicGivesEveryProxyReason() async throws {
        let origin = try Origin()
        defer { origin.nginx.stop() }
        let squid = try Self.squidBasic()
        defer { squid.stop() }
        let good = try ProxyLab.settings(squid.url)
        let wrong = try ProxyLab.settings(squid.url, password: "not-the-password")
        let none = try ProxyLab.settings(squid.url, password: nil)
        let credentials = "\(ProxyLab.user):\(ProxyLab.password)"
        let closedPort = LabNetwork.freePort()
        let cases: [(String, ProxySettings, String?, Int, String?)] = [
            // url, proxy settings, curl's --proxy-user, the CONNECT status, tcp's reason
            (origin.url(), good, credentials, 200, nil),
            (origin.url(), none, nil, 407, "proxy_auth_required"),
            (origin.url(), wrong, "\(ProxyLab.user):not-the-password", 407, "proxy_auth_rejected"),
            (origin.url(Self.denied), good, credentials, 403, "proxy_denied"),
            (origin.url(port: closedPort), good, credentials, 503, "proxy_tunnel_failed"),
        ]
        for (url, proxy, curlCredentials, status, reason) in cases {
            let report = await Self.run(try Self.target(url, proxy: proxy, caFile: origin.ca))
            let tcp = try #require(report.check("tcp"))
            #expect(tcp.reason == reason, "\(url): \(Self.outcome(report))")
            #expect(
                tcp.measurements.first { $0.name == "ewsprobe_proxy_tunnel_status_code" }?.value == Double(status),
                "\(url): \(Self.outcome(report))")
            let curl = try ProxyLab.curl(squid.url, url, caFile: origin.ca, credentials: curlCredentials)
            #expect(curl.connect == status, "curl's CONNECT status for \(url): \(curl)")
            if reason == nil {
                // Through the tunnel the origin is judged as if direct: its certificate, its 401.
                #expect(report.checks.allSatisfy { $0.status == .pass }, "\(Self.outcome(report))")
                #expect(curl.status == 401)
                #expect(tcp.measurements.contains { $0.name == "ewsprobe_proxy_connect_seconds" })
                #expect(report.check("dns")?.details.contains { $0.0 == "source" && $0.1 == .string("proxy") } == true)
            } else {
                // The checks after tcp give the tunnel's reason, not a verdict on an origin never reached.
                #expect(report.check("tls")?.reason == reason, "\(Self.outcome(report))")
                #expect(report.check("auth_methods")?.reason == reason, "\(Self.outcome(report))")
            }
        }
        // Nothing listens on the proxy's port: no connection to the proxy at all.
        let dead = try ProxyLab.settings("http://127.0.0.1:\(LabNetwork.freePort())")
        let report = await Self.run(try Self.target(origin.url(), proxy: dead, caFile: origin.ca))
        #expect(report.check("tcp")?.reason == "proxy_unreachable", "\(Self.outcome(report))")
    }

    /// squid asking for NTLM (its helper accepts with pyspnego): the direct client's two-round
    /// handshake on the CONNECT connection and libcurl's (the login) both get through; a wrong
    /// password is rejected; curl --proxy-ntlm agrees.
    @Test func squidNTLMProxyAuthentication() async throws {
        let origin = try Origin()
        defer { origin.nginx.stop() }
        let squid = try ProxyLab(["squid-ntlm"])
        defer { squid.stop() }
        let url = origin.url("127.0.0.1")
        let good = try ProxyLab.settings(squid.url)
        var target = try Self.target(url, proxy: good, checks: ["tcp", "tls", "auth_methods", "ews_login"], caFile: origin.ca)
        target.username = "svc@lab.test"
        target.password = .file(try DirectoryLab.passwordFile("Svc-Pass-1!"))
        let report = await Self.run(target)
        #expect(report.check("tcp")?.status == .pass, "\(Self.outcome(report))")
        #expect(report.check("tls")?.status == .pass, "\(Self.outcome(report))")
        // The origin's own 401 to the login: the tunnel through the NTLM proxy worked for libcurl too.
        #expect(report.check("ews_login")?.reason == "auth_rejected", "\(Self.outcome(report))")
        #expect(
            try ProxyLab.curl(squid.url, url, caFile: origin.ca, credentials: "\(ProxyLab.user):\(ProxyLab.password)", ntlm: true).connect
                == 200)

        let wrong = try ProxyLab.settings(squid.url, password: "not-the-password")
        let rejected = await Self.run(try Self.target(url, proxy: wrong, checks: ["tcp"], caFile: origin.ca))
        #expect(rejected.check("tcp")?.reason == "proxy_auth_rejected", "\(Self.outcome(rejected))")
        #expect(rejected.check("tcp")?.trace.contains { $0.contains("sent NTLM") } == true, "\(rejected.check("tcp")?.trace ?? [])")
        #expect(
            try ProxyLab.curl(squid.url, url, caFile: origin.ca, credentials: "\(ProxyLab.user):not-the-password", ntlm: true).connect
                == 407)
        // Basic offered to an NTLM-only proxy is not what ewsprobe does: it answered in NTLM.
        let log = (try? String(contentsOf: squid.directory.appendingPathComponent("ntlm_helper.log"), encoding: .utf8)) ?? ""
        #expect(!log.isEmpty, "the NTLM helper saw no exchange")
    }

    /// tinyproxy without authentication: the tunnel opens with no credentials configured.
    @Test func tinyproxyWithoutAuthentication() async throws {
        let origin = try Origin()
        defer { origin.nginx.stop() }
        let tinyproxy = try ProxyLab(["tinyproxy"])
        defer { tinyproxy.stop() }
        let url = origin.url("127.0.0.1")
        let report = await Self.run(try Self.target(url, proxy: try ProxyLab.settings(tinyproxy.url, password: nil), caFile: origin.ca))
        #expect(report.checks.allSatisfy { $0.status == .pass }, "\(Self.outcome(report))")
        #expect(try ProxyLab.curl(tinyproxy.url, url, caFile: origin.ca, credentials: nil) == (200, 401))
    }

    /// Both HTTP clients tunnel through the same connector contract: the same request through
    /// squid on the direct client and on libcurl gets the same status and the same proxy facts.
    @Test func bothClientsTunnelAlike() async throws {
        let origin = try Origin()
        defer { origin.nginx.stop() }
        let squid = try Self.squidBasic()
        defer { squid.stop() }
        for password in [ProxyLab.password, "not-the-password"] {
            let target = try Self.target(origin.url(), proxy: try ProxyLab.settings(squid.url, password: password), caFile: origin.ca)
            let ctx = ProbeContext(target: target, runtime: .test)
            var request = ctx.request(pinnedTo: "127.0.0.1")
            request.verifyPeer = false
            var seen: [HTTPClientRoute: (Int?, Int)] = [:]
            for route in [HTTPClientRoute.direct, .curl] {
                do throws(TransportError) {
                    let response = try await ProbeRuntime.test.transport.exchange(request, policy: .oneShot, route: route)
                    seen[route] = (response.connection.proxy?.status, response.status)
                } catch {
                    seen[route] = (error.connection.proxy?.status, 0)
                }
            }
            #expect(seen[.direct]?.0 == seen[.curl]?.0 && seen[.direct]?.1 == seen[.curl]?.1, "\(password): \(seen)")
            #expect(seen[.direct]?.0 == (password == ProxyLab.password ? 200 : 407), "\(seen)")
        }
    }

    /// With a proxy, no connection of any HTTP check goes anywhere but the proxy: ewsprobe binds
    /// 127.0.0.9, so the origin's log (every request from squid, 127.0.0.1) and squid's (every
    /// CONNECT from 127.0.0.9) show it.
    @Test func everyConnectionGoesThroughTheProxy() async throws {
        let origin = try Origin()
        defer { origin.nginx.stop() }
        let squid = try Self.squidBasic()
        defer { squid.stop() }
        let before = origin.clients().count
        var target = try Self.target(
            origin.url(), proxy: try ProxyLab.settings(squid.url),
            checks: ["dns", "tcp", "tls", "auth_methods", "forms_auth", "lb_affinity", "ews_login"], caFile: origin.ca)
        target.sourceAddress = "127.0.0.9"
        target.username = "svc@lab.test"
        target.password = .file(try DirectoryLab.passwordFile("Svc-Pass-1!"))
        let report = await Self.run(target)
        #expect(report.check("tcp")?.status == .pass, "\(Self.outcome(report))")
        let clients = origin.clients().dropFirst(before)
        #expect(clients.count >= 3, "the origin saw \(clients.count) requests")
        #expect(clients.allSatisfy { $0 == "127.0.0.1" }, "origin clients: \(Array(clients))")
        let connects = squid.connectLines()
        #expect(connects.count >= 3, "\(connects)")
        #expect(connects.allSatisfy { $0.split(separator: " ", omittingEmptySubsequences: true)[2] == "127.0.0.9" }, "\(connects)")
    }

    /// Hostile proxies: silent, 200 then garbage or a close, an endless header block, an unknown
    /// scheme, 407 forever to NTLM, 502. Each ends within the timeout with a reason; the proxy
    /// password appears nowhere in what the run reports.
    @Test func hostileProxies() async throws {
        let origin = try Origin()
        defer { origin.nginx.stop() }
        let cases: [([String], String, String?)] = [
            // mode, tcp's reason (pass: ""), tls's reason
            (["silent"], "proxy_tunnel_failed", nil),
            (["garbage-after-200"], "", "handshake_failed"),
            (["close-after-200"], "", "handshake_failed"),
            (["endless-headers"], "proxy_tunnel_failed", "proxy_tunnel_failed"),
            (["unknown-scheme"], "proxy_auth_rejected", "proxy_auth_rejected"),
            (["ntlm-loop"], "proxy_auth_rejected", "proxy_auth_rejected"),
            (["status", "502"], "proxy_tunnel_failed", "proxy_tunnel_failed"),
        ]
        for (mode, tcpReason, tlsReason) in cases {
            let proxy = try ProxyLab(mode)
            defer { proxy.stop() }
            let start = ContinuousClock.now
            let report = await Self.run(
                try Self.target(
                    origin.url("127.0.0.1"), proxy: try ProxyLab.settings(proxy.url), checks: ["tcp", "tls"], caFile: origin.ca,
                    timeout: .seconds(2)))
            let took = ContinuousClock.now - start
            #expect(took < .seconds(4), "\(mode): took \(took)")
            #expect((report.check("tcp")?.reason ?? "") == tcpReason, "\(mode): \(Self.outcome(report))")
            if let tlsReason { #expect(report.check("tls")?.reason == tlsReason, "\(mode): \(Self.outcome(report))") }
            let rendered = Self.outcome(report) + report.checks.flatMap(\.trace).joined()
            let basic = Data("\(ProxyLab.user):\(ProxyLab.password)".utf8).base64EncodedString()
            #expect(!rendered.contains(ProxyLab.password) && !rendered.contains(basic), "\(mode) leaked the proxy password")
        }
    }

    /// The environment never routes a probe: HTTPS_PROXY and NO_PROXY naming a dead proxy change
    /// nothing, and `no_proxy` in the configuration sends a host direct.
    @Test func environmentIsIgnoredAndNoProxyGoesDirect() async throws {
        let origin = try Origin()
        defer { origin.nginx.stop() }
        let dead = "http://127.0.0.1:\(LabNetwork.freePort())"
        let run = try CommandLineTests.run(
            [
                "probe", "--checks", "tcp,tls,auth_methods", "--ca-file", origin.ca, "--resolve", "\(Self.host):\(origin.port):127.0.0.1",
                "--format", "json", origin.url(),
            ], environment: ["HTTPS_PROXY": dead, "https_proxy": dead, "ALL_PROXY": dead, "NO_PROXY": "", "PATH": "/usr/bin:/bin"])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        var settings = try ProxyLab.settings(dead)
        settings.noProxy = [".lab.test"]
        let spec = TargetSpec(name: "direct", url: try #require(EndpointURL(origin.url())))
        var module = CheckRegistry.builtin.defaultModule(for: .ews)
        module.proxy = settings
        let built = try TargetAssembly.build(spec, module: module, global: GlobalConfig())
        #expect(built.proxy == nil, "a no_proxy host goes direct")
        let directory = try TargetAssembly.build(
            TargetSpec(name: "dir", url: try #require(EndpointURL("ldaps://dc1.lab.test"))), module: module, global: GlobalConfig())
        #expect(directory.proxy == nil, "the ldap check is never proxied")
        let other = try TargetAssembly.build(
            TargetSpec(name: "other", url: try #require(EndpointURL("https://mail.example.com/EWS/Exchange.asmx"))), module: module,
            global: GlobalConfig())
        #expect(other.proxy?.port == settings.port)
    }

    /// The CLI's flags against squid, in the shipped binary: the tunnel and its reason in JSON,
    /// the proxy password nowhere in what it prints.
    @Test func cliFlags() async throws {
        let origin = try Origin()
        defer { origin.nginx.stop() }
        let squid = try Self.squidBasic()
        defer { squid.stop() }
        let passwordFile = try DirectoryLab.passwordFile(ProxyLab.password)
        let base = [
            "probe", "--checks", "dns,tcp,tls,auth_methods", "--ca-file", origin.ca, "--format", "json", "--proxy", squid.url,
        ]
        let ok = try CommandLineTests.run(base + ["--proxy-username", ProxyLab.user, "--proxy-password-file", passwordFile, origin.url()])
        #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
        #expect(ok.stdout.contains("\"source\":\"proxy\""))
        let wrong = try CommandLineTests.run(
            base + [
                "--proxy-username", ProxyLab.user, "--proxy-password-file", try DirectoryLab.passwordFile("Wrong-Pass-7"), origin.url(),
            ]
        )
        #expect(wrong.status == 2)
        #expect(wrong.stdout.contains("\"reason\":\"proxy_auth_rejected\""), "\(wrong.stdout)")
        let bare = try CommandLineTests.run(base + [origin.url()])
        #expect(bare.stdout.contains("\"reason\":\"proxy_auth_required\""), "\(bare.stdout)")
        for text in [ok.stdout, ok.stderr, wrong.stdout, wrong.stderr] {
            #expect(!text.contains(ProxyLab.password) && !text.contains("Wrong-Pass-7"))
        }
        let usage = try CommandLineTests.run(["probe", "--proxy", "http://user:pw@127.0.0.1:3128", origin.url()])
        #expect(usage.status == 3 && usage.stderr.contains("--proxy"), "\(usage.stderr)")
        let half = try CommandLineTests.run(["probe", "--proxy", squid.url, "--proxy-username", "u", origin.url()])
        #expect(half.status == 3, "\(half.stderr)")
    }
}
