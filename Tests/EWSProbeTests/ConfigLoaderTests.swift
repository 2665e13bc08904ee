import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

@Suite struct ConfigLoaderTests {
    static let valid = """
        global:
          interval: 30s
          timeout: 10s
        modules:
          edge:
            checks: [dns, tcp]
            timeout: 5s
            tcp:
              partial_failure: warn
        targets:
          - name: mail-example
            url: https://mail.example.com/EWS/Exchange.asmx
            module: edge
            interval: 1m
            labels: {site: hq}
            resolve: ["mail.example.com:443:127.0.0.1,127.0.0.2"]
            username: svc-archive@example.com
            password_env: EWS_PASSWORD
            mailbox_check: probe@example.com
          - url: https://other.example.com/EWS/Exchange.asmx
        """

    @Test func validConfigLoads() throws {
        let config = try ConfigLoader.load(yaml: Self.valid, name: "valid.yml")
        #expect(config.targets.count == 2)
        let first = config.targets[0]
        #expect(first.name == "mail-example")
        #expect(first.url.host == "mail.example.com")
        #expect(first.url.port == 443)
        #expect(first.module.checkNames == ["dns", "tcp"])
        #expect((first.module.checks[1] as? TCPCheck)?.partialFailure == .warn)
        #expect(first.interval == .seconds(60))
        #expect(first.timeout == .seconds(5))
        #expect(first.pin?.addresses == ["127.0.0.1", "127.0.0.2"])
        #expect(first.password == .environment("EWS_PASSWORD"))
        let second = config.targets[1]
        #expect(second.name == "other.example.com")
        #expect(second.module.name == "default")
        #expect(second.interval == .seconds(30))
        #expect(second.timeout == .seconds(10))
    }

    /// Each broken case names the file, the line and the key.
    @Test(arguments: [
        ("targets:\n  - url: https://a.example.com/EWS/Exchange.asmx\n    colour: blue\n", 3, "targets[0].colour", "unknown key"),
        ("targets:\n  - name: a\n    url: ftp://a.example.com/\n", 3, "targets[0].url", "invalid URL"),
        ("targets:\n  - url: https://a.example.com/x\n    module: nope\n", 3, "targets[0].module", "unknown module"),
        ("targets:\n  - url: https://a.example.com/x\n    interval: 5 minutes\n", 3, "targets[0].interval", "invalid duration"),
        (
            "targets:\n  - url: https://a.example.com/x\n    username: u@example.com\n    password: hunter2\n", 4,
            "targets[0].password", "never written inline"
        ),
        ("modules:\n  m:\n    checks: [dns, teleport]\n", 3, "modules.m.checks[1]", "unknown check"),
        ("modules:\n  m:\n    tcp:\n      partial_failure: maybe\n", 4, "modules.m.tcp.partial_failure", "invalid value"),
        (
            "modules:\n  m:\n    lb_affinity:\n      tls_resumption: sometimes\n", 4, "modules.m.lb_affinity.tls_resumption",
            "expected true or false"
        ),
        (
            "targets:\n  - url: https://a.example.com/x\n    resolve: [\"a.example.com:443:not-an-ip\"]\n", 3, "targets[0].resolve[0]",
            "not an IP"
        ),
        ("targets:\n  - url: https://a.example.com/x\n    timeout: 2m\n", 2, "targets[0]", "longer than interval"),
        ("targets:\n  - url: https://a.example.com/x\n  - url: https://a.example.com/y\n", 3, "targets[1]", "already used"),
        ("targets:\n  - url: https://a.example.com/x\n    labels: {target: x}\n", 3, "targets[0].labels.target", "reserved"),
    ])
    func invalidConfigNamesFileLineAndKey(yaml: String, line: Int, key: String, message: String) throws {
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: yaml, name: "bad.yml") }
        #expect(error?.file == "bad.yml")
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("bad.yml:\(line)") == true)
    }

    @Test func lbAffinityResumesUnlessTold() throws {
        let config = try ConfigLoader.load(
            yaml:
                "modules:\n  fresh:\n    lb_affinity: {tls_resumption: false}\ntargets:\n  - url: https://a.example.com/x\n    module: fresh\n",
            name: "lb.yml")
        #expect((config.targets[0].module.checks.first { $0 is LBAffinityCheck } as? LBAffinityCheck)?.tlsResumption == false)
        #expect(LBAffinityCheck().tlsResumption)
    }

    @Test func yamlSyntaxErrorHasALine() throws {
        let error = #expect(throws: ConfigError.self) {
            try ConfigLoader.load(yaml: "targets:\n  - url: [unclosed\n", name: "syntax.yml")
        }
        #expect((error?.line ?? 0) > 0)
    }

    /// An include of a device or FIFO must fail at once, not read forever.
    @Test func includeOfADeviceIsRefused() throws {
        let error = #expect(throws: ConfigError.self) {
            try ConfigLoader.load(yaml: "include: [/dev/zero]\n", name: "inc.yml")
        }
        #expect(error?.description.contains("not a regular file") == true, "\(String(describing: error))")
    }

    @Test func localOnlyUPNGivesAWarning() throws {
        let config = try ConfigLoader.load(
            yaml: "targets:\n  - url: https://a.example.com/x\n    username: svc@corp.local\n    password_env: X\n", name: "w.yml")
        #expect(config.warnings.count == 1)
        #expect(config.warnings[0].line == 3)
        #expect(config.warnings[0].message.contains(".local"))
    }

    @Test func embeddedDemoConfigIsValid() throws {
        let ca = try LabNetwork.temporaryDirectory("demo-ca").appendingPathComponent("ca.pem")
        try "".write(to: ca, atomically: true, encoding: .utf8)
        let config = try ConfigLoader.load(
            yaml: DemoSite.config(sitePort: 1000, closedPort: 1001, tlsPort: 1002, caFile: ca.path), name: "<demo>")
        #expect(config.targets.count == 7)
        #expect(config.targets.allSatisfy { $0.url.isTLS }, "the demo shows the product over HTTPS")
        #expect(config.targets.contains { $0.module.checkNames.contains("tls") })
    }

    @Test func durationsParse() throws {
        #expect(DurationText.parse("1m30s") == .seconds(90))
        #expect(DurationText.parse("500ms") == .milliseconds(500))
        #expect(DurationText.parse("2h") == .seconds(7200))
        // A bare number is seconds, as curl and the monitoring plugins take it.
        #expect(DurationText.parse("10") == .seconds(10))
        #expect(DurationText.parse("0.5") == .milliseconds(500))
        #expect(DurationText.parse("-1s") == nil)
        #expect(DurationText.parse("") == nil)
        // One set of bounds: a sub-millisecond interval is refused, not rounded to zero.
        #expect(throws: DurationText.Problem.self) { try DurationText.parse("0.0004s", .interval).get() }
        #expect(throws: DurationText.Problem.self) { try DurationText.parse("500ms", .interval).get() }
        #expect(throws: DurationText.Problem.self) { try DurationText.parse("1ms", .timeout).get() }
        #expect(try DurationText.parse("5", .timeout).get() == .seconds(5))
    }

    /// `interval: 0.0004s` is a located error as a global and on a target (it used to spin as a
    /// global and silently become 1m on a target); an unset timeout follows a short interval.
    @Test func durationRulesHoldEverywhere() throws {
        for yaml in [
            "global: {interval: 0.0004s}\ntargets:\n  - {url: \"https://a.example/\"}\n",
            "targets:\n  - {url: \"https://a.example/\", interval: 0.0004s}\n",
        ] {
            #expect {
                try ConfigLoader.load(yaml: yaml, name: "d.yml")
            } throws: { error in
                "\(error)".hasPrefix("d.yml:") && "\(error)".contains("interval") && "\(error)".contains("too short")
            }
        }
        let short = try ConfigLoader.load(yaml: "targets:\n  - {url: \"https://a.example/\", interval: 5s}\n", name: "d.yml")
        #expect(short.targets[0].timeout == .seconds(5))
        #expect(short.targets[0].interval == .seconds(5))
        #expect {
            try ConfigLoader.load(yaml: "targets:\n  - {url: \"https://a.example/\", interval: 5s, timeout: 10s}\n", name: "d.yml")
        } throws: { "\($0)".contains("timeout 10s is longer than interval 5s") }
    }

    /// Hosts stay A-labels for DNS, SNI, pins and names; a U-label is converted once, at load.
    @Test func internationalHostsStayALabels() throws {
        #expect(EndpointURL("https://xn--mller-kva.example/EWS/Exchange.asmx")?.host == "xn--mller-kva.example")
        #expect(EndpointURL("https://MÜLLER.example/EWS/Exchange.asmx")?.host == "xn--mller-kva.example")
        let pin = try ResolvePin.parse("xn--mller-kva.example:443:127.0.0.1").get()
        #expect(pin.matches(host: "xn--mller-kva.example", port: 443))
        #expect(try ResolvePin.parse("müller.example:443:127.0.0.1").get().host == "xn--mller-kva.example")
    }

    /// An alias bomb of 300 bytes used as mapping keys took Yams 15 s to compose (duplicate-key
    /// hashing expands it): refused before parsing, with its line. Aliases as values still load.
    @Test func aliasBombsAreRefusedAtOnce() throws {
        var bomb = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h"] {
            bomb += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
            previous = name
        }
        let start = ContinuousClock.now
        #expect {
            try ConfigLoader.load(yaml: bomb + "? *h\n: 1\n", name: "bomb.yml")
        } throws: { "\($0)".contains("bomb.yml:9") && "\($0)".contains("alias cannot be a mapping key") }
        #expect {
            try ConfigLoader.load(yaml: bomb + "*h : 1\n", name: "bomb.yml")
        } throws: { "\($0)".contains("alias cannot be a mapping key") }
        #expect(ContinuousClock.now - start < .seconds(2))
        let reused = try ConfigLoader.load(
            yaml: "targets:\n  - {url: \"https://a.example/\", labels: &l {site: x}}\n  - {url: \"https://b.example/\", labels: *l}\n",
            name: "ok.yml")
        #expect(reused.targets[1].labels.first?.1 == "x")
    }

    /// A FIFO named as ca_file is refused at load (it used to hang probe, /metrics and SIGTERM).
    @Test func fifoCAFileIsRefusedAtLoad() throws {
        let dir = try LabNetwork.temporaryDirectory("fifo")
        let fifo = dir.appendingPathComponent("ca.pem").path
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect {
            try ConfigLoader.load(yaml: "targets:\n  - {url: \"https://a.example/\", ca_file: \"\(fifo)\"}\n", name: "f.yml")
        } throws: { "\($0)".contains("not a regular file") && "\($0)".hasPrefix("f.yml:2") }
        guard case .failure(let problem) = RegularFile.read(fifo) else {
            Issue.record("a FIFO was read")
            return
        }
        #expect(problem.description.contains("not a regular file"))
    }

    @Test func resolvePinsParseCurlSyntax() throws {
        let pin = try ResolvePin.parse("Mail.Example.com:443:[::1],127.0.0.1").get()
        #expect(pin.host == "mail.example.com")
        #expect(pin.addresses == ["::1", "127.0.0.1"])
        #expect(pin.description == "mail.example.com:443:[::1],127.0.0.1")
        #expect(throws: ResolvePinError.self) { try ResolvePin.parse("mail:99999:127.0.0.1").get() }
        #expect(throws: ResolvePinError.self) { try ResolvePin.parse("mail:443").get() }
    }

    /// Every shipped file in probes/ loads and validates.
    @Test func shippedProbeFilesAreValid() throws {
        let probes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("probes")
        let files = try FileManager.default.contentsOfDirectory(atPath: probes.path).filter { $0.hasSuffix(".yml") }
        #expect(files.count >= 2)
        // The connectors' example names credential files under /etc/ewsprobe: CloudConfigTests
        // loads it with those files laid out (shippedExampleLoads).
        for file in files where file != "cloud-connectors.yml" {
            let config = try ConfigLoader.load(file: probes.appendingPathComponent(file).path)
            #expect(!config.modules.isEmpty || !config.targets.isEmpty, "\(file) defines nothing")
        }
    }

    @Test func passwordFileIsReadAndNeverPrinted() throws {
        let dir = try LabNetwork.temporaryDirectory("secret")
        let path = dir.appendingPathComponent("pw").path
        try "s3cret-Value\n".write(toFile: path, atomically: true, encoding: .utf8)
        let secret = try SecretReference.file(path).load()
        #expect(secret.reveal() == "s3cret-Value")
        #expect(!"\(secret)".contains("s3cret"))
        #expect(!String(reflecting: secret).contains("s3cret"))
        let missing = #expect(throws: SecretError.self) { try SecretReference.environment("EWSPROBE_TEST_UNSET_VAR").load() }
        #expect(missing?.description.contains("EWSPROBE_TEST_UNSET_VAR") == true)
    }
}
