import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeExposition
@testable import EWSProbeTransport

/// The cloud connectors against the lab's Authlib authority, Graph, Exchange Online and Gmail
/// (`CloudLab`): every reason of the contract's cloud table, msal and google-auth agreeing on
/// every token verdict, the assertions as Microsoft and Google document them, the token cache,
/// the proxy, and no secret, assertion or token in any output of the shipped binary.
@Suite(.serialized) struct CloudConnectorTests {
    typealias Verdict = (status: CheckStatus, reason: String?)
    static let ok: Verdict = (.pass, nil)
    static let noToken: Verdict = (.skip, "no_token")

    /// Case -> oauth_token, mailbox_api, exo_ews (nil for Google).
    static let expectations: [String: (Verdict, Verdict, Verdict?)] = [
        "good-secret": (ok, ok, ok),
        "good-cert": (ok, ok, ok),
        "unknown-tenant": ((.fail, "tenant_not_found"), noToken, noToken),
        "unknown-client": ((.fail, "invalid_client"), noToken, noToken),
        "wrong-secret": ((.fail, "invalid_client"), noToken, noToken),
        "expired-secret": ((.fail, "secret_expired"), noToken, noToken),
        "unregistered-cert": ((.fail, "invalid_client"), noToken, noToken),
        "expiring-cert": ((.warn, "credential_expiring"), ok, ok),
        "expired-cert": ((.fail, "credential_expiring"), noToken, noToken),
        "disabled-app": ((.fail, "invalid_client"), noToken, noToken),
        "missing-role": ((.fail, "permission_missing"), noToken, noToken),
        "ews-no-full-access": (ok, ok, (.fail, "permission_missing")),
        "mailbox-not-found": (ok, (.fail, "mailbox_not_found"), (.fail, "mailbox_not_found")),
        "mailbox-disabled": (ok, (.fail, "mailbox_not_found"), (.fail, "mailbox_not_found")),
        "throttled": (ok, (.warn, "throttled"), (.warn, "throttled")),
        "ews-disabled": (ok, ok, (.fail, "ews_disabled")),
        "ews-blocked": (ok, ok, (.fail, "ews_blocked_by_policy")),
        "hang-token": ((.fail, "request_failed"), noToken, noToken),
        "html-token": ((.fail, "token_endpoint_error"), noToken, noToken),
        "reflect": ((.fail, "invalid_client"), noToken, noToken),
        "reflect-cert": (ok, (.fail, "permission_missing"), (.fail, "soap_error")),
        "google-good": (ok, ok, nil),
        "google-unauthorized": ((.fail, "unauthorized_client"), noToken, nil),
        "google-bad-key": ((.fail, "invalid_client"), noToken, nil),
        "google-unknown-user": ((.fail, "token_endpoint_error"), noToken, nil),
        "google-mail-disabled": (ok, (.fail, "mailbox_not_found"), nil),
        "google-throttled": (ok, (.warn, "throttled"), nil),
        "google-hang": ((.fail, "request_failed"), noToken, nil),
    ]

    static func result(_ report: ProbeReport, _ check: String) -> CheckResult? { report.checks.first { $0.check == check } }

    /// Every case's verdicts; msal (Microsoft) or google-auth (Google) gets a token exactly when
    /// ewsprobe does, and the AADSTS number ewsprobe reports is the one msal saw.
    @Test func everyCaseGivesItsVerdictAndTheOraclesAgree() async throws {
        let lab = try CloudLab()
        defer { lab.stop() }
        #expect(Set(lab.cases.keys) == Set(Self.expectations.keys), "the lab's cases changed")
        let runner = ProbeRunner(runtime: ProbeRuntime())
        for (name, expected) in Self.expectations.sorted(by: { $0.key < $1.key }) {
            let report = await runner.run(try lab.target(name))
            let checks: [(String, Verdict?)] = [("oauth_token", expected.0), ("mailbox_api", expected.1), ("exo_ews", expected.2)]
            for (check, verdict) in checks {
                guard let verdict else {
                    #expect(Self.result(report, check) == nil, "\(name): \(check) is not in Google's default module")
                    continue
                }
                let result = try #require(Self.result(report, check), "\(name) \(check)")
                let said = "\(name) \(check): \(result.status) \(result.reason ?? "-") \(result.summary)"
                #expect(result.status == verdict.status, "\(said)")
                #expect(result.reason == verdict.reason, "\(said)")
            }
            for check in ["dns", "tcp", "tls"] {
                #expect(Self.result(report, check)?.status == .pass, "\(name) \(check): \(Self.result(report, check)?.summary ?? "")")
            }
            let oauth = try #require(Self.result(report, "oauth_token"))
            let gotToken = oauth.status != .fail || oauth.reason == "permission_missing"
            let oracle = try lab.oracle(name)
            let oracleGot = oracle["token"] as? String == "ok"
            #expect(gotToken == oracleGot, "\(name): ewsprobe \(oauth.reason ?? "token"), oracle \(oracle)")
            if let codes = oracle["error_codes"] as? [Int], let first = codes.first {
                let reported = oauth.details.first { $0.0 == "aadsts" }?.1
                #expect(reported == .int(first), "\(name): msal saw AADSTS\(first), ewsprobe \(String(describing: reported))")
            }
            if oracleGot, let roles = oracle["roles"] as? [String] {
                let ours = oauth.measurements.filter { $0.name == "ewsprobe_oauth_token_roles_info" }.compactMap { $0.labels.first?.1 }
                #expect(Set(ours) == Set(roles), "\(name): roles \(ours) vs msal's \(roles)")
            }
        }
    }

    /// The certificate credential's assertion is the one Microsoft documents (PS256, `x5t#S256`
    /// = the certificate's SHA-256 thumbprint, aud = the v2.0 token endpoint, iss = sub = the
    /// client id, a jti, a few minutes' life), Google's grant RFC 7523's (RS256, kid, sub = the
    /// mailbox), and each goes only where it belongs.
    @Test func assertionsAreWhatTheAuthoritiesDocument() async throws {
        let lab = try CloudLab()
        defer { lab.stop() }
        let runner = ProbeRunner(runtime: ProbeRuntime())
        _ = await runner.run(try lab.target("good-cert"))
        _ = await runner.run(try lab.target("google-good"))
        let posted = lab.requests().compactMap { $0["assertion"] as? [String: Any] }
        let microsoft = try #require(posted.first { ($0["header"] as? [String: Any])?["alg"] as? String == "PS256" })
        let header = try #require(microsoft["header"] as? [String: Any])
        let claims = try #require(microsoft["claims"] as? [String: Any])
        let certificate = try #require(
            Certificate.parseAll(pem: try String(contentsOfFile: lab.string("good-cert", "certificate_file")!, encoding: .utf8)).first)
        #expect(header["x5t#S256"] as? String == ClientCertificate.base64URL(hex: certificate.sha256))
        #expect(header["typ"] as? String == "JWT")
        let clientID = lab.string("good-cert", "client_id")
        #expect(claims["iss"] as? String == clientID && claims["sub"] as? String == clientID)
        let tenantID = try #require(lab.string("good-cert", "tenant_id"))
        #expect(claims["aud"] as? String == "https://login.cloud.test:\(lab.port)/\(tenantID)/oauth2/v2.0/token")
        #expect((claims["jti"] as? String)?.isEmpty == false)
        let issued = try #require((claims["iat"] as? NSNumber)?.doubleValue)
        let expires = try #require((claims["exp"] as? NSNumber)?.doubleValue)
        #expect(expires - issued > 0 && expires - issued <= 600)
        #expect(abs(issued - Date().timeIntervalSince1970) < 60)
        let google = try #require(posted.first { ($0["header"] as? [String: Any])?["alg"] as? String == "RS256" })
        let googleClaims = try #require(google["claims"] as? [String: Any])
        #expect(googleClaims["sub"] as? String == lab.string("google-good", "mailbox"))
        #expect(googleClaims["iss"] as? String == lab.string("google-good", "client_email"))
        #expect(googleClaims["aud"] as? String == "https://oauth2.cloud.test:\(lab.port)/token")
        #expect(googleClaims["scope"] as? String == "https://mail.google.com/")
        #expect((google["header"] as? [String: Any])?["kid"] as? String != nil)
        // Credentials go to the token endpoints only; the APIs see bearer tokens and nothing else.
        for request in lab.requests() {
            let host = (request["host"] as? String ?? "").split(separator: ":").first.map(String.init) ?? ""
            let form = request["form"] as? [String: Any] ?? [:]
            if form["client_secret"] != nil || form["client_assertion"] != nil || form["assertion"] != nil {
                #expect(host == "login.cloud.test" || host == "oauth2.cloud.test", "credentials sent to \(host)")
            }
        }
    }

    /// A token is asked for once per target, credential and scope and kept until a minute before
    /// it expires: a second run asks the authority nothing; another target asks for its own.
    @Test func tokensAreCachedPerTargetAndScope() async throws {
        let lab = try CloudLab()
        defer { lab.stop() }
        let runner = ProbeRunner(runtime: ProbeRuntime())
        func tokenRequests() -> Int { lab.requests().filter { ($0["path"] as? String)?.hasSuffix("/token") == true }.count }
        let first = await runner.run(try lab.target("good-secret"))
        #expect(first.status == .pass)
        #expect(tokenRequests() == 2, "Graph and Exchange Online: one token each")
        let second = await runner.run(try lab.target("good-secret"))
        #expect(second.status == .pass)
        #expect(tokenRequests() == 2, "the second run used the cache")
        #expect(Self.result(second, "oauth_token")?.summary.contains("from the cache") == true)
        #expect(Self.result(second, "oauth_token")?.details.contains { $0.0 == "cached" && $0.1 == .bool(true) } == true)
        _ = await runner.run(try lab.target("good-secret", as: "another"))
        #expect(tokenRequests() == 4, "another target asks for its own")
        // A fresh process knows no token.
        _ = await ProbeRunner(runtime: ProbeRuntime()).run(try lab.target("good-secret"))
        #expect(tokenRequests() == 6)
    }

    /// Every connection goes through the outbound proxy: squid's log has a tunnel to each host
    /// of the connector, and the verdicts are those of the direct run.
    @Test func throughTheOutboundProxy() async throws {
        let lab = try CloudLab()
        defer { lab.stop() }
        let squid = try ProxyLab(["squid-basic"], extra: CloudLab.hosts.flatMap { ["--host", "\($0)=127.0.0.1"] })
        defer { squid.stop() }
        var target = try lab.target("good-cert")
        target.proxy = try ProxyLab.settings(squid.url)
        let report = await ProbeRunner(runtime: ProbeRuntime()).run(target)
        #expect(report.status == .pass, "\(report.checks.map { "\($0.check) \($0.status) \($0.summary)" })")
        let tunnels = squid.connectLines().joined(separator: "\n")
        for host in ["login.cloud.test", "graph.cloud.test", "outlook.cloud.test"] {
            #expect(tunnels.contains("\(host):\(lab.port)"), "no tunnel to \(host): \(tunnels)")
        }
        var throttled = try lab.target("google-throttled")
        throttled.proxy = try ProxyLab.settings(squid.url)
        let google = await ProbeRunner(runtime: ProbeRuntime()).run(throttled)
        #expect(Self.result(google, "mailbox_api")?.reason == "throttled")
        let retry = Self.result(google, "mailbox_api")?.measurements.first { $0.name == "ewsprobe_api_retry_after_seconds" }
        #expect(retry?.value == 41)
    }

    /// The shipped binary: configured connectors by name (`probe --config F NAME`), every
    /// surface (text, JSON, check-config, /metrics, /probe, the status page, the log) free of
    /// every client secret, private key, assertion and token, including the ones a hostile
    /// server reflected, and the contract's metrics in the exposition.
    @Test func theBinaryShowsNoSecretAnywhere() async throws {
        let lab = try CloudLab()
        defer { lab.stop() }
        let names = ["good-secret", "good-cert", "reflect", "reflect-cert", "throttled", "ews-blocked", "google-good", "google-bad-key"]
        let config = lab.directory.appendingPathComponent("cloud.yml")
        try ("targets:\n" + names.map { try lab.yaml($0, extra: "    interval: 10s") }.joined()).write(
            to: config, atomically: true, encoding: .utf8)
        var surfaces: [(String, String)] = []
        for name in names {
            for format in ["text", "json"] {
                let run = try CommandLineTests.run(["probe", "--config", config.path, "--format", format, "-v", name])
                #expect(run.stdout.contains("oauth_token"), "\(run.stdout)\(run.stderr)")
                surfaces.append(("probe \(name) \(format)", run.stdout + run.stderr))
            }
        }
        let json = surfaces.first { $0.0 == "probe good-cert json" }?.1 ?? ""
        #expect(json.contains("\"target\":\"m365:contoso.test/"), "\(json.prefix(400))")
        let check = try CommandLineTests.run(["check-config", config.path])
        #expect(check.status == 0, "\(check.stderr)")
        surfaces.append(("check-config", check.stdout + check.stderr))
        let (serve, port) = try ExporterTests.serve(config, extra: ["--log-level", "trace"])
        defer { serve.stop() }
        // The scheduler spreads the first runs over the interval.
        let metrics = try await ExporterTests.waitFor(port, seconds: 30) {
            $0.contains("ewsprobe_exo_ews_success{target=\"good-cert\"")
                && $0.contains("ewsprobe_mailbox_api_success{target=\"google-good\"")
        }
        for name in [
            "ewsprobe_oauth_token_success", "ewsprobe_oauth_token_expiry_timestamp_seconds", "ewsprobe_oauth_token_roles_info",
            "ewsprobe_mailbox_api_success", "ewsprobe_exo_ews_success", "ewsprobe_exo_ews_retirement_timestamp_seconds",
            "ewsprobe_oauth_credential_expiry_timestamp_seconds", "ewsprobe_api_retry_after_seconds",
        ] {
            #expect(metrics.contains(name + "{"), "no \(name) in /metrics")
        }
        #expect(metrics.contains("ewsprobe_target_info{target=\"google-good\",url=\"google_workspace:"))
        surfaces.append(("/metrics", metrics))
        let base = "http://127.0.0.1:\(port)"
        for name in ["reflect", "reflect-cert", "google-good"] {
            for query in ["", "&debug=true", "&format=json&debug=true"] {
                surfaces.append(("/probe \(name)\(query)", try await ServeTests.get("\(base)/probe?target=\(name)\(query)")))
            }
            surfaces.append(("/status \(name)", try await ServeTests.get("\(base)/status?target=\(name)")))
        }
        surfaces.append(("/", try await ServeTests.get(base + "/")))
        serve.stop()
        surfaces.append(
            ("serve log", (try? String(contentsOf: serve.directory.appendingPathComponent("process.log"), encoding: .utf8)) ?? ""))
        // The servers did reflect, and what they reflected shows redacted.
        let reflected = surfaces.first { $0.0 == "probe reflect-cert json" }?.1 ?? ""
        #expect(reflected.contains("<redacted>"), "\(reflected.prefix(2000))")
        let secrets = lab.secrets + lab.sentCredentials()
        #expect(secrets.count > 10)
        for (surface, text) in surfaces {
            for secret in secrets where text.contains(secret) {
                Issue.record("\(surface) shows a secret: \(secret.prefix(12))…")
            }
            // No part of a JWS signature either (a server may echo a cut token).
            for secret in secrets where secret.split(separator: ".").count == 3 {
                let signature = String(secret.split(separator: ".")[2].prefix(24))
                if text.contains(signature) { Issue.record("\(surface) shows a token's signature") }
            }
        }
    }

    /// A token endpoint that never answers costs the run its own time, and two hundred targets
    /// behind it do not hold up a healthy one probed at the same moment.
    @Test func aSilentAuthorityHoldsNobodyElseUp() async throws {
        let lab = try CloudLab()
        defer { lab.stop() }
        let runner = ProbeRunner(runtime: ProbeRuntime())
        // The token checks alone: two hundred TLS handshakes to three hosts each would measure the
        // debug build's handshakes, not the authority's silence.
        func tokenChecks(_ target: TargetConfig) throws -> TargetConfig {
            var target = target
            target.module = try target.module.selecting(["oauth_token", "mailbox_api", "exo_ews"], registry: .builtin)
            return target
        }
        let silent = try (0..<200).map { try tokenChecks(lab.target("hang-token", as: "s\($0)", timeout: .seconds(4))) }
        let healthy = try tokenChecks(lab.target("good-secret", as: "healthy", timeout: .seconds(4)))
        let results = await withTaskGroup(of: (String, ProbeReport, Duration).self) { group in
            for target in silent + [healthy] {
                group.addTask {
                    let began = ContinuousClock.now
                    let report = await runner.run(target)
                    return (target.name, report, ContinuousClock.now - began)
                }
            }
            var all: [(String, ProbeReport, Duration)] = []
            for await result in group { all.append(result) }
            return all
        }
        for (name, report, took) in results {
            if name == "healthy" {
                #expect(report.status == .pass, "\(report.checks.map { "\($0.check) \($0.summary)" })")
            } else {
                #expect(Self.result(report, "oauth_token")?.reason == "request_failed", "\(name)")
                #expect(Self.result(report, "mailbox_api")?.reason == "no_token")
            }
            #expect(took < .seconds(5), "\(name) took \(took)")
        }
    }
}
