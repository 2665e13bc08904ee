import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// `lb_affinity` against pyspnego NTLM backends, directly and behind HAProxy in several modes.
@Suite(.serialized) struct LBAffinityCheckTests {
    static let user = "svc@lab.test"
    static let password = "Lab-Passw0rd!"

    final class Farm: @unchecked Sendable {
        let directory: URL
        var backends: [(name: String, port: Int, process: LabProcess)] = []
        var proxy: LabProcess?
        var proxyPort = 0
        let passwordFile: URL
        /// The CA of the TLS certificate (mail.lab.test) of whichever of backends or proxy speaks TLS.
        let pki: TestPKI
        let cert: (URL, URL)

        /// `backendTLS`: the backends speak TLS themselves (probed directly with credentials,
        /// which go only over verified TLS).
        init(names: [String], mode: String = "ntlm", backendTLS: Bool = false) throws {
            directory = try LabNetwork.temporaryDirectory("farm")
            pki = try TestPKI(name: "farm-pki")
            cert = try pki.leaf("mail", names: ["mail.lab.test"])
            var environment: [String: String] = [:]
            let users = directory.appendingPathComponent("ntlm-users")
            try ":\(LBAffinityCheckTests.user):\(LBAffinityCheckTests.password)\n".write(to: users, atomically: true, encoding: .utf8)
            passwordFile = directory.appendingPathComponent("password")
            try LBAffinityCheckTests.password.write(to: passwordFile, atomically: true, encoding: .utf8)
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/ntlm_backend.py")
            environment["NTLM_USER_FILE"] = users.path
            if backendTLS {
                environment["TLS_CERT"] = cert.0.path
                environment["TLS_KEY"] = cert.1.path
            }
            for name in names {
                let port = LabNetwork.freePort()
                let process = try LabProcess(
                    "/usr/bin/env", ["python3", script.path, String(port), name, mode], directory: directory, port: port,
                    environment: environment)
                backends.append((name, port, process))
            }
        }

        /// HAProxy in front of the backends; `backendOptions` go into its backend section. With
        /// `tls` it terminates TLS (for probes with credentials).
        func startProxy(_ backendOptions: String, tls: Bool = false) throws {
            proxyPort = LabNetwork.freePort()
            let bundle = try pki.bundle("mail-haproxy", [cert.0, cert.1])
            let servers = backends.enumerated().map { "  server cas\($0.offset + 1) 127.0.0.1:\($0.element.port)" }.joined(separator: "\n")
            let config = directory.appendingPathComponent("haproxy-\(proxyPort).cfg")
            try """
            global
              maxconn 256
            defaults
              mode http
              timeout connect 2s
              timeout client 10s
              timeout server 10s
            frontend ews
              bind 127.0.0.1:\(proxyPort)\(tls ? " ssl crt \(bundle.path)" : "")
              default_backend cas
            backend cas
            \(backendOptions)
            \(servers)

            """.write(to: config, atomically: true, encoding: .utf8)
            proxy = try LabProcess("/usr/sbin/haproxy", ["-f", config.path, "-db"], directory: directory, port: proxyPort)
        }

        /// With credentials the URL is https (the backends or the proxy must speak TLS).
        func target(port: Int, credentials: Bool = false, https: Bool = false) throws -> TargetConfig {
            var target = TargetConfig(
                name: "farm", url: EndpointURL("\(credentials || https ? "https" : "http")://mail.lab.test:\(port)/EWS/Exchange.asmx")!,
                module: ModuleConfig(name: "m", checks: [LBAffinityCheck()]),
                resolve: [try ResolvePin.parse("mail.lab.test:\(port):127.0.0.1").get()])
            target.timeout = .seconds(10)
            target.caFile = pki.caPEM.path
            if credentials {
                target.username = LBAffinityCheckTests.user
                target.password = .file(passwordFile.path)
            }
            return target
        }

        func stop() {
            proxy?.stop()
            backends.forEach { $0.process.stop() }
        }
    }

    static func run(_ target: TargetConfig) async -> CheckResult {
        await ProbeRunner(runtime: .test).run(target).checks[0]
    }

    @Test func directBackendPassesAndAcceptsOurAuthenticate() async throws {
        let farm = try Farm(names: ["CAS1"], backendTLS: true)
        defer { farm.stop() }
        let result = await Self.run(try farm.target(port: farm.backends[0].port, credentials: true))
        #expect(result.status == .pass, "\(result.summary)")
        #expect(result.summary.contains("cas1.lab.test"))
        // pyspnego, an independent NTLM implementation, accepted our NTLMv2 AUTHENTICATE (with MIC).
        #expect(result.measurements.contains { $0.name == "ewsprobe_ntlm_handshake_success" && $0.value == 1 }, "\(result.notes)")
        #expect(result.measurements.contains { $0.name == "ewsprobe_lb_affinity_ratio" && $0.value == 1 })
        #expect(result.notes.contains { $0.contains("rejected on connection B") }, "\(result.notes)")
    }

    @Test func wrongPasswordFailsTheHandshake() async throws {
        let farm = try Farm(names: ["CAS1"], backendTLS: true)
        defer { farm.stop() }
        var target = try farm.target(port: farm.backends[0].port, credentials: true)
        let wrong = farm.directory.appendingPathComponent("wrong")
        try "nope".write(to: wrong, atomically: true, encoding: .utf8)
        target.password = .file(wrong.path)
        let result = await Self.run(target)
        #expect(result.reason == "ntlm_handshake_failed", "\(result.summary)")
    }

    @Test func backendWithoutNTLMIsSkipped() async throws {
        let farm = try Farm(names: ["CAS1"], mode: "basic-only")
        defer { farm.stop() }
        let result = await Self.run(try farm.target(port: farm.backends[0].port))
        #expect(result.status == .skip)
        #expect(result.reason == "ntlm_not_offered")
    }

    @Test func stickyBySourceAddressPasses() async throws {
        let farm = try Farm(names: ["CAS1", "CAS2", "CAS3"])
        defer { farm.stop() }
        try farm.startProxy("  balance source", tls: true)
        let result = await Self.run(try farm.target(port: farm.proxyPort, credentials: true))
        #expect(result.status == .pass, "\(result.summary) \(result.notes)")
        #expect(result.measurements.contains { $0.name == "ewsprobe_lb_backends" && $0.value == 1 })
        // HAProxy terminates TLS and keeps sessions: every later census connection resumed.
        #expect(result.notes.contains("TLS: 5 of 5 later census connections resumed the session offered"), "\(result.notes)")
    }

    /// A later census connection that reaches a server without NTLM skips the check, as the
    /// first one does (round robin over one NTLM backend and one Basic-only).
    @Test func aCensusConnectionWithoutNTLMSkips() async throws {
        let farm = try Farm(names: ["CAS1"])
        let basicOnly = try Farm(names: ["CAS2"], mode: "basic-only")
        defer {
            farm.stop()
            basicOnly.stop()
        }
        farm.backends += basicOnly.backends
        try farm.startProxy("  balance roundrobin")
        let result = await Self.run(try farm.target(port: farm.proxyPort))
        #expect(result.status == .skip, "\(result.summary)")
        #expect(result.reason == "ntlm_not_offered")
    }

    /// Resuming does not hide a balancer that spreads fresh connections: HAProxy terminating TLS
    /// resumes every session and still hands each connection to the next server.
    @Test func roundRobinBehindTLSIsABackendSwitchWhileResuming() async throws {
        let farm = try Farm(names: ["CAS1", "CAS2", "CAS3"])
        defer { farm.stop() }
        try farm.startProxy("  balance roundrobin", tls: true)
        let result = await Self.run(try farm.target(port: farm.proxyPort, https: true))
        #expect(result.reason == "backend_switch", "\(result.summary)")
        #expect(result.measurements.contains { $0.name == "ewsprobe_lb_backends" && $0.value == 3 })
        #expect(result.notes.contains("TLS: 5 of 5 later census connections resumed the session offered"), "\(result.notes)")
    }

    /// TLS passed through to servers that name nobody: no identity, but a session one server
    /// issued is refused by the other, so the census shows connections reaching both. HAProxy in
    /// tcp mode, round robin weighted 2:1, guarantees both a repeat and a change among six.
    @Test func tlsPassthroughWithoutNamesShowsTheSplit() async throws {
        let servers = try [HostileServerTests.Hostile("ntlm-noname", tls: true), HostileServerTests.Hostile("ntlm-noname", tls: true)]
        defer { servers.forEach { $0.process.stop() } }
        let port = LabNetwork.freePort()
        let config = servers[0].directory.appendingPathComponent("haproxy-tcp.cfg")
        try """
        global
          maxconn 256
        defaults
          mode tcp
          timeout connect 2s
          timeout client 10s
          timeout server 10s
        listen ews
          bind 127.0.0.1:\(port)
          balance roundrobin
          server a 127.0.0.1:\(servers[0].port) weight 2
          server b 127.0.0.1:\(servers[1].port) weight 1

        """.write(to: config, atomically: true, encoding: .utf8)
        let haproxy = try LabProcess("/usr/sbin/haproxy", ["-f", config.path, "-db"], directory: servers[0].directory, port: port)
        defer { haproxy.stop() }
        var target = try servers[0].target([LBAffinityCheck()], https: true)
        target.url = EndpointURL("https://bad.lab.test:\(port)/EWS/Exchange.asmx")!
        target.resolve = [try ResolvePin.parse("bad.lab.test:\(port):127.0.0.1").get()]
        target.timeout = .seconds(10)
        let result = await Self.run(target)
        #expect(result.reason == "inconclusive", "\(result.summary)")
        #expect(result.summary.contains("resumed the TLS session offered, which suggests more than one TLS endpoint"), "\(result.summary)")
        var full = LBAffinityCheck()
        full.tlsResumption = false
        target.module = ModuleConfig(name: "m", checks: [full])
        let withoutResumption = await Self.run(target)
        #expect(withoutResumption.reason == "inconclusive")
        #expect(!withoutResumption.summary.contains("TLS"), "\(withoutResumption.summary)")
        #expect(!withoutResumption.notes.contains { $0.hasPrefix("TLS:") })
    }

    /// Round robin with HAProxy's default keep-alive: HAProxy keeps a connection that got an NTLM
    /// 401 on its server, so legs stay put and only fresh connections move.
    @Test func roundRobinPerConnectionIsABackendSwitch() async throws {
        let farm = try Farm(names: ["CAS1", "CAS2", "CAS3"])
        defer { farm.stop() }
        try farm.startProxy("  balance roundrobin")
        let result = await Self.run(try farm.target(port: farm.proxyPort))
        #expect(result.status == .fail)
        #expect(result.reason == "backend_switch", "\(result.summary)")
        #expect(result.summary.contains("cas1.lab.test") && result.summary.contains("cas2.lab.test"))
        #expect(result.measurements.contains { $0.name == "ewsprobe_lb_backends" && $0.value == 3 })
    }

    @Test func perRequestRebalancingWithinAConnection() async throws {
        let farm = try Farm(names: ["CAS1", "CAS2"])
        defer { farm.stop() }
        // Closing the server side after each response defeats HAProxy's 401 stickiness: every
        // request of one client connection is balanced anew.
        try farm.startProxy("  balance roundrobin\n  option http-server-close")
        let result = await Self.run(try farm.target(port: farm.proxyPort))
        #expect(result.status == .fail)
        #expect(result.reason == "connection_rebalanced", "\(result.summary)")
        #expect(result.summary.contains("cas1.lab.test") && result.summary.contains("cas2.lab.test"))
    }
}
