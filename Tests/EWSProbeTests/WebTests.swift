import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The exporter's own endpoints: `--web.config.file` (TLS, client certificates, bcrypt users,
/// headers, rate limit), the `/probe` URL policy and limits, and the status page in a real
/// browser. curl is the independent client; htpasswd (Apache's own bcrypt) makes the hashes.
@Suite(.serialized) struct WebTests {
    static let endpoints = ["/metrics", "/", "/status?target=up", "/probe?target=up", "/-/healthy", "/-/ready"]

    /// The HTTP status curl sees, or 0 when there is no HTTP answer at all (TLS refused, ...).
    static func curlStatus(_ arguments: String) throws -> Int {
        Int(try ExporterTests.shell("curl -s -o /dev/null --max-time 10 -w '%{http_code}' \(arguments)").output.suffix(3)) ?? -1
    }

    static func bcrypt(user: String, password: String) throws -> String {
        let line = try ExporterTests.shell("htpasswd -nbBC 5 \(user) '\(password)'").output
        return String(line.split(separator: "\n")[0].drop { $0 != ":" }.dropFirst())
    }

    /// A config with one target that passes (a silent peer accepts TCP) and one that fails.
    static func fleet(_ dir: URL, up: Int) throws -> URL {
        let config = dir.appendingPathComponent("serve.yml")
        try """
        global: {interval: 1s, timeout: 900ms}
        modules:
          m: {checks: [tcp]}
        targets:
          - {name: up, url: "http://127.0.0.1:\(up)/EWS/Exchange.asmx", module: m}
          - {name: down, url: "http://127.0.0.1:\(LabNetwork.freePort())/EWS/Exchange.asmx", module: m}
        """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    /// 200 wrong-password requests at once against a cost-12 bcrypt hash: the hashing threads
    /// and their queue fill, the rest get 503 at once, and the probes (DNS through c-ares,
    /// connects) beside them keep passing every run.
    @Test func bcryptFloodLeavesProbingUntouched() async throws {
        let (listener, up) = LabNetwork.silentListener()
        defer { close(listener) }
        let dir = try LabNetwork.temporaryDirectory("bcrypt-flood")
        let config = dir.appendingPathComponent("serve.yml")
        try """
        global: {interval: 1s, timeout: 900ms}
        modules:
          m: {checks: [dns, tcp]}
        targets:
          - {name: up, url: "http://localhost:\(up)/EWS/Exchange.asmx", module: m}
        """.write(to: config, atomically: true, encoding: .utf8)
        let hash = String(
            try ExporterTests.shell("htpasswd -nbBC 12 prometheus 'right horse'").output.split(separator: "\n")[0].drop { $0 != ":" }
                .dropFirst())
        try "basic_auth_users:\n  prometheus: '\(hash)'\n".write(
            to: dir.appendingPathComponent("web.yml"), atomically: true, encoding: .utf8)
        let (serve, port) = try ExporterTests.serve(config, extra: ["--web.config.file", "web.yml"])
        defer { serve.stop() }
        let auth = "-u 'prometheus:right horse'"
        try await Task.sleep(for: .seconds(2))
        let before = try ExporterTests.shell("curl -s --max-time 20 \(auth) http://127.0.0.1:\(port)/metrics").output
        let flood = try ExporterTests.shell(
            "seq 200 | xargs -P 100 -I{} curl -s -o /dev/null --max-time 30 -w '%{http_code}\\n' -u 'prometheus:wrong{}' http://127.0.0.1:\(port)/metrics"
        ).output
        let codes = flood.split(separator: "\n").map(String.init)
        #expect(codes.count == 200)
        #expect(codes.contains("503"), "no request was refused: \(Set(codes))")
        #expect(codes.allSatisfy { $0 == "401" || $0 == "503" }, "\(Set(codes))")
        let after = try ExporterTests.shell("curl -s --max-time 20 \(auth) http://127.0.0.1:\(port)/metrics").output
        let runs = ServeTests.value(of: "ewsprobe_probe_runs_total{target=\"up\"}", in: after)
        let runsBefore = ServeTests.value(of: "ewsprobe_probe_runs_total{target=\"up\"}", in: before)
        #expect(runs > runsBefore, "no run during the flood")
        #expect(ServeTests.value(of: "ewsprobe_probe_failures_total{target=\"up\"}", in: after) == 0)
    }

    @Test func webConfigProtectsEveryEndpointWithTLSAndBcrypt() async throws {
        let silent = try HostileServerTests.Hostile("silent")
        defer { silent.process.stop() }
        let pki = try TestPKI(name: "web-tls")
        let (cert, key) = try pki.issue("server", names: ["exporter.lab.test"])
        let dir = pki.directory
        try """
        tls_server_config:
          cert_file: \(cert.path)
          key_file: \(key.path)
        http_server_config:
          headers:
            X-Content-Type-Options: nosniff
        basic_auth_users:
          prometheus: '\(try Self.bcrypt(user: "prometheus", password: "right horse"))'
        """.write(to: dir.appendingPathComponent("web.yml"), atomically: true, encoding: .utf8)
        let (serve, port) = try ExporterTests.serve(try Self.fleet(dir, up: silent.port), extra: ["--web.config.file", "web.yml"])
        defer { serve.stop() }
        let tls = "--cacert \(pki.caPEM.path) --resolve exporter.lab.test:\(port):127.0.0.1"
        let base = "https://exporter.lab.test:\(port)"
        for path in Self.endpoints {
            #expect(try Self.curlStatus("\(tls) '\(base)\(path)'") == 401, "\(path) without credentials")
            #expect(try Self.curlStatus("\(tls) -u 'prometheus:wrong horse' '\(base)\(path)'") == 401, "\(path) wrong password")
            #expect(try Self.curlStatus("\(tls) -u 'nobody:right horse' '\(base)\(path)'") == 401, "\(path) unknown user")
            let expected = path == "/-/ready" ? [200, 503] : [200]
            #expect(expected.contains(try Self.curlStatus("\(tls) -u 'prometheus:right horse' '\(base)\(path)'")), "\(path) right password")
        }
        #expect(try Self.curlStatus("\(tls) -X POST '\(base)/-/reload'") == 401)
        #expect(try Self.curlStatus("\(tls) -u 'prometheus:right horse' -X POST '\(base)/-/reload'") == 200)
        let headers = try ExporterTests.shell("curl -s -D - -o /dev/null \(tls) -u 'prometheus:right horse' '\(base)/metrics'").output
        #expect(headers.lowercased().contains("x-content-type-options: nosniff"))
        let challenge = try ExporterTests.shell("curl -s -D - -o /dev/null \(tls) '\(base)/metrics'").output
        #expect(challenge.contains("Basic realm=\"ewsprobe\""))
        // No plain HTTP, no TLS below 1.2 (the exporter-toolkit default), and the certificate is
        // the configured one: curl verifies it against the test CA.
        #expect(try Self.curlStatus("http://127.0.0.1:\(port)/metrics") == 0)
        #expect(try Self.curlStatus("\(tls) --tls-max 1.1 -u 'prometheus:right horse' '\(base)/metrics'") == 0)
        #expect(try Self.curlStatus("--resolve exporter.lab.test:\(port):127.0.0.1 '\(base)/metrics'") == 0)
    }

    @Test func clientCertificatesWhenRequired() async throws {
        let pki = try TestPKI(name: "web-mtls")
        let (cert, key) = try pki.issue("server", names: ["exporter.lab.test"])
        let (clientCert, clientKey) = try pki.issue("client", names: ["prometheus"], usage: "clientAuth")
        let other = try TestPKI(name: "web-mtls-other")
        let (strangerCert, strangerKey) = try other.issue("client", names: ["stranger"], usage: "clientAuth")
        let dir = pki.directory
        try """
        tls_server_config:
          cert_file: \(cert.path)
          key_file: \(key.path)
          client_auth_type: RequireAndVerifyClientCert
          client_ca_file: \(pki.caPEM.path)
        """.write(to: dir.appendingPathComponent("web.yml"), atomically: true, encoding: .utf8)
        let (serve, port) = try ExporterTests.serve(
            try Self.fleet(dir, up: LabNetwork.freePort()), extra: ["--web.config.file", "web.yml"])
        defer { serve.stop() }
        let tls = "--cacert \(pki.caPEM.path) --resolve exporter.lab.test:\(port):127.0.0.1 https://exporter.lab.test:\(port)/metrics"
        #expect(try Self.curlStatus("--cert \(clientCert.path) --key \(clientKey.path) \(tls)") == 200)
        #expect(try Self.curlStatus(tls) == 0, "no client certificate")
        #expect(try Self.curlStatus("--cert \(strangerCert.path) --key \(strangerKey.path) \(tls)") == 0, "certificate from another CA")
    }

    @Test func webConfigErrorsNameFileLineAndKey() throws {
        let dir = try LabNetwork.temporaryDirectory("web-errors")
        let config = try Self.fleet(dir, up: LabNetwork.freePort())
        let cases: [(String, String)] = [
            ("basic_auth_users:\n  prometheus: plaintext\n", "web.yml:2:15: basic_auth_users.prometheus: expected a bcrypt hash"),
            ("tls_server_config:\n  cert_file: /nonexistent.pem\n  key_file: /nonexistent.key\n", "web.yml:2:3: tls_server_config"),
            ("tls_server_config:\n  cert_file: a.pem\n", "cert_file and key_file are both required"),
            ("tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "tls_server_config.cipher_suites: not supported"),
            ("tls_server_config:\n  min_version: TLS14\n", "tls_server_config.min_version: expected one of"),
            ("basic_auth:\n  x: y\n", "web.yml:1:1: basic_auth: unknown key"),
            ("rate_limit: {interval: 0s, burst: 2}\n", "rate_limit.interval: invalid duration"),
        ]
        for (text, message) in cases {
            try text.write(to: dir.appendingPathComponent("web.yml"), atomically: true, encoding: .utf8)
            let (status, output) = try ExporterTests.shell(
                "cd \(dir.path) && \(CommandLineTests.binary) serve --config \(config.path) --listen 127.0.0.1:0 --web.config.file web.yml")
            #expect(status == 3, "\(text): exit \(status)")
            #expect(output.contains(message), "\(text): \(output)")
        }
    }

    @Test func probeRefusesArbitraryURLsUnlessAllowed() async throws {
        let dir = try LabNetwork.temporaryDirectory("web-probe")
        let config = try Self.fleet(dir, up: LabNetwork.freePort())
        let closed = "http://127.0.0.1:\(LabNetwork.freePort())/EWS/Exchange.asmx"
        do {
            let (serve, port) = try ExporterTests.serve(config)
            defer { serve.stop() }
            let refused = try await ProbeRuntime.test.transport.exchange(
                HTTPRequest(url: "http://127.0.0.1:\(port)/probe?target=\(closed)&module=m"), policy: .oneShot)
            #expect(refused.status == 403)
            #expect(refused.bodyText.contains("--web.allow-probe-urls"))
        }
        let (serve, port) = try ExporterTests.serve(config, extra: ["--web.allow-probe-urls"])
        defer { serve.stop() }
        let base = "http://127.0.0.1:\(port)"
        let answer = try await ProbeRuntime.test.transport.exchange(
            HTTPRequest(url: "\(base)/probe?target=\(closed)&module=m"), policy: .oneShot)
        #expect(answer.status == 200)
        #expect(answer.bodyText.contains("ewsprobe_check_success{target=\"127.0.0.1\",check=\"tcp\"} 0"), "\(answer.bodyText)")
        #expect(try await ServeTests.status("\(base)/probe?target=\(closed)&module=nope") == 400)
        // An ad-hoc URL never becomes a series of /metrics: only configured targets do.
        let metrics = try await ExporterTests.metrics(port)
        #expect(!metrics.contains("target=\"127.0.0.1\""))
        #expect(metrics.contains("target=\"up\""))
    }

    @Test func rateAndOnDemandLimits() async throws {
        let silent = try HostileServerTests.Hostile("silent")
        defer { silent.process.stop() }
        let dir = try LabNetwork.temporaryDirectory("web-limits")
        let config = dir.appendingPathComponent("serve.yml")
        try """
        global: {interval: 1m, timeout: 2s}
        modules:
          slow: {checks: [auth_methods]}
        targets:
          - {name: hung, url: "http://127.0.0.1:\(silent.port)/EWS/Exchange.asmx", module: slow}
        """.write(to: config, atomically: true, encoding: .utf8)
        try "rate_limit: {interval: 1m, burst: 3}\n".write(to: dir.appendingPathComponent("web.yml"), atomically: true, encoding: .utf8)
        do {
            let (serve, port) = try ExporterTests.serve(config, extra: ["--web.config.file", "web.yml"])
            defer { serve.stop() }
            var statuses: [Int] = []
            for _ in 0..<5 { statuses.append(try await ServeTests.status("http://127.0.0.1:\(port)/-/healthy")) }
            #expect(statuses == [200, 200, 200, 429, 429])
        }
        // One on-demand probe at a time: the second, while the first hangs, is refused at once.
        let (serve, port) = try ExporterTests.serve(config, extra: ["--web.max-probes", "1"])
        defer { serve.stop() }
        let url = "http://127.0.0.1:\(port)/probe?target=hung"
        async let first = ServeTests.status(url)
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        #expect(try await ServeTests.status(url) == 429)
        #expect((ContinuousClock.now - start) < .seconds(1))
        #expect(try await first == 200)
        // Oversized request bodies are refused before any handler runs.
        let big = try await ProbeRuntime.test.transport.exchange(
            HTTPRequest(url: "http://127.0.0.1:\(port)/-/reload", method: "POST", body: Array(repeating: 0x41, count: 100_000)),
            policy: .oneShot)
        #expect(big.status == 413)
    }

    /// The status page in headless Chromium: a real browser renders it (screenshot kept under
    /// .build/test-artifacts) and the DOM it built holds every target and the failing reason.
    /// Chromium may only reach loopback: every other name resolves to nothing and any other
    /// traffic goes to a dead proxy.
    @Test func statusPageInChromium() async throws {
        let silent = try HostileServerTests.Hostile("silent")
        defer { silent.process.stop() }
        let dir = try LabNetwork.temporaryDirectory("web-chromium")
        let (serve, port) = try ExporterTests.serve(try Self.fleet(dir, up: silent.port))
        defer { serve.stop() }
        _ = try await ExporterTests.waitFor(port) { $0.contains("ewsprobe_probe_runs_total{target=\"down\"} 3") }
        let artifacts = ExporterTests.root.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let shot = artifacts.appendingPathComponent("status-page.png")
        try? FileManager.default.removeItem(at: shot)
        let chromium = [
            "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
            "--disable-extensions", "--no-pings", "--user-data-dir=\(dir.path)/profile", "--proxy-server=http://127.0.0.1:9",
            "'--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'", "--window-size=1280,900",
        ].joined(separator: " ")
        let page = "http://127.0.0.1:\(port)/"
        let (shotStatus, shotLog) = try ExporterTests.shell("timeout 60 \(chromium) --screenshot=\(shot.path) \(page)")
        #expect(shotStatus == 0, "\(shotLog)")
        let png = try Data(contentsOf: shot)
        #expect(png.count > 5_000 && png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "a real PNG, \(png.count) bytes")
        let dom = try ExporterTests.shell("timeout 60 \(chromium) --dump-dom \(page) 2>/dev/null").output
        #expect(dom.contains(">up</a>") && dom.contains(">down</a>"), "every target")
        #expect(dom.contains("<b>refused</b>"), "the failing reason")
        #expect(dom.contains("class=\"runs\""))
        // The target page: every kept run with its step trace.
        let detail = try ExporterTests.shell("timeout 60 \(chromium) --dump-dom '\(page)status?target=down' 2>/dev/null").output
        #expect(detail.contains("<details id=\"run-"))
        #expect(detail.contains("tcp"), "the trace of the run")
    }
}
