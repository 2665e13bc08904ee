import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// `ews_login` against nginx (TLS, auth_basic) in front of a small EWS SOAP responder.
@Suite(.serialized) struct EWSLoginCheckTests {
    static let password = "Pa:ss w0rd!é"
    static let user = "svc@lab.test"

    final class Lab: @unchecked Sendable {
        let pki: TestPKI
        let responder: LabProcess
        let nginx: NginxLab
        let passwordFile: URL

        init() throws {
            pki = try TestPKI(name: "ews-login")
            let (cert, key) = try pki.leaf("mail", names: ["mail.lab.test"])
            let responderPort = LabNetwork.freePort()
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/ews_responder.py")
            responder = try LabProcess(
                "/usr/bin/python3", [script.path, String(responderPort)], directory: pki.directory, port: responderPort)
            let htpasswd = pki.directory.appendingPathComponent("htpasswd")
            // apr1 hashes as `htpasswd` writes them (nginx's {PLAIN} did not match this password).
            let hash = try TestPKI.openssl(["passwd", "-apr1", EWSLoginCheckTests.password]).trimmingCharacters(in: .whitespacesAndNewlines)
            try "\(EWSLoginCheckTests.user):\(hash)\nsvc@corp.local:\(hash)\n".write(to: htpasswd, atomically: true, encoding: .utf8)
            passwordFile = pki.directory.appendingPathComponent("password")
            try EWSLoginCheckTests.password.write(to: passwordFile, atomically: true, encoding: .utf8)
            chmod(passwordFile.path, 0o600)
            nginx = try NginxLab(
                serverBlock: """
                    ssl_certificate \(cert.path);
                    ssl_certificate_key \(key.path);
                    location /EWS/ {
                      auth_basic "EWS";
                      auth_basic_user_file \(htpasswd.path);
                      proxy_pass http://127.0.0.1:\(responderPort);
                    }
                    location = /locked/EWS/Exchange.asmx {
                      add_header WWW-Authenticate 'Basic realm="mail.lab.test"' always;
                      return 401 "The referenced account is currently locked out and may not be logged on to.";
                    }
                    """, listenOptions: "ssl")
        }

        func target(
            path: String = "/EWS/Exchange.asmx", user: String? = EWSLoginCheckTests.user, mailbox: String? = nil, trusted: Bool = true
        )
            throws -> TargetConfig
        {
            var target = TargetConfig(
                name: "login", url: EndpointURL("https://mail.lab.test:\(nginx.port)\(path)")!,
                module: ModuleConfig(name: "m", checks: [EWSLoginCheck()]),
                resolve: [try ResolvePin.parse("mail.lab.test:\(nginx.port):127.0.0.1").get()])
            target.caFile = trusted ? pki.caPEM.path : nil
            if let user {
                target.username = user
                target.password = .file(passwordFile.path)
            }
            target.mailboxCheck = mailbox
            return target
        }

        func stop() {
            nginx.stop()
            responder.stop()
        }
    }

    @Test func mailboxCheckCases() async throws {
        let lab = try Lab()
        defer { lab.stop() }
        let own = await ProbeRunner(runtime: .test).run(try lab.target()).checks[0]
        #expect(own.status == .pass, "\(own.summary)")
        #expect(own.details.contains { $0.0 == "server_version" && $0.1 == .string("15.1.2507.6") })

        let cases: [(String?, CheckStatus, String?)] = [
            ("probe@lab.test", .pass, nil),
            ("denied@lab.test", .fail, "impersonation_denied"),
            ("ghost@lab.test", .fail, "mailbox_not_found"),
            ("busy@lab.test", .fail, "server_busy"),
            ("store@lab.test", .fail, "soap_error"),
            ("html@lab.test", .fail, "not_ews"),
        ]
        for (mailbox, status, reason) in cases {
            let result = await ProbeRunner(runtime: .test).run(try lab.target(mailbox: mailbox)).checks[0]
            #expect(result.status == status, "\(mailbox ?? "-"): \(result.summary)")
            #expect(result.reason == reason, "\(mailbox ?? "-"): \(result.summary)")
        }
        let store = await ProbeRunner(runtime: .test).run(try lab.target(mailbox: "store@lab.test")).checks[0]
        #expect(store.details.contains { $0.0 == "response_code" && $0.1 == .string("ErrorMailboxStoreUnavailable") })
    }

    @Test func rejectedLockedUntrustedAndMissingCredentials() async throws {
        let lab = try Lab()
        defer { lab.stop() }
        var wrong = try lab.target()
        let other = lab.pki.directory.appendingPathComponent("wrong")
        try "not-the-password".write(to: other, atomically: true, encoding: .utf8)
        wrong.password = .file(other.path)
        #expect(await ProbeRunner(runtime: .test).run(wrong).checks[0].reason == "auth_rejected")

        let locked = await ProbeRunner(runtime: .test).run(try lab.target(path: "/locked/EWS/Exchange.asmx")).checks[0]
        #expect(locked.reason == "account_locked_out")

        let untrusted = await ProbeRunner(runtime: .test).run(try lab.target(trusted: false)).checks[0]
        #expect(untrusted.reason == "tls_untrusted")

        let anonymous = await ProbeRunner(runtime: .test).run(try lab.target(user: nil)).checks[0]
        #expect(anonymous.status == .skip)

        let local = await ProbeRunner(runtime: .test).run(try lab.target(user: "svc@corp.local")).checks[0]
        #expect(local.status == .warn && local.reason == "local_upn_suffix", "\(local.summary)")
    }

    /// The password and its Basic form appear in no output of the CLI, text or JSON, verbose or not.
    @Test func passwordNeverLeaks() async throws {
        let lab = try Lab()
        defer { lab.stop() }
        let basic = Data("\(Self.user):\(Self.password)".utf8).base64EncodedString()
        let common = [
            "--resolve", "mail.lab.test:\(lab.nginx.port):127.0.0.1", "--ca-file", lab.pki.caPEM.path, "--username", Self.user,
            "--password-file", lab.passwordFile.path,
        ]
        for extra in [["--verbose"], ["--format", "json", "--verbose"], ["--mailbox-check", "denied@lab.test", "-v"]] {
            let run = try CommandLineTests.run(["probe"] + common + extra + ["https://mail.lab.test:\(lab.nginx.port)/EWS/Exchange.asmx"])
            let output = run.stdout + run.stderr
            #expect(output.contains("ews_login"))
            #expect(!output.contains(Self.password))
            #expect(!output.contains("w0rd"))
            #expect(!output.contains(basic))
        }
        var environment = ProcessInfo.processInfo.environment
        environment["EWSPROBE_TEST_PASSWORD"] = Self.password
        let viaEnv = try CommandLineTests.run(
            [
                "probe", "--format", "json", "-v", "--resolve", "mail.lab.test:\(lab.nginx.port):127.0.0.1", "--ca-file",
                lab.pki.caPEM.path,
                "--username", Self.user, "--password-env", "EWSPROBE_TEST_PASSWORD",
                "https://mail.lab.test:\(lab.nginx.port)/EWS/Exchange.asmx",
            ],
            environment: environment)
        #expect(viaEnv.stdout.contains("\"check\":\"ews_login\",\"status\":\"pass\""), "\(viaEnv.stdout)")
        #expect(!(viaEnv.stdout + viaEnv.stderr).contains(Self.password))
    }

    @Test func soapParserReadsFaultsAndVersions() {
        let fault = EWSResponseParser.parse(
            "<s:Envelope><s:Body><s:Fault><faultcode>a:ErrorImpersonateUserDenied</faultcode><faultstring>no &amp; never</faultstring></s:Fault></s:Body></s:Envelope>"
        )
        #expect(fault.isSOAP)
        #expect(fault.errorCode == "ErrorImpersonateUserDenied")
        #expect(fault.faultString == "no & never")
        let html = EWSResponseParser.parse("<html><body>Server Error</body></html>")
        #expect(!html.isSOAP)
        let ok = EWSResponseParser.parse(
            "<s:Envelope><s:Header><h:ServerVersionInfo MajorVersion=\"15\" MinorVersion=\"2\" MajorBuildNumber=\"1118\"/></s:Header><s:Body><m:GetFolderResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode></m:GetFolderResponseMessage></s:Body></s:Envelope>"
        )
        #expect(ok.errorCode == nil)
        #expect(ok.versionText == "15.2.1118")
        // Truncated and deeply nested input is read without trouble.
        _ = EWSResponseParser.parse(String(repeating: "<a>", count: 50_000))
        _ = EWSResponseParser.parse("<s:Envelope><m:ResponseCode>Err")
        #expect(EWSResponseParser.escape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&apos;")
    }
}
