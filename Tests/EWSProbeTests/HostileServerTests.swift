import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// Broken and hostile servers: every probe ends within its timeout (plus a small margin) with a
/// specific reason, and nothing crashes.
@Suite(.serialized) struct HostileServerTests {
    static let timeout: Duration = .seconds(2)
    static let margin: Double = 1.5

    final class Hostile: @unchecked Sendable {
        let process: LabProcess
        let port: Int
        let directory: URL
        /// With `tls`: the CA of the server's certificate (for bad.lab.test).
        let pki: TestPKI?

        /// `arguments` follow the mode: the certificate chain and key of the `tls-` modes. `tls`
        /// wraps every connection in TLS (the modes that take credentials: they go only over TLS
        /// that verified); `environment` reaches the server (e.g. what it reflects).
        init(_ mode: String, arguments: [String] = [], tls: Bool = false, environment: [String: String] = [:]) throws {
            port = LabNetwork.freePort()
            directory = try LabNetwork.temporaryDirectory("hostile-\(mode)")
            var environment = environment
            if tls {
                let pki = try TestPKI(name: "hostile-pki-\(mode)")
                let (cert, key) = try pki.leaf("bad", names: ["bad.lab.test"])
                environment["TLS_CERT"] = cert.path
                environment["TLS_KEY"] = key.path
                self.pki = pki
            } else {
                pki = nil
            }
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/hostile_server.py")
            process = try LabProcess(
                "/usr/bin/env", ["python3", script.path, String(port), mode] + arguments, directory: directory, port: port,
                environment: environment)
        }

        func target(_ checks: [any Check], https: Bool = false, credentials: Bool = false) throws -> TargetConfig {
            var target = TargetConfig(
                name: "hostile", url: EndpointURL("\(https ? "https" : "http")://bad.lab.test:\(port)/EWS/Exchange.asmx")!,
                module: ModuleConfig(name: "m", checks: checks), resolve: [try ResolvePin.parse("bad.lab.test:\(port):127.0.0.1").get()])
            target.timeout = HostileServerTests.timeout
            target.caFile = pki?.caPEM.path
            if credentials {
                let file = directory.appendingPathComponent("password")
                try "secret-for-hostile".write(to: file, atomically: true, encoding: .utf8)
                target.username = "svc@lab.test"
                target.password = .file(file.path)
            }
            return target
        }
    }

    /// Runs with the scheduler's backstop, as `serve` does, and checks the time bound.
    func probe(_ target: TargetConfig) async -> ProbeReport {
        let start = ContinuousClock.now
        let report = await GuardedProbe(runner: ProbeRunner(runtime: .test)).run(target)
        let elapsed = (ContinuousClock.now - start).seconds
        #expect(elapsed < Self.timeout.seconds + Self.margin, "took \(elapsed) s")
        return report
    }

    /// Credentials go only over verified TLS, so a mode probed with them speaks TLS.
    func expect(_ mode: String, _ checks: [any Check], https: Bool = false, credentials: Bool = false, reasons: Set<String>) async throws {
        let server = try Hostile(mode, tls: credentials)
        defer { server.process.stop() }
        let report = await probe(try server.target(checks, https: https || credentials, credentials: credentials))
        let last = try #require(report.checks.last)
        #expect(reasons.contains(last.reason ?? "-"), "\(mode): \(last.check) \(last.reason ?? "-"): \(last.summary)")
    }

    @Test func silentAndSlowServers() async throws {
        try await expect("silent", [AuthMethodsCheck()], reasons: ["request_failed", "probe_timeout"])
        try await expect("drip", [AuthMethodsCheck()], reasons: ["request_failed", "probe_timeout"])
    }

    @Test func brokenTLS() async throws {
        try await expect("reset-tls", [TLSCheck()], https: true, reasons: ["handshake_failed"])
        try await expect("garbage", [TLSCheck()], https: true, reasons: ["handshake_failed"])
    }

    @Test func oversizedAnswers() async throws {
        try await expect("headers-1mib", [AuthMethodsCheck()], reasons: ["request_failed"])
        // 100 MiB of body: the transfer stops at the body cap; the 200 is judged.
        try await expect("body-100mib", [AuthMethodsCheck()], reasons: ["anonymous_allowed"])
        try await expect("body-100mib", [FormsAuthCheck()], reasons: ["-"])
        try await expect("many-auth", [AuthMethodsCheck()], reasons: ["expected_scheme_missing"])
    }

    @Test func malformedNTLMChallenges() async throws {
        for mode in ["ntlm-truncated", "ntlm-offsets", "ntlm-avpair", "ntlm-huge-av"] {
            try await expect(mode, [LBAffinityCheck()], reasons: ["ntlm_handshake_failed"])
        }
        // Closing the connection between legs: the census works, the handshake cannot.
        try await expect("ntlm-close", [LBAffinityCheck()], credentials: true, reasons: ["ntlm_handshake_failed"])
        // Closing after each CHALLENGE, said or not: the legs cannot share a connection.
        for mode in ["ntlm-close", "ntlm-hangup", "ntlm-http10"] {
            try await expect(mode, [LBAffinityCheck()], reasons: ["ntlm_handshake_failed"])
        }
    }

    @Test func brokenSOAPAnswers() async throws {
        try await expect("soap-notxml", [EWSLoginCheck()], credentials: true, reasons: ["not_ews"])
        try await expect("soap-nested", [EWSLoginCheck()], credentials: true, reasons: ["soap_error"])
        try await expect("soap-huge", [EWSLoginCheck()], credentials: true, reasons: ["soap_error"])
    }

    /// Hung targets do not delay the others: the healthy target keeps its 1 s schedule.
    @Test func schedulerKeepsOtherTargetsOnTime() async throws {
        let silent = try Hostile("silent")
        defer { silent.process.stop() }
        let dir = try LabNetwork.temporaryDirectory("hostile-sched")
        let config = dir.appendingPathComponent("serve.yml")
        var yaml = "global: {interval: 1s, timeout: 900ms, max_concurrency: 8}\nmodules:\n  m: {checks: [tcp, auth_methods]}\ntargets:\n"
        yaml += "  - {name: healthy, url: \"http://127.0.0.1:\(LabNetwork.freePort())/\", module: m}\n"
        for index in 0..<6 {
            yaml += "  - {name: hung\(index), url: \"http://127.0.0.1:\(silent.port)/EWS/Exchange.asmx\", module: m}\n"
        }
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let (serve, port) = try ExporterTests.serve(config)
        defer { serve.stop() }
        try await Task.sleep(for: .seconds(6))
        let text = try await ExporterTests.metrics(port)
        let runs = ServeTests.value(of: "ewsprobe_probe_runs_total{target=\"healthy\"}", in: text)
        #expect(runs >= 4, "healthy ran \(runs) times in 6 s")
        #expect(ServeTests.value(of: "ewsprobe_probe_runs_total{target=\"hung0\"}", in: text) >= 3)
    }
}
