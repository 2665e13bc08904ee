import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// `forms_auth` against nginx answering with each front end's fingerprint.
@Suite(.serialized) struct FormsAuthCheckTests {
    static let serverBlock = #"""
        default_type text/html;
        location = /owa/EWS/Exchange.asmx { return 302 /owa/auth/logon.aspx?replaceCurrent=1&reason=0&url=%2fEWS%2fExchange.asmx; }
        location = /owa440/EWS/Exchange.asmx { return 440; }
        location = /tmg/EWS/Exchange.asmx { return 302 /CookieAuth.dll?GetLogon?curl=Z2FEWSZ2FExchange.asmx&reason=0&formdir=3; }
        location = /adfs/EWS/Exchange.asmx { return 302 https://sts.lab.test/adfs/ls/?wa=wsignin1.0&wtrealm=urn:ews; }
        location = /f5/EWS/Exchange.asmx {
          add_header Set-Cookie "LastMRH_Session=1a2b; path=/";
          add_header Set-Cookie "MRHSession=abcdef; path=/; secure";
          return 302 /my.policy;
        }
        location = /netscaler/EWS/Exchange.asmx {
          add_header Set-Cookie "NSC_TMAA=0123; path=/";
          return 302 /vpn/index.html;
        }
        location = /kemp/EWS/Exchange.asmx { return 302 /lm_auth_proxy?LMLogon; }
        location = /entra/EWS/Exchange.asmx {
          add_header Set-Cookie "AzureAppProxyPreauthSessionCookie_1234=x; path=/";
          return 302 https://login.microsoftonline.com/contoso/oauth2/authorize?client_id=1;
        }
        location = /generic/EWS/Exchange.asmx { return 302 /portal/login.html; }
        location = /portal/login.html {
          return 200 '<html><body><form method="post" action="/portal/auth"><input name="u"><input type = "password" name="p"></form></body></html>';
        }
        location = /plain401/EWS/Exchange.asmx {
          add_header Set-Cookie "BIGipServerpool_ews=1677787402.47873.0000; path=/";
          add_header WWW-Authenticate "NTLM" always;
          add_header WWW-Authenticate 'Basic realm="x"' always;
          return 401;
        }
        location = /nscpersist/EWS/Exchange.asmx {
          add_header Set-Cookie "NSC_ESNS=5f3c; path=/" always;
          add_header WWW-Authenticate 'Basic realm="x"' always;
          return 401;
        }
        location = /errorpage/EWS/Exchange.asmx { return 302 /ews/genericerrorpage.htm?aspxerrorpath=/EWS/Exchange.asmx; }
        location = /elsewhere/EWS/Exchange.asmx { return 302 https://other.lab.test/somewhere; }
        location = /loop/EWS/Exchange.asmx { return 307 /loop/EWS/Exchange.asmx; }
        location = /ftp/EWS/Exchange.asmx { return 302 ftp://files.lab.test/; }
        location = /soap200/EWS/Exchange.asmx { default_type text/xml; return 200 '<s:Envelope xmlns:s="x"/>'; }
        """#

    func run(_ nginx: NginxLab, _ prefix: String) async throws -> CheckResult {
        let target = TargetConfig(
            name: "t", url: EndpointURL("http://mail.lab.test:\(nginx.port)/\(prefix)/EWS/Exchange.asmx")!,
            module: ModuleConfig(name: "m", checks: [FormsAuthCheck()]),
            resolve: [try ResolvePin.parse("mail.lab.test:\(nginx.port):127.0.0.1").get()])
        return await ProbeRunner(runtime: .test).run(target).checks[0]
    }

    @Test func everyVendorIsRecognised() async throws {
        let nginx = try NginxLab(serverBlock: Self.serverBlock)
        defer { nginx.stop() }
        let cases: [(String, FormsLoginVendor)] = [
            ("owa", .exchangeOWA), ("owa440", .exchangeOWA), ("tmg", .isaTMG), ("adfs", .adfsWAP), ("f5", .f5APM),
            ("netscaler", .citrixNetScaler), ("kemp", .kempESP), ("entra", .entraAppProxy), ("generic", .genericForm),
        ]
        for (prefix, vendor) in cases {
            let result = try await run(nginx, prefix)
            #expect(result.status == .fail, "\(prefix): \(result.summary)")
            #expect(result.reason == "forms_login_detected", "\(prefix): \(result.summary)")
            #expect(result.details.first { $0.0 == "vendor" }?.1 == .string(vendor.rawValue), "\(prefix)")
            #expect(
                result.measurements.contains {
                    $0.name == "ewsprobe_forms_login_detected" && $0.labels.contains { $0 == ("vendor", vendor.rawValue) }
                })
        }
        // The generic form was found after following one same-host redirect.
        let generic = try await run(nginx, "generic")
        #expect(generic.trace.count == 2)
    }

    @Test func noFalsePositives() async throws {
        let nginx = try NginxLab(serverBlock: Self.serverBlock)
        defer { nginx.stop() }
        let plain = try await run(nginx, "plain401")
        #expect(plain.status == .pass, "\(plain.summary)")
        let persistence = try await run(nginx, "nscpersist")
        #expect(persistence.status == .pass, "\(persistence.summary)")
        let soap = try await run(nginx, "soap200")
        #expect(soap.status == .pass)
        let errorPage = try await run(nginx, "errorpage")
        #expect(errorPage.reason == "exchange_error_page")
        #expect(errorPage.status == .warn)
    }

    @Test func redirectsThatLeadAway() async throws {
        let nginx = try NginxLab(serverBlock: Self.serverBlock)
        defer { nginx.stop() }
        let elsewhere = try await run(nginx, "elsewhere")
        #expect(elsewhere.reason == "redirected_elsewhere")
        #expect(elsewhere.summary.contains("other.lab.test"))
        let loop = try await run(nginx, "loop")
        #expect(loop.reason == "redirected_elsewhere")
        #expect(loop.trace.count == 6)  // the first request and 5 followed redirects
        let ftp = try await run(nginx, "ftp")
        #expect(ftp.reason == "redirected_elsewhere")
    }

    @Test func classifierFixtures() {
        let owaPage = FormsHop(
            url: "u", status: 200, contentType: "text/html; charset=utf-8",
            body: "<html><form action=\"/owa/auth.owa\" method=\"POST\"><input type=\"password\" name=\"password\"></form></html>")
        #expect(FormsLoginClassifier.classify(owaPage)?.vendor == .exchangeOWA)
        let adfsPage = FormsHop(
            url: "u", status: 200, contentType: "text/html",
            body: "<form method=\"post\"><input name=\"UserName\"><input name=\"AuthMethod\" value=\"FormsAuthentication\"></form>")
        #expect(FormsLoginClassifier.classify(adfsPage)?.vendor == .adfsWAP)
        #expect(FormsLoginClassifier.classify(FormsHop(url: "u", status: 200, cookieNames: ["cadata"]))?.vendor == .exchangeOWA)
        #expect(FormsLoginClassifier.classify(FormsHop(url: "u", status: 302, cookieNames: ["MSISAuth1"]))?.vendor == .adfsWAP)
        #expect(FormsLoginClassifier.classify(FormsHop(url: "u", status: 200, cookieNames: ["BIGipServerx", "NSC_abcd"])) == nil)
        #expect(FormsLoginClassifier.classify(FormsHop(url: "u", status: 401, cookieNames: ["MRHSession"], hasAuthChallenge: true)) == nil)
        // A page without a form, or a form without a password field, is not a login.
        #expect(FormsLoginClassifier.classify(FormsHop(url: "u", status: 200, contentType: "text/html", body: "<html>hello</html>")) == nil)
        #expect(
            FormsLoginClassifier.classify(
                FormsHop(url: "u", status: 200, contentType: "text/html", body: "<form><input type=\"text\"></form>"))
                == nil)
    }
}
