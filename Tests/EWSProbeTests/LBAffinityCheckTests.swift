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
        func target(port: Int, credentials: Bool = false) throws -> TargetConfig {
            var target = TargetConfig(
                name: "farm", url: EndpointURL("\(credentials ? "https" : "http")://mail.lab.test:\(port)/EWS/Exchange.asmx")!,
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
