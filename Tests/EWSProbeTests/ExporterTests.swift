import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// `serve` as an exporter: reload, the shipped rules and dashboard, and a real Prometheus.
@Suite(.serialized) struct ExporterTests {
    static let root = CommandLineTests.root

    static func serve(_ config: URL, extra: [String] = []) throws -> (LabProcess, Int) {
        let port = LabNetwork.freePort()
        let process = try LabProcess(
            CommandLineTests.binary, ["serve", "--config", config.path, "--listen", "127.0.0.1:\(port)"] + extra,
            directory: config.deletingLastPathComponent(), port: port)
        return (process, port)
    }

    static func metrics(_ port: Int) async throws -> String { try await ServeTests.get("http://127.0.0.1:\(port)/metrics") }

    static func waitFor(_ port: Int, seconds: Double = 15, until condition: (String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        var text = ""
        while Date() < deadline {
            text = try await metrics(port)
            if condition(text) { return text }
            try await Task.sleep(for: .milliseconds(100))
        }
        return text
    }

    static func post(_ url: String) async throws -> HTTPResponse {
        try await ProbeRuntime.test.transport.exchange(HTTPRequest(url: url, method: "POST", body: []), policy: .oneShot)
    }

    static func targets(_ names: [String], port: Int) -> String {
        "global: {interval: 1s, timeout: 900ms}\nmodules:\n  m: {checks: [dns, tcp]}\ntargets:\n"
            + names.map { "  - {name: \($0), url: \"http://127.0.0.1:\(port)/EWS/Exchange.asmx\", module: m}\n" }.joined()
    }

    @Test func reloadSwapsValidConfigsAndRefusesBrokenOnes() async throws {
        let dir = try LabNetwork.temporaryDirectory("reload")
        let config = dir.appendingPathComponent("serve.yml")
        let closed = LabNetwork.freePort()
        try Self.targets(["alpha", "beta"], port: closed).write(to: config, atomically: true, encoding: .utf8)
        let (serve, port) = try Self.serve(config)
        defer { serve.stop() }
        var text = try await Self.waitFor(port) {
            $0.contains("ewsprobe_probe_success{target=\"beta\"}") && $0.contains("target=\"alpha\"")
        }
        #expect(text.contains("ewsprobe_config_last_reload_successful 1"))

        // Valid: beta goes (with its series), gamma comes.
        try Self.targets(["alpha", "gamma"], port: closed).write(to: config, atomically: true, encoding: .utf8)
        let accepted = try await Self.post("http://127.0.0.1:\(port)/-/reload")
        #expect(accepted.status == 200, "\(accepted.bodyText)")
        text = try await Self.waitFor(port) { $0.contains("ewsprobe_probe_success{target=\"gamma\"}") }
        #expect(text.contains("target=\"gamma\""))
        #expect(!text.contains("target=\"beta\""))

        // Invalid: refused, the running configuration stays.
        try "targets:\n  - url: https://a.example.com/x\n    bogus: 1\n".write(to: config, atomically: true, encoding: .utf8)
        let refused = try await Self.post("http://127.0.0.1:\(port)/-/reload")
        #expect(refused.status == 400)
        #expect(refused.bodyText.contains("serve.yml:3"))
        text = try await Self.metrics(port)
        #expect(text.contains("ewsprobe_config_last_reload_successful 0"))
        #expect(text.contains("target=\"gamma\"") && text.contains("target=\"alpha\""))

        // SIGHUP reloads too.
        try Self.targets(["delta"], port: closed).write(to: config, atomically: true, encoding: .utf8)
        kill(serve.process.processIdentifier, SIGHUP)
        text = try await Self.waitFor(port) { $0.contains("ewsprobe_probe_success{target=\"delta\"}") && !$0.contains("target=\"alpha\"") }
        #expect(text.contains("target=\"delta\"") && !text.contains("target=\"gamma\""))
        #expect(text.contains("ewsprobe_config_last_reload_successful 1"))
    }

    @Test func shardsSplitTheFleetWithoutOverlap() throws {
        let config = try ConfigLoader.load(yaml: Self.targets((0..<40).map { "t\($0)" }, port: 1), name: "fleet.yml")
        let shards = (0..<3).map { config.shard($0, of: 3).targets.map(\.name) }
        #expect(shards.map(\.count).reduce(0, +) == 40)
        #expect(Set(shards.flatMap { $0 }).count == 40)
        #expect(shards.allSatisfy { !$0.isEmpty })
    }

    @Test func shippedAlertRulesPassTheirPromtoolTests() throws {
        let run = try Self.shell(
            "cd '\(Self.root.appendingPathComponent("dashboards").path)' && promtool check rules alerts.yml && promtool test rules alerts_test.yml"
        )
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("SUCCESS"))
    }

    /// Every metric the dashboard and the rules use exists in a real /metrics of the demo.
    @Test func dashboardAndRulesUseOnlyExistingMetrics() async throws {
        let dashboard = try Data(contentsOf: Self.root.appendingPathComponent("dashboards/grafana-ewsprobe.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: dashboard) as? [String: Any])
        let panels = try #require(object["panels"] as? [[String: Any]])
        #expect(panels.count >= 8)
        let rules = try String(contentsOf: Self.root.appendingPathComponent("dashboards/alerts.yml"), encoding: .utf8)
        let used = Self.metricNames(in: String(decoding: dashboard, as: UTF8.self) + rules)
        #expect(used.count >= 12)

        let port = LabNetwork.freePort()
        let demo = try LabProcess(
            CommandLineTests.binary, ["demo", "--listen", "127.0.0.1:\(port)"], directory: try LabNetwork.temporaryDirectory("demo"),
            port: port)
        defer { demo.stop() }
        // The demo's first runs are spread over its 15 s interval.
        let text = try await Self.waitFor(port, seconds: 25) {
            $0.contains("ewsprobe_lb_backends") && $0.contains("ewsprobe_tls_fault_info") && $0.contains("ewsprobe_forms_login_detected")
                && $0.contains("ewsprobe_http_duration_seconds") && $0.contains("ewsprobe_ldap_password_expiry_timestamp_seconds")
                && $0.contains("ewsprobe_ldap_clock_skew_seconds") && $0.contains("ewsprobe_proxy_connect_seconds")
                && $0.contains("ewsprobe_autodiscover_ews_url_match") && $0.contains("ewsprobe_tls_revocation_status")
                && $0.contains("ewsprobe_revocation_fetch_seconds_count") && $0.contains("ewsprobe_api_retry_after_seconds")
                && $0.contains("ewsprobe_oauth_credential_expiry_timestamp_seconds") && $0.contains("ewsprobe_exo_ews_success")
        }
        let exposed = Self.metricNames(in: text)
        for name in used {
            #expect(exposed.contains(name), "\(name) is used by dashboards/ but not exposed")
        }
    }

    /// A real Prometheus scrapes `serve` with the shipped scrape config and rules (their `for:`
    /// shortened so the test need not wait minutes) and fires an alert for a broken endpoint.
    @Test func prometheusScrapesAndFiresAnAlert() async throws {
        let dir = try LabNetwork.temporaryDirectory("prometheus")
        let config = dir.appendingPathComponent("serve.yml")
        try Self.targets(["broken"], port: LabNetwork.freePort()).write(to: config, atomically: true, encoding: .utf8)
        let (serve, servePort) = try Self.serve(config)
        defer { serve.stop() }

        let rules = try String(contentsOf: Self.root.appendingPathComponent("dashboards/alerts.yml"), encoding: .utf8)
            .replacingOccurrences(of: #"for: \d+[smh]"#, with: "for: 0s", options: .regularExpression)
        try rules.write(to: dir.appendingPathComponent("alerts.yml"), atomically: true, encoding: .utf8)
        let scrape = try String(contentsOf: Self.root.appendingPathComponent("dashboards/prometheus.yml"), encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:9905", with: "127.0.0.1:\(servePort)")
            .replacingOccurrences(of: "scrape_interval: 30s", with: "scrape_interval: 1s")
            .replacingOccurrences(of: "evaluation_interval: 30s", with: "evaluation_interval: 1s")
        try scrape.write(to: dir.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let promPort = LabNetwork.freePort()
        let prometheus = try LabProcess(
            "/usr/bin/prometheus",
            [
                "--config.file=\(dir.appendingPathComponent("prometheus.yml").path)",
                "--storage.tsdb.path=\(dir.appendingPathComponent("data").path)",
                "--web.listen-address=127.0.0.1:\(promPort)",
            ], directory: dir, port: promPort)
        defer { prometheus.stop() }

        let api = "http://127.0.0.1:\(promPort)/api/v1"
        var series = ""
        var alerts = ""
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline {
            series = try await ServeTests.get("\(api)/query?query=ewsprobe_tcp_connect_success")
            alerts = try await ServeTests.get("\(api)/alerts")
            if series.contains("\"target\":\"broken\"") && alerts.contains("EWSPortUnreachable") && alerts.contains("\"state\":\"firing\"")
            {
                break
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(series.contains("\"target\":\"broken\""), "\(series)")
        #expect(alerts.contains("\"alertname\":\"EWSPortUnreachable\""), "\(alerts)")
        #expect(alerts.contains("\"state\":\"firing\""), "\(alerts)")
    }

    static func metricNames(in text: String) -> Set<String> {
        let regex = try! NSRegularExpression(pattern: "ewsprobe_[a-z0-9_]+")
        let range = NSRange(text.startIndex..., in: text)
        return Set(
            regex.matches(in: text, range: range).compactMap { Range($0.range, in: text).map { String(text[$0]) } }.map { name in
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && name.contains("_seconds") {
                    return String(name.dropLast(suffix.count))
                }
                return name
            })
    }

    static func shell(_ command: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " 2>&1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        while process.isRunning { usleep(10_000) }
        return (process.terminationStatus, output)
    }
}
