import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// `ewsprobe serve` as a process: its /metrics must satisfy promtool.
@Suite(.serialized) struct ServeTests {
    @Test func metricsPassPromtoolAndScrapesNeverProbe() async throws {
        let nginx = try NginxLab(serverBlock: CommandLineTests.exchangeLike)
        defer { nginx.stop() }
        let dir = try LabNetwork.temporaryDirectory("serve")
        let config = dir.appendingPathComponent("serve.yml")
        let closed = LabNetwork.freePort()
        try """
        global: {interval: 2s, timeout: 1s}
        modules:
          basic: {checks: [dns, tcp, tls, auth_methods, forms_auth, ews_login]}
        targets:
          - name: lab-ok
            url: http://mail.lab.test:\(nginx.port)/EWS/Exchange.asmx
            module: basic
            resolve: ["mail.lab.test:\(nginx.port):127.0.0.1"]
            labels: {site: "lab \\"one\\""}
          - name: lab-closed
            url: http://127.0.0.1:\(closed)/EWS/Exchange.asmx
        """.write(to: config, atomically: true, encoding: .utf8)
        let port = LabNetwork.freePort()
        let serve = try LabProcess(
            CommandLineTests.binary, ["serve", "--config", config.path, "--listen", "127.0.0.1:\(port)"], directory: dir, port: port)
        defer { serve.stop() }

        var text = ""
        for _ in 0..<60 {
            text = try await Self.get("http://127.0.0.1:\(port)/metrics")
            if text.contains("ewsprobe_probe_success{target=\"lab-ok\"}") && text.contains("ewsprobe_probe_success{target=\"lab-closed\"}")
            {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(text.contains("ewsprobe_probe_success{target=\"lab-ok\"} 1"))
        #expect(text.contains("ewsprobe_probe_success{target=\"lab-closed\"} 0"))
        #expect(text.contains("ewsprobe_check_failure_info{target=\"lab-closed\",check=\"tcp\",status=\"fail\",reason=\"refused\"} 1"))
        #expect(text.contains("ewsprobe_tcp_connect_seconds{target=\"lab-ok\",address=\"127.0.0.1\"}"))
        #expect(text.contains("ewsprobe_build_info"))

        // promtool from Debian's prometheus package is the independent judge of the format.
        let metricsFile = dir.appendingPathComponent("metrics.txt")
        try text.write(to: metricsFile, atomically: true, encoding: .utf8)
        let promtool = Process()
        promtool.executableURL = URL(fileURLWithPath: "/bin/sh")
        promtool.arguments = ["-c", "promtool check metrics < '\(metricsFile.path)' 2>&1"]
        let pipe = Pipe()
        promtool.standardOutput = pipe
        try promtool.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        while promtool.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        #expect(promtool.terminationStatus == 0, "\(output)")
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool warnings: \(output)")

        // Scrapes read the store: many scrapes in a row do not add runs.
        let scrapeStart = ContinuousClock.now
        let before = try await Self.get("http://127.0.0.1:\(port)/metrics")
        let runsBefore = Self.value(of: "ewsprobe_probe_runs_total{target=\"lab-ok\"}", in: before)
        for _ in 0..<20 { _ = try await Self.get("http://127.0.0.1:\(port)/metrics") }
        let after = try await Self.get("http://127.0.0.1:\(port)/metrics")
        let runsAfter = Self.value(of: "ewsprobe_probe_runs_total{target=\"lab-ok\"}", in: after)
        let scheduled = ((ContinuousClock.now - scrapeStart).seconds / 2).rounded(.down) + 1
        #expect(runsAfter - runsBefore <= scheduled, "21 scrapes must not add runs beyond the 2 s schedule")

        let probe = try await Self.get("http://127.0.0.1:\(port)/probe?target=lab-ok&format=json")
        #expect(probe.contains("\"name\":\"lab-ok\""))
        let unknown = try await Self.status("http://127.0.0.1:\(port)/probe?target=http://10.0.0.1/")
        #expect(unknown == 403, "an unconfigured URL is refused by default")
        #expect(try await Self.status("http://127.0.0.1:\(port)/-/healthy") == 200)
        let page = try await Self.get("http://127.0.0.1:\(port)/")
        #expect(page.contains("lab-closed") && page.contains("refused"))
    }

    static func value(of series: String, in text: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? -1
        }
        return -1
    }

    static func get(_ url: String) async throws -> String {
        try await ProbeRuntime.test.transport.exchange(HTTPRequest(url: url, bodyLimit: 8 << 20), policy: .oneShot).bodyText
    }

    static func status(_ url: String) async throws -> Int {
        try await ProbeRuntime.test.transport.exchange(HTTPRequest(url: url), policy: .oneShot).status
    }
}
