import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// What adversarial testing found (issue 15), each against a hostile server on loopback: server
/// text cannot forge report lines, server values cannot grow the labels, an NTLM challenge needs
/// a name and a kept connection, and a handshake's verdict survives the HTTP exchange after it.
@Suite(.serialized) struct HostileFindingsTests {
    typealias Hostile = HostileServerTests.Hostile

    /// With the scheduler's backstop, as `serve` runs it. The timeout is longer than the
    /// hostile lab's 2 s: these cases are about verdicts, and the machine may be busy.
    func probe(_ target: TargetConfig, timeout: Duration = .seconds(10)) async -> ProbeReport {
        var target = target
        target.timeout = timeout
        return await GuardedProbe(runner: ProbeRunner(runtime: .test)).run(target)
    }

    /// Every label value of an exposition that a server could have chosen (all but the
    /// configured `url`) within the bound, printable, one line.
    static func expectBoundedLabels(_ text: String, _ context: String) throws {
        let pair = try Regex(#"([a-z_]+)="((?:[^"\\]|\\.)*)""#)
        for match in text.matches(of: pair) {
            guard let name = match.output[1].substring, let value = match.output[2].substring, name != "url" else { continue }
            #expect(value.utf8.count <= LabelValue.maxBytes + 8, "\(context): \(name) has \(value.utf8.count) bytes")
            #expect(!value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(context): \(name) has control characters")
        }
    }

    /// Defect 8: a certificate name with newlines, ESC and BEL cannot add report lines or reach
    /// the terminal raw; neither can it reach the labels.
    @Test func serverTextCannotForgeReportLines() async throws {
        let pki = try TestPKI(name: "evil-cn")
        let cert = pki.directory.appendingPathComponent("evil.pem")
        let key = pki.directory.appendingPathComponent("evil.key")
        let forged = "x\n  [PASS] ews_login forged\n  => PASS\u{1b}[2K\u{07}"
        let sans = (1...40).map { "DNS:s\($0)-\(String(repeating: "n", count: 50)).lab.test" }.joined(separator: ",")
        try TestPKI.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.path, "-out", cert.path,
            "-days", "3", "-subj", "/CN=\(forged)", "-addext", "subjectAltName=DNS:bad.lab.test,\(sans)",
        ])
        let server = try Hostile("tls-exchange", arguments: [cert.path, key.path])
        defer { server.process.stop() }
        let target = try server.target([TLSCheck(), AuthMethodsCheck()], https: true)
        let report = await probe(target)
        #expect(report.checks[0].reason == "self_signed", "\(report.checks[0].summary)")
        #expect(report.checks[0].summary.contains(forged), "the check keeps the name as sent")
        for verbose in [false, true] {
            let text = HumanReport.render(report, verbose: verbose)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.filter { $0.hasPrefix("  [") }.count == report.checks.count, "\(text)")
            #expect(lines.filter { $0.hasPrefix("  =>") }.count == 1, "\(text)")
            #expect(!text.unicodeScalars.contains { $0 == "\u{1b}" || $0 == "\u{07}" }, "raw ESC or BEL")
            #expect(text.contains(#"x\n  [PASS] ews_login forged\n  => PASS\x1b[2K\x07"#), "\(text)")
        }
        let metrics = String(decoding: MetricsRenderer.render(report: report, target: target), as: UTF8.self)
        #expect(metrics.contains("ewsprobe_tls_cert_info{"))
        try Self.expectBoundedLabels(metrics, "evil certificate")
    }

    /// Defect 9: 200 made-up 1 KB schemes fold into one `other` series with their count; a
    /// 1 KB NTLM computer name with escape sequences becomes a bounded, printable label.
    @Test func serverChosenLabelsAreBounded() async throws {
        let schemes = try Hostile("many-schemes")
        defer { schemes.process.stop() }
        let schemesTarget = try schemes.target([AuthMethodsCheck()])
        let offered = await probe(schemesTarget)
        #expect(offered.checks[0].status == .pass, "\(offered.checks[0].summary.prefix(300))")
        #expect(offered.checks[0].summary == "401 offering negotiate, ntlm, basic, 200 other schemes")
        let text = String(decoding: MetricsRenderer.render(report: offered, target: schemesTarget), as: UTF8.self)
        let series = text.split(separator: "\n").filter { $0.hasPrefix("ewsprobe_auth_scheme_offered{") }
        #expect(series.count == 4, "\(series.map { $0.prefix(80) })")
        #expect(text.contains("ewsprobe_auth_scheme_offered{target=\"hostile\",scheme=\"other\"} 1"))
        #expect(text.contains("ewsprobe_auth_other_schemes_offered{target=\"hostile\"} 200"))
        try Self.expectBoundedLabels(text, "200 schemes")

        let names = try Hostile("ntlm-longname")
        defer { names.process.stop() }
        let namesTarget = try names.target([LBAffinityCheck()])
        let census = await probe(namesTarget)
        #expect(census.checks[0].status == .pass, "\(census.checks[0].summary.prefix(300))")
        let lb = String(decoding: MetricsRenderer.render(report: census, target: namesTarget), as: UTF8.self)
        #expect(lb.contains("ewsprobe_lb_backend_info{"))
        #expect(lb.contains("ewsprobe_lb_backends{target=\"hostile\",address=\"127.0.0.1\"} 1"))
        try Self.expectBoundedLabels(lb, "long NTLM name")
    }

    /// Defect 13: empty NTLM names (only a domain, an OS version and a clock) and no Exchange
    /// headers identify nobody: inconclusive, not sticky.
    @Test func challengeWithoutNamesIsInconclusive() async throws {
        let server = try Hostile("ntlm-noname")
        defer { server.process.stop() }
        let result = await probe(try server.target([LBAffinityCheck()])).checks[0]
        #expect(result.status == .warn, "\(result.summary)")
        #expect(result.reason == "inconclusive", "\(result.summary)")
        #expect(!result.measurements.contains { $0.name == "ewsprobe_lb_backend_info" })
    }

    /// Defect 14: a server that ends the connection after every CHALLENGE (`Connection: close`,
    /// or a body without end) cannot carry NTLM: the legs never shared a connection.
    @Test func challengeOnAConnectionThatEnds() async throws {
        for (mode, cause) in [("ntlm-close", "Connection: close"), ("ntlm-endless", "did not end")] {
            let server = try Hostile(mode)
            defer { server.process.stop() }
            let result = await probe(try server.target([LBAffinityCheck()])).checks[0]
            #expect(result.status == .fail, "\(mode): \(result.summary)")
            #expect(result.reason == "ntlm_handshake_failed", "\(mode): \(result.summary)")
            #expect(result.summary.contains("leg 2 of 4 needed a new connection") && result.summary.contains(cause), "\(result.summary)")
        }
    }

    /// `openssl s_client` as the independent judge of the handshake and the chain.
    static func sClientVerifies(port: Int, caFile: URL, host: String) throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "s_client", "-connect", "127.0.0.1:\(port)", "-servername", host, "-verify_hostname", host, "-CAfile", caFile.path,
            "-verify_return_error",
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Defect 15: the handshake completes, then the server closes or stalls. `tls` judges the
    /// handshake at once (as `openssl s_client` does) and keeps its series; only the HTTP check fails.
    @Test func handshakeStandsWhenTheExchangeFails() async throws {
        let pki = try TestPKI(name: "hostile-tls")
        let intermediate = try pki.issue("inter", names: ["hostile test intermediate"], isCA: true)
        let (leaf, key) = try pki.issue("leaf", names: ["bad.lab.test"], issuer: intermediate)
        let chain = try pki.bundle("chain", [leaf, intermediate.0])
        for mode in ["tls-close", "tls-stall"] {
            let server = try Hostile(mode, arguments: [chain.path, key.path])
            defer { server.process.stop() }
            #expect(try Self.sClientVerifies(port: server.port, caFile: pki.caPEM, host: "bad.lab.test"), "\(mode): s_client")
            var target = try server.target([TCPCheck(), TLSCheck(), AuthMethodsCheck()], https: true)
            target.caFile = pki.caPEM.path
            let report = await probe(target, timeout: .seconds(5))
            let (tcp, tls, auth) = (report.checks[0], report.checks[1], report.checks[2])
            #expect(tcp.status == .pass, "\(mode): tcp \(tcp.summary)")
            #expect(tls.status == .pass, "\(mode): tls \(tls.reason ?? "-"): \(tls.summary)")
            #expect(tls.measurements.contains { $0.name == "ewsprobe_tls_cert_not_after_timestamp_seconds" }, "\(mode)")
            #expect(tls.measurements.contains { $0.name == "ewsprobe_tls_verified" && $0.value == 1 }, "\(mode)")
            #expect(auth.reason == "request_failed", "\(mode): auth_methods \(auth.reason ?? "-"): \(auth.summary)")
            // The verdict comes with the handshake, not with the HTTP timeout (5 s).
            #expect(tcp.durationSeconds + tls.durationSeconds < 2.5, "\(mode): \(tcp.durationSeconds) + \(tls.durationSeconds) s")
        }
    }
}
