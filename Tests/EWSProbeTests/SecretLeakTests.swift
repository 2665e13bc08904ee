import Foundation
import Logging
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// No surface of ewsprobe shows a password in any form: not when a server reflects the
/// credentials in everything it answers, not when the password sits in a URL, not when it is
/// pasted into the wrong key of a configuration.
@Suite(.serialized) struct SecretLeakTests {
    static let user = "svc@lab.test"
    /// A space and a colon (and `!`) so that the percent-encoded form differs from the plain one;
    /// nothing that JSON, HTML or Prometheus escaping would change, so a leak cannot hide behind it.
    static let password = "Leak Canary:7731!"

    /// The password as the server is sent or can reflect it.
    static var forms: [(String, String)] {
        [
            ("plain", password),
            ("basic", Data("\(user):\(password)".utf8).base64EncodedString()),
            ("base64", Data(password.utf8).base64EncodedString()),
            ("percent-encoded", password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!),
        ]
    }

    static func expectNoSecret(_ surfaces: [(String, String)], sourceLocation: SourceLocation = #_sourceLocation) {
        for (name, text) in surfaces {
            for (form, value) in forms where text.range(of: value, options: .caseInsensitive) != nil {
                Issue.record("\(name) shows the password (\(form))", sourceLocation: sourceLocation)
            }
        }
    }

    static func writePassword(in directory: URL) throws -> URL {
        let file = directory.appendingPathComponent("password")
        try password.write(to: file, atomically: true, encoding: .utf8)
        chmod(file.path, 0o600)
        return file
    }

    /// A server that puts the credentials everywhere it can: response headers and bodies, the SOAP
    /// fault's message text, response code and server version, the `WWW-Authenticate` realm and
    /// scheme, NTLM target names, redirect `Location`s (same host, then another host). Every
    /// surface of `probe`, `check-config` and `serve` is searched for every form of the password.
    @Test func reflectingServerLeaksNothing() async throws {
        let server = try HostileServerTests.Hostile(
            "reflect", tls: true, environment: ["REFLECT_USER": Self.user, "REFLECT_PASSWORD": Self.password])
        defer { server.process.stop() }
        let dir = try LabNetwork.temporaryDirectory("secrets")
        let passwordFile = try Self.writePassword(in: dir)
        let config = dir.appendingPathComponent("serve.yml")
        let credentials = [
            "    resolve: [\"bad.lab.test:\(server.port):127.0.0.1\"]", "    ca_file: \(server.pki!.caPEM.path)",
            "    username: \(Self.user)", "    password_file: \(passwordFile.path)",
        ].joined(separator: "\n")
        let yaml = """
            global: {interval: 3s, timeout: 2500ms}
            targets:
              - name: login
                url: https://bad.lab.test:\(server.port)/EWS/Exchange.asmx
            \(credentials)
              - name: redirect
                url: https://bad.lab.test:\(server.port)/redirect/EWS/Exchange.asmx
            \(credentials)
            """
        try yaml.write(to: config, atomically: true, encoding: .utf8)

        var surfaces: [(String, String)] = []
        for target in ["login", "redirect"] {
            for format in ["text", "json"] {
                let run = try CommandLineTests.run(["probe", "--config", config.path, "--format", format, "-v", target])
                #expect(run.stdout.contains("ews_login"), "\(run.stdout)\(run.stderr)")
                surfaces.append(("probe \(target) \(format)", run.stdout + run.stderr))
            }
        }
        let check = try CommandLineTests.run(["check-config", config.path])
        #expect(check.status == 0, "\(check.stderr)")
        surfaces.append(("check-config", check.stdout + check.stderr))

        let (serve, port) = try ExporterTests.serve(config, extra: ["--log-level", "trace"])
        defer { serve.stop() }
        _ = try await ExporterTests.waitFor(port) {
            $0.contains("ewsprobe_check_failure_info{target=\"login\",check=\"ews_login\"")
                && $0.contains("ewsprobe_check_success{target=\"redirect\",check=\"forms_auth\"")
        }
        // A second round of runs, so history holds more than one record.
        try await Task.sleep(for: .seconds(3))
        let base = "http://127.0.0.1:\(port)"
        surfaces.append(("/metrics", try await ExporterTests.metrics(port)))
        for target in ["login", "redirect"] {
            for query in ["", "&debug=true", "&format=json", "&format=json&debug=true"] {
                surfaces.append(("/probe \(target)\(query)", try await ServeTests.get("\(base)/probe?target=\(target)\(query)")))
            }
            surfaces.append(("/status \(target)", try await ServeTests.get("\(base)/status?target=\(target)")))
        }
        surfaces.append(("/", try await ServeTests.get(base + "/")))

        // A password pasted into the wrong key: the reload error quotes the value, redacted.
        try yaml.replacingOccurrences(of: "  - name: redirect", with: "    mailbox_check: \"\(Self.password)\"\n  - name: redirect")
            .write(to: config, atomically: true, encoding: .utf8)
        let refused = try await ExporterTests.post(base + "/-/reload")
        #expect(refused.status == 400)
        #expect(refused.bodyText.contains("mailbox_check") && refused.bodyText.contains("<redacted>"), "\(refused.bodyText)")
        surfaces.append(("/-/reload", refused.bodyText))
        serve.stop()
        let log = (try? String(contentsOf: serve.directory.appendingPathComponent("process.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("reload refused"))
        surfaces.append(("serve log", log))

        // The server did reflect, and what it reflected shows redacted.
        let json = surfaces.first { $0.0 == "probe login json" }?.1 ?? ""
        #expect(json.contains("\"soap_error\"") && json.contains("<redacted>"), "\(json)")
        Self.expectNoSecret(surfaces)
    }

    /// `https://user:PASSWORD@host/`: refused everywhere without repeating it, and nothing is sent.
    @Test func userinfoInURLsIsRefusedWithoutEchoingIt() async throws {
        let recorder = try CredentialPolicyTests.Recorder()
        defer { recorder.stop() }
        let encoded = Self.password.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let url = "https://svc:\(encoded)@127.0.0.1:\(recorder.server.port)/EWS/Exchange.asmx"
        let raw = "https://svc:\(Self.password)@127.0.0.1:\(recorder.server.port)/EWS/Exchange.asmx"
        let dir = try LabNetwork.temporaryDirectory("userinfo")
        let bad = dir.appendingPathComponent("userinfo.yml")
        try "targets:\n  - name: t\n    url: \"\(url)\"\n".write(to: bad, atomically: true, encoding: .utf8)
        var surfaces: [(String, String)] = []

        let check = try CommandLineTests.run(["check-config", bad.path])
        #expect(check.status == 3)
        #expect(check.stderr.contains("userinfo.yml:3:") && check.stderr.contains("targets[0].url"), "\(check.stderr)")
        #expect(check.stderr.contains("user information"), "\(check.stderr)")
        surfaces.append(("check-config", check.stdout + check.stderr))
        for text in [url, raw] {
            let probe = try CommandLineTests.run(["probe", text])
            #expect(probe.status == 3, "\(probe.stdout)\(probe.stderr)")
            surfaces.append(("probe", probe.stdout + probe.stderr))
        }

        let good = dir.appendingPathComponent("serve.yml")
        try "targets:\n  - {name: t, url: \"\(recorder.url)\", module: m}\nmodules:\n  m: {checks: [tcp]}\n".write(
            to: good, atomically: true, encoding: .utf8)
        let (serve, port) = try ExporterTests.serve(good, extra: ["--log-level", "trace", "--web.allow-probe-urls"])
        defer { serve.stop() }
        let query = url.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        surfaces.append(("/probe", try await ServeTests.get("http://127.0.0.1:\(port)/probe?target=\(query)")))
        try String(contentsOf: bad, encoding: .utf8).write(to: good, atomically: true, encoding: .utf8)
        let refused = try await ExporterTests.post("http://127.0.0.1:\(port)/-/reload")
        #expect(refused.status == 400)
        #expect(refused.bodyText.contains("user information"), "\(refused.bodyText)")
        surfaces.append(("/-/reload", refused.bodyText))
        serve.stop()
        let log = (try? String(contentsOf: serve.directory.appendingPathComponent("process.log"), encoding: .utf8)) ?? ""
        surfaces.append(("serve log", log))
        Self.expectNoSecret(surfaces)
        #expect(!recorder.requests.contains("svc"), "a request went out: \(recorder.requests)")
    }

    /// The log handler every command installs replaces the secrets the process knows, in the
    /// message and in metadata, whichever code logged the line.
    @Test func logLinesAreRedacted() {
        let secrets = KnownSecrets()
        secrets.learn(Secret(Self.password), username: Self.user)
        let captured = CapturedLines()
        var logger = Logger(label: "t") { _ in RedactingLogHandler(CapturingLogHandler(lines: captured), secrets: secrets) }
        logger.logLevel = .trace
        logger.info("got \(Self.password)", metadata: ["header": .string("Basic \(Self.forms[1].1)")])
        let line = captured.lines.joined(separator: "\n")
        #expect(line.contains("<redacted>"))
        Self.expectNoSecret([("log", line)])
    }
}

/// Lines a `CapturingLogHandler` received.
final class CapturedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []

    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}

/// Keeps each line as the stream handler would print it: message and metadata.
struct CapturingLogHandler: LogHandler {
    let lines: CapturedLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lines.append("\(event.message) \(metadata.merging(event.metadata ?? [:]) { $1 })")
    }
}
