import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// Credentials go only over TLS that verified: a plain-http target with credentials is a
/// configuration error everywhere, the checks never send them in clear, and a credentialed
/// request never follows a redirect. A recording server on loopback shows what reached it.
@Suite(.serialized) struct CredentialPolicyTests {
    static let user = "svc@lab.test"
    static let password = "Clear-Text-Canary-4410"

    /// A server that writes down every request head it gets.
    final class Recorder: @unchecked Sendable {
        let server: HostileServerTests.Hostile
        let passwordFile: URL

        init() throws {
            server = try HostileServerTests.Hostile("record")
            passwordFile = server.directory.appendingPathComponent("password")
            try CredentialPolicyTests.password.write(to: passwordFile, atomically: true, encoding: .utf8)
            chmod(passwordFile.path, 0o600)
        }

        var url: String { "http://127.0.0.1:\(server.port)/EWS/Exchange.asmx" }

        var requests: String {
            (try? String(contentsOf: server.directory.appendingPathComponent("requests.log"), encoding: .utf8)) ?? ""
        }

        /// Basic credentials, or an NTLM AUTHENTICATE (message type 3), in any request it got.
        var sawCredentials: Bool {
            requests.split(separator: "\r\n").contains { line in
                let lower = line.lowercased()
                guard lower.hasPrefix("authorization:") else { return false }
                if lower.contains("basic ") { return true }
                guard let token = line.split(separator: " ").last, let bytes = Data(base64Encoded: String(token)) else { return false }
                return bytes.count > 8 && bytes[bytes.startIndex + 8] == 3
            }
        }

        func stop() { server.process.stop() }
    }

    @Test func plainHTTPWithCredentialsIsRefusedByEveryCommand() async throws {
        let recorder = try Recorder()
        defer { recorder.stop() }
        let config = recorder.server.directory.appendingPathComponent("plain.yml")
        try """
        targets:
          - name: plain
            url: \(recorder.url)
            username: \(Self.user)
            password_file: \(recorder.passwordFile.path)
        """.write(to: config, atomically: true, encoding: .utf8)

        let check = try CommandLineTests.run(["check-config", config.path])
        #expect(check.status == 3, "\(check.stdout)\(check.stderr)")
        #expect(check.stderr.contains("plain.yml:4:"), "\(check.stderr)")
        #expect(check.stderr.contains("targets[0].username") && check.stderr.contains("https"), "\(check.stderr)")

        let byName = try CommandLineTests.run(["probe", "--config", config.path, "plain"])
        #expect(byName.status == 3, "\(byName.stdout)\(byName.stderr)")
        let byURL = try CommandLineTests.run([
            "probe", "--username", Self.user, "--password-file", recorder.passwordFile.path, recorder.url,
        ])
        #expect(byURL.status == 3, "\(byURL.stdout)\(byURL.stderr)")
        #expect(byURL.stderr.contains("--username") && byURL.stderr.contains("https"), "\(byURL.stderr)")

        let port = LabNetwork.freePort()
        let serve = try CommandLineTests.run(["serve", "--config", config.path, "--listen", "127.0.0.1:\(port)"])
        #expect(serve.status == 3, "\(serve.stderr)")
        #expect(!recorder.sawCredentials, "credentials reached the plain-http server: \(recorder.requests)")
    }

    /// A target built in code (not through the loader or the CLI): the checks refuse on their own.
    @Test func checksNeverSendCredentialsOverPlainHTTP() async throws {
        let recorder = try Recorder()
        defer { recorder.stop() }
        var target = TargetConfig(
            name: "plain", url: EndpointURL(recorder.url)!, module: ModuleConfig(name: "m", checks: [LBAffinityCheck(), EWSLoginCheck()]))
        target.timeout = .seconds(5)
        target.username = Self.user
        target.password = .file(recorder.passwordFile.path)
        let report = await ProbeRunner(runtime: .test).run(target)
        let affinity = try #require(report.checks.first)
        let login = try #require(report.checks.last)
        #expect(login.reason == "tls_untrusted", "\(login.summary)")
        #expect(login.summary.contains("credentials not sent"))
        #expect(affinity.reason == "ntlm_handshake_failed", "\(affinity.summary)")
        #expect(affinity.summary.contains("credentials not sent"), "\(affinity.summary)")
        // The census did reach the server: the refusal is about credentials, not the connection.
        #expect(recorder.requests.contains("Authorization: NTLM"))
        #expect(!recorder.sawCredentials, "credentials reached the plain-http server: \(recorder.requests)")
    }

    /// An https server that redirects the login to plain http: nothing is followed.
    @Test func credentialedRequestsNeverFollowRedirects() async throws {
        let recorder = try Recorder()
        defer { recorder.stop() }
        let redirector = try HostileServerTests.Hostile("redirect-http", tls: true, environment: ["REDIRECT_TO": recorder.url])
        defer { redirector.process.stop() }
        var target = try redirector.target([EWSLoginCheck()], https: true)
        target.username = Self.user
        target.password = .file(recorder.passwordFile.path)
        let login = try #require(await ProbeRunner(runtime: .test).run(target).checks.first)
        #expect(login.status == .fail, "\(login.summary)")
        #expect(login.reason == "not_ews", "\(login.summary)")
        #expect(recorder.requests.isEmpty, "the redirect was followed: \(recorder.requests)")
    }
}
