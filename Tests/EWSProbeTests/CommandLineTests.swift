import Foundation
import Testing

@testable import EWSProbe

/// The built `ewsprobe` binary, run as users run it.
@Suite(.serialized) struct CommandLineTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var binary: String {
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
