import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The built `ewsprobe` binary, run as users run it.
@Suite(.serialized) struct CommandLineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `EWSPROBE_BINARY` when set: scripts/test.sh points it at the release build the package
    /// ships (and its sanitizer run at the AddressSanitizer build), so these tests run what users
    /// run. Without it (a bare `swift test`), the debug build.
    static var binary: String {
        if let chosen = ProcessInfo.processInfo.environment["EWSPROBE_BINARY"], !chosen.isEmpty {
            return chosen.hasPrefix("/") ? chosen : root.appendingPathComponent(chosen).path
        }
        for candidate in [".build/debug/ewsprobe", ".build/x86_64-unknown-linux-gnu/debug/ewsprobe"] {
            let path = root.appendingPathComponent(candidate).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return root.appendingPathComponent(".build/debug/ewsprobe").path
    }

    static let exchangeLike = """
        location / {
          add_header WWW-Authenticate "NTLM" always;
          add_header WWW-Authenticate 'Basic realm="lab"' always;
          return 401;
        }
        """

    /// A module without lb_affinity: nginx's static 401 offers NTLM but cannot answer a NEGOTIATE.
    static func basicModuleFile() throws -> String {
        let file = try LabNetwork.temporaryDirectory("cli-module").appendingPathComponent("modules.yml")
        try "modules:\n  basic:\n    checks: [dns, tcp, tls, auth_methods, forms_auth, ews_login]\n".write(
            to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        while process.isRunning { usleep(10_000) }
        return Run(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// `--checks` runs a subset without a configuration; an unknown name is a usage error.
    @Test func checksFlagSelectsChecks() throws {
        let run = try Self.run(["probe", "--checks", "dns,tcp", "--format", "json", "http://127.0.0.1:\(LabNetwork.freePort())/"])
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stdout.contains("\"check\":\"dns\"") && run.stdout.contains("\"check\":\"tcp\""))
        #expect(!run.stdout.contains("\"check\":\"tls\""))
        let unknown = try Self.run(["probe", "--checks", "dns,nope", "http://127.0.0.1/"])
        #expect(unknown.status == 3)
        #expect(unknown.stderr.contains("unknown check \"nope\""))
        let bare = try Self.run(["probe", "--checks", "tcp", "--timeout", "2", "http://127.0.0.1:\(LabNetwork.freePort())/"])
        #expect(bare.status == 2, "a bare --timeout is seconds: \(bare.stderr)")
    }

    /// SIGTERM while a run hangs on a silent peer (30 s timeout): `serve` is gone within 2 s.
    @Test func serveStopsPromptlyOnSIGTERM() async throws {
        let (listener, silentPort) = LabNetwork.silentListener()
        defer { close(listener) }
        let dir = try LabNetwork.temporaryDirectory("sigterm")
        let config = dir.appendingPathComponent("serve.yml")
        try """
        global: {interval: 60s, timeout: 30s}
        modules:
          m: {checks: [tcp, auth_methods]}
        targets:
          - {name: hung, url: "http://127.0.0.1:\(silentPort)/EWS/Exchange.asmx", module: m}
        """.write(to: config, atomically: true, encoding: .utf8)
        let port = LabNetwork.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--config", config.path, "--listen", "127.0.0.1:\(port)"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 where !LabNetwork.canConnect(host: "127.0.0.1", port: port) { try await Task.sleep(for: .milliseconds(50)) }
        try await Task.sleep(for: .seconds(1.5))  // the run is in flight, waiting on the silent peer
        let start = ContinuousClock.now
        process.terminate()
        while process.isRunning && ContinuousClock.now - start < .seconds(10) { try await Task.sleep(for: .milliseconds(20)) }
        let took = ContinuousClock.now - start
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        #expect(took < .seconds(2.5), "serve took \(took) to stop")
    }

    @Test func exitCodesFollowThePluginConvention() throws {
        let nginx = try NginxLab(serverBlock: Self.exchangeLike)
        defer { nginx.stop() }
        let module = try Self.basicModuleFile()
        let pass = try Self.run(["probe", "--config", module, "--module", "basic", "http://127.0.0.1:\(nginx.port)/EWS/Exchange.asmx"])
        #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
        #expect(pass.stdout.contains("[PASS] tcp"))

        let fail = try Self.run(["probe", "http://127.0.0.1:\(LabNetwork.freePort())/EWS/Exchange.asmx"])
        #expect(fail.status == 2)
        #expect(fail.stdout.contains("[FAIL] tcp"))

        let warn = try Self.run([
            "probe", "--config", Self.root.appendingPathComponent("probes/modules.yml").path, "--module", "tolerant_farm",
            "--resolve", "farm.lab.test:\(nginx.port):127.0.0.1,127.0.0.2", "http://farm.lab.test:\(nginx.port)/EWS/Exchange.asmx",
        ])
        #expect(warn.status == 1, "\(warn.stdout)\(warn.stderr)")

        #expect(try Self.run(["probe", "not a url"]).status == 3)
        #expect(try Self.run(["probe", "--timeout", "soon", "http://127.0.0.1/"]).status == 3)
        #expect(try Self.run(["probe", "--frobnicate", "http://127.0.0.1/"]).status == 3)
        #expect(try Self.run(["check-config", "/nonexistent.yml"]).status == 3)
    }

    @Test func jsonReportMatchesTheContract() throws {
        let nginx = try NginxLab(serverBlock: Self.exchangeLike)
        defer { nginx.stop() }
        let closed = LabNetwork.freePort()
        let run = try Self.run([
            "probe", "--config", try Self.basicModuleFile(), "--module", "basic", "--format", "json",
            "http://127.0.0.1:\(nginx.port)/EWS/Exchange.asmx", "http://127.0.0.1:\(closed)/EWS/Exchange.asmx",
        ])
        #expect(run.status == 2)
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        for (index, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["target"] is String)
            #expect(object["name"] as? String == "127.0.0.1")
            #expect(object["status"] as? String == (index == 0 ? "pass" : "fail"))
            let started = try #require(object["started_at"] as? String)
            #expect(started.count == 20 && started.hasSuffix("Z"))
            #expect(object["duration_seconds"] is Double || object["duration_seconds"] is Int)
            let checks = try #require(object["checks"] as? [[String: Any]])
            #expect(checks.map { $0["check"] as? String } == ["dns", "tcp", "tls", "auth_methods", "forms_auth", "ews_login"])
            for check in checks {
                #expect(["pass", "warn", "fail", "skip"].contains(check["status"] as? String ?? ""))
                #expect(check["summary"] is String)
                #expect(check["details"] is [String: Any])
                #expect(check.keys.contains("reason"))
            }
            if index == 1 { #expect(checks[1]["reason"] as? String == "refused") }
        }
    }

    @Test func checkConfigValidatesShippedFiles() throws {
        let run = try Self.run(["check-config", Self.root.appendingPathComponent("probes/targets-example.yml").path])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("ok"))
        let dir = try LabNetwork.temporaryDirectory("cli")
        let bad = dir.appendingPathComponent("bad.yml")
        try "targets:\n  - url: https://a.example.com/x\n    intervall: 1m\n".write(to: bad, atomically: true, encoding: .utf8)
        let refused = try Self.run(["check-config", bad.path])
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("bad.yml:3"))
        #expect(refused.stderr.contains("intervall"))
    }
}
