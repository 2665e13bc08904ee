import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// `m365:` and `google_workspace:` targets in the configuration: what loads, what each kind runs
/// by default, and each mistake named by file, line and key.
@Suite struct CloudConfigTests {
    static let directory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ewsprobe-cloud-config-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let account =
            #"{"type": "service_account", "client_email": "sa@p.iam.gserviceaccount.com", "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n", "private_key_id": "k1", "token_uri": "https://oauth2.googleapis.com/token"}"#
        try? account.write(to: dir.appendingPathComponent("sa.json"), atomically: true, encoding: .utf8)
        try? "{\"type\": \"authorized_user\"}".write(to: dir.appendingPathComponent("user.json"), atomically: true, encoding: .utf8)
        for name in ["app.crt", "app.key"] { try? "x".write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        return dir
    }()
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static var valid: String {
        """
        targets:
          - m365:
              tenant: Contoso.onmicrosoft.com
              client_id: 11111111-2222-3333-4444-555555555555
              client_secret_env: M365_SECRET
            mailbox_check: probe@contoso.com
          - name: contoso-cert
            m365:
              tenant: 0d3c5a1e-0000-4000-8000-000000000001
              client_id: 11111111-2222-3333-4444-555555555555
              certificate_file: \(path("app.crt"))
              key_file: \(path("app.key"))
              authority: https://login.microsoftonline.us
              graph: https://graph.microsoft.us
              exchange: https://outlook.office365.us
              required_roles: [Mail.Read]
          - name: example-google
            google_workspace:
              service_account_file: \(path("sa.json"))
            mailbox_check: probe@example.com
            interval: 5m
        """
    }

    @Test func connectorsLoadWithTheirDefaultModules() throws {
        let config = try ConfigLoader.load(yaml: Self.valid, name: "cloud.yml", registry: .builtin)
        #expect(config.targets.count == 3)
        let m365 = config.targets[0]
        #expect(m365.name == "contoso.onmicrosoft.com", "the tenant names it")
        #expect(m365.endpoint.kind == .m365)
        #expect(m365.endpoint.description == "m365:contoso.onmicrosoft.com/11111111-2222-3333-4444-555555555555")
        #expect(m365.module.checkNames == ["dns", "tcp", "tls", "oauth_token", "mailbox_api", "exo_ews"])
        #expect(m365.plan.applies.allSatisfy { $0 })
        #expect(!m365.plan.sharesAnonymousSOAP, "no SOAP POST to the authority")
        #expect(m365.url.host == "login.microsoftonline.com")
        #expect(m365.endpoint.hostURLs.map(\.host) == ["login.microsoftonline.com", "graph.microsoft.com", "outlook.office365.com"])
        let connector = try #require(m365.endpoint.m365)
        #expect(connector.discoveryURL == "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
        #expect(connector.graphScope == "https://graph.microsoft.com/.default")
        #expect(connector.exchangeScope == "https://outlook.office365.com/.default")
        #expect(connector.requiredRoles == ["Mail.ReadWrite"])
        let sovereign = try #require(config.targets[1].endpoint.m365)
        #expect(sovereign.graphScope == "https://graph.microsoft.us/.default")
        #expect(sovereign.requiredRoles == ["Mail.Read"])
        #expect(sovereign.credential == .certificate(certificateFile: Self.path("app.crt"), keyFile: Self.path("app.key")))
        let google = config.targets[2]
        #expect(google.module.checkNames == ["dns", "tcp", "tls", "oauth_token", "mailbox_api"])
        #expect(google.endpoint.description == "google_workspace:sa@p.iam.gserviceaccount.com")
        #expect(google.endpoint.hostURLs.map(\.host) == ["oauth2.googleapis.com", "gmail.googleapis.com"])
        #expect(google.endpoint.googleWorkspace?.scopes == ["https://mail.google.com/"])
        #expect(google.interval == .seconds(300))
    }

    /// EWS-only checks on a connector, and connector checks on an EWS URL, are `not_applicable`.
    @Test func checksOfTheOtherKindDoNotApply() throws {
        let yaml = """
            modules:
              everything:
                checks: [dns, auth_methods, oauth_token, exo_ews]
            targets:
              - url: https://mail.example.com/EWS/Exchange.asmx
                module: everything
              - name: g
                google_workspace: {service_account_file: \(Self.path("sa.json"))}
                mailbox_check: a@example.com
                module: everything
            """
        let config = try ConfigLoader.load(yaml: yaml, name: "mixed.yml", registry: .builtin)
        #expect(config.targets[0].plan.applies == [true, true, false, false])
        #expect(config.targets[1].plan.applies == [true, false, true, false])
    }

    @Test(arguments: [
        ("targets:\n  - m365: {client_id: abc, client_secret_env: S}\n", 2, "targets[0].m365", "needs tenant"),
        ("targets:\n  - m365: {tenant: t.example.com, client_secret_env: S}\n", 2, "targets[0].m365", "needs client_id"),
        ("targets:\n  - m365: {tenant: t.example.com, client_id: abc}\n", 2, "targets[0].m365", "needs client_secret_file"),
        (
            "targets:\n  - m365:\n      tenant: t.example.com\n      client_id: abc\n      client_secret: hunter2\n", 5,
            "targets[0].m365.client_secret", "never written inline"
        ),
        ("targets:\n  - m365:\n      tenant: t/../x\n      client_id: abc\n", 3, "targets[0].m365.tenant", "tenant's domain or id"),
        (
            "targets:\n  - m365:\n      tenant: t.example.com\n      client_id: abc\n      client_secret_env: S\n      authority: http://login.example.com\n",
            6, "targets[0].m365.authority", "https://"
        ),
        (
            "targets:\n  - m365:\n      tenant: t.example.com\n      client_id: abc\n      client_secret_env: S\n      colour: blue\n", 6,
            "targets[0].m365.colour", "unknown key"
        ),
        (
            "targets:\n  - url: https://a.example.com/x\n    m365: {tenant: t.example.com, client_id: abc, client_secret_env: S}\n", 3,
            "targets[0].m365", "one of url, m365 and google_workspace"
        ),
        (
            "targets:\n  - m365: {tenant: t.example.com, client_id: abc, client_secret_env: S}\n    username: u@example.com\n    password_env: P\n",
            3, "targets[0].username", "its own credentials"
        ),
        (
            "targets:\n  - google_workspace: {service_account_file: /nonexistent.json}\n", 2,
            "targets[0].google_workspace.service_account_file", "cannot"
        ),
    ])
    func mistakesNameFileLineAndKey(yaml: String, line: Int, key: String, message: String) throws {
        let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: yaml, name: "bad.yml", registry: .builtin) }
        #expect(error?.line == line, "\(String(describing: error))")
        #expect(error?.key == key, "\(String(describing: error))")
        #expect(error?.description.contains(message) == true, "\(String(describing: error))")
    }

    @Test func googleNeedsANameAMailboxAndAServiceAccount() throws {
        let sa = Self.path("sa.json")
        for (yaml, message) in [
            ("targets:\n  - google_workspace: {service_account_file: \(sa)}\n    mailbox_check: a@example.com\n", "needs a name"),
            ("targets:\n  - name: g\n    google_workspace: {service_account_file: \(sa)}\n", "mailbox_check"),
            ("targets:\n  - name: g\n    google_workspace: {service_account_file: \(Self.path("user.json"))}\n", "not a service account"),
        ] {
            let error = #expect(throws: ConfigError.self) { try ConfigLoader.load(yaml: yaml, name: "g.yml", registry: .builtin) }
            #expect(error?.description.contains(message) == true, "\(String(describing: error))")
        }
    }

    /// The secret named by the file keys, never by password_file.
    @Test func aMissingClientSecretIsNamedByItsKey() {
        let error = #expect(throws: SecretError.self) {
            try SecretReference.file("/nonexistent/secret").load(fileKey: "client_secret_file", envKey: "client_secret_env")
        }
        #expect(error?.message.contains("client_secret_file /nonexistent/secret") == true)
    }

    /// Error answers of Entra and Google, as the contract maps them: `error_codes` first, then
    /// the number in the description, then the OAuth error.
    @Test func authorityErrorsMapToTheContractsReasons() {
        #expect(TokenFailure.reason(code: 90002, error: "invalid_request", description: "") == "tenant_not_found")
        #expect(TokenFailure.reason(code: 700016, error: "unauthorized_client", description: "") == "invalid_client")
        #expect(TokenFailure.reason(code: 7000222, error: "invalid_client", description: "") == "secret_expired")
        #expect(TokenFailure.reason(code: nil, error: "unauthorized_client", description: "") == "unauthorized_client")
        #expect(TokenFailure.reason(code: nil, error: "invalid_grant", description: "Invalid JWT Signature.") == "invalid_client")
        #expect(TokenFailure.reason(code: nil, error: "invalid_grant", description: "Invalid email or User ID") == "token_endpoint_error")
        #expect(TokenFailure.reason(code: 65001, error: "invalid_grant", description: "") == "token_endpoint_error")
        #expect(TokenFailure.aadsts(in: "AADSTS7000215: Invalid client secret provided.") == 7_000_215)
        #expect(TokenFailure.aadsts(in: "no number") == nil)
        #expect(ExoEWSVerdict.backOff("<t:Value Name=\"BackOffMilliseconds\">37000</t:Value>") == 37)
        #expect(ExoEWSVerdict.backOff("no back-off") == nil)
    }

    /// A token's claims are read from the JWT (not trusted: the API that takes it judges it), and
    /// an opaque token has none.
    @Test func tokenClaimsAreReadAndBounded() {
        func b64(_ text: String) -> String { ClientCertificate.base64URL(Array(text.utf8)) }
        let roles = (0..<100).map { "\"R\($0)\"" }.joined(separator: ",")
        let exp = Int(Date().timeIntervalSince1970) + 3600
        func token(exp: String) -> String {
            b64(#"{"alg":"RS256","typ":"JWT"}"#) + "."
                + b64(#"{"roles":[\#(roles)],"tid":"t1","appid":"a1","aud":"https://graph.microsoft.com","exp":\#(exp)}"#)
                + ".c2ln"
        }
        let claims = TokenClaims.read(token(exp: "\(exp)"))
        #expect(claims.roles.count == 64)
        #expect(claims.tenant == "t1" && claims.appID == "a1" && claims.audience == "https://graph.microsoft.com")
        #expect(claims.expires == Double(exp))
        // An expiry that is no plausible time is not one (and cannot overflow a conversion).
        #expect(TokenClaims.read(token(exp: "1e300")).expires == nil)
        #expect(TokenClaims.read(token(exp: "1900000000")).expires == nil)
        #expect(TokenClaims.read("ya29.opaque-token") == TokenClaims())
    }
}

/// Lying, broken and enormous authorities (a fake transport: pure logic of the token grant):
/// the credential never follows a discovery document to another host, and nothing a server
/// sends makes a token out of nothing or takes the check down.
@Suite struct HostileAuthorityTests {
    static func target(_ secretFile: String) -> TargetConfig {
        var connector = M365Connector(tenant: "contoso.example", clientID: "abc", credential: .secret(.file(secretFile)))
        connector.authority = EndpointURL("https://192.0.2.1")!
        connector.graph = EndpointURL("https://192.0.2.2")!
        connector.exchange = EndpointURL("https://192.0.2.3")!
        let module = try! CheckRegistry.builtin.defaultModule(for: .m365).selecting(["oauth_token", "mailbox_api"], registry: .builtin)
        var target = TargetConfig(name: "t", endpoint: .m365(connector), module: module)
        target.mailboxCheck = "probe@contoso.example"
        return target
    }

    static func secretFile() throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ewsprobe-hostile-secret-\(getpid())")
        try "s3cret-value-for-the-hostile-tests".write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    static let discovery = #"{"token_endpoint":"https://192.0.2.1/x/oauth2/v2.0/token"}"#

    static func run(_ answers: @escaping @Sendable (HTTPRequest) -> HTTPResponse) async throws -> (ProbeReport, FakeTransport) {
        let fake = FakeTransport { .success(answers($0)) }
        let target = Self.target(try Self.secretFile())
        let report = await ProbeRunner(runtime: .test).run(target, transport: fake)
        return (report, fake)
    }

    @Test func discoveryCannotSendTheSecretElsewhere() async throws {
        let (report, fake) = try await Self.run { request in
            request.url.contains("openid-configuration")
                ? FakeTransport.response(status: 200, body: #"{"token_endpoint":"https://evil.example/t/oauth2/v2.0/token"}"#)
                : FakeTransport.response(status: 200, body: #"{"access_token":"stolen","expires_in":3600}"#)
        }
        let oauth = report.checks.first { $0.check == "oauth_token" }
        #expect(oauth?.reason == "token_endpoint_error", "\(oauth?.summary ?? "")")
        #expect(fake.requests.count == 1, "only the discovery was sent")
        #expect(!fake.requests.contains { String(decoding: $0.0.body ?? [], as: UTF8.self).contains("s3cret") })
    }

    @Test(arguments: [
        (200, #"{"token_type":"Bearer"}"#, "token_endpoint_error"),
        (200, "<html>ok</html>", "token_endpoint_error"),
        (400, String(repeating: "[", count: 100_000), "token_endpoint_error"),
        (
            401,
            #"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: s3cret-value-for-the-hostile-tests"}"#,
            "invalid_client"
        ),
        (429, "", "token_endpoint_error"),
        // A token with an absurd lifetime: taken as five minutes, no crash; opaque, so it lacks the roles.
        (200, #"{"access_token":"opaque-token-value-0123456789","expires_in":1e300}"#, "permission_missing"),
        (200, #"{"access_token":"opaque-token-value-0123456789","expires_in":"inf"}"#, "permission_missing"),
    ])
    func brokenTokenAnswers(status: Int, body: String, reason: String) async throws {
        let (report, _) = try await Self.run { request in
            request.url.contains("openid-configuration")
                ? FakeTransport.response(status: 200, body: Self.discovery)
                : FakeTransport.response(status: status, body: body)
        }
        let oauth = report.checks.first { $0.check == "oauth_token" }
        #expect(oauth?.status == .fail)
        #expect(oauth?.reason == reason, "\(oauth?.summary ?? "")")
        #expect(report.checks.first { $0.check == "mailbox_api" }?.reason == "no_token")
        #expect(!(oauth?.summary.contains("s3cret") ?? true), "\(oauth?.summary ?? "")")
    }
}

extension CloudConfigTests {
    /// probes/cloud-connectors.yml loads once its files exist (here: placeholders in a temporary
    /// folder instead of /etc/ewsprobe).
    @Test func shippedExampleLoads() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("probes/cloud-connectors.yml"), encoding: .utf8)
        for name in ["m365.secret", "m365-app.crt", "m365-app.key"] {
            try "x".write(to: Self.directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        try FileManager.default.copyItem(
            at: Self.directory.appendingPathComponent("sa.json"), to: Self.directory.appendingPathComponent("google-sa.json"))
        defer { try? FileManager.default.removeItem(at: Self.directory.appendingPathComponent("google-sa.json")) }
        let yaml = text.replacingOccurrences(of: "/etc/ewsprobe/", with: Self.directory.path + "/")
        let config = try ConfigLoader.load(yaml: yaml, name: "cloud-connectors.yml", registry: .builtin)
        #expect(config.targets.map(\.endpoint.kind) == [.m365, .m365, .m365, .googleWorkspace])
        #expect(config.targets[1].module.checkNames == ["dns", "tcp", "tls", "oauth_token", "mailbox_api"])
        #expect(
            config.targets[2].endpoint.hostURLs.map(\.host) == ["login.microsoftonline.us", "graph.microsoft.us", "outlook.office365.us"])
        #expect(config.targets[3].proxy?.host == "proxy.example.com")
    }
}
