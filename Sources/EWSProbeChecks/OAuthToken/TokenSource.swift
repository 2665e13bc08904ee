import EWSProbeCore
import EWSProbeTransport
import Foundation
import Synchronization

/// Where a connector's checks get their tokens: the runtime's cache, else the authority (Entra's
/// discovery and client-credentials grant, or Google's JWT bearer grant). One answer per run and
/// audience, whichever check asks first; every token and credential the run handles is
/// remembered so nothing the servers reflect of them leaves the run.
struct TokenSource {
    let ctx: ProbeContext

    enum Audience: String, Sendable {
        /// Graph (m365) or the Gmail API (Google): what `oauth_token` and `mailbox_api` use.
        case mailAPI
        /// Exchange Online's EWS (m365).
        case exchange
    }

    /// One grant's outcome with the steps taken, for the trace.
    struct Outcome: Sendable {
        var result: Result<AccessToken, TokenFailure>
        var cached: Bool
        var trace: [String]
    }

    /// The run's outcomes by audience, and `oauth_token`'s reason when it failed.
    final class RunOutcomes: Sendable {
        let outcomes = Mutex<[Audience: Outcome]>([:])
        let oauthFailure = Mutex<String?>(nil)
    }

    /// `oauth_token` records that it failed: the checks after it then skip (`no_token`).
    func recordOAuthFailure(_ reason: String) {
        ctx.shared.value(RunOutcomes.self) { RunOutcomes() }.oauthFailure.withLock { $0 = reason }
    }

    func token(_ audience: Audience) async -> Outcome {
        let outcomes = ctx.shared.value(RunOutcomes.self) { RunOutcomes() }
        if let known = outcomes.outcomes.withLock({ $0[audience] }) { return known }
        let outcome = await fetch(audience)
        outcomes.outcomes.withLock { $0[audience] = outcome }
        return outcome
    }

    private func fetch(_ audience: Audience) async -> Outcome {
        let now = Date().timeIntervalSince1970
        let key = cacheKey(audience)
        let cache = ctx.runtime.store.value(TokenCache.self) { TokenCache() }
        if let token = cache.token(for: key, now: now) {
            ctx.remember(token.value)
            let left = Int(min(max(token.expiresAt - now, 0), 86400))
            return Outcome(
                result: .success(token), cached: true, trace: ["token for \(token.scope) from the cache (expires in \(left) s)"])
        }
        var trace: [String] = []
        let result: Result<AccessToken, TokenFailure>
        switch ctx.target.endpoint {
        case .m365(let connector): result = await microsoft(connector, audience: audience, trace: &trace)
        case .googleWorkspace(let connector): result = await google(connector, trace: &trace)
        case .url:
            result = .failure(TokenFailure(reason: "request_failed", summary: "the target is not a cloud connector"))
        }
        if case .success(let token) = result {
            ctx.remember(token.value)
            // A token without the roles the connector needs is not kept: consent granted
            // meanwhile shows at the next run, not an hour later.
            if missingRoles(token, audience).isEmpty { cache.keep(token, for: key, now: now) }
        }
        return Outcome(result: result, cached: false, trace: trace)
    }

    /// The roles (Microsoft) or scopes (Google) `audience`'s token must carry and does not.
    func missingRoles(_ token: AccessToken, _ audience: Audience) -> [String] {
        switch ctx.target.endpoint {
        case .m365(let connector):
            let needed = audience == .exchange ? [M365Connector.exchangeRole] : connector.requiredRoles
            return needed.filter { !token.claims.roles.contains($0) }
        case .googleWorkspace(let connector):
            return connector.scopes.filter { !token.claims.scopes.contains($0) }
        case .url: return []
        }
    }

    /// Drops `audience`'s cached token (an API refused it with 401: it is no good, whatever it says).
    func forget(_ audience: Audience) {
        ctx.runtime.store.value(TokenCache.self) { TokenCache() }.forget(cacheKey(audience))
    }

    private func cacheKey(_ audience: Audience) -> String {
        var identity: String
        switch ctx.target.endpoint {
        case .m365(let connector):
            switch connector.credential {
            case .secret(let reference): identity = reference.description
            case .certificate(let certificate, let key): identity = certificate + " " + key
            }
            identity += " " + connector.tenantAuthority + " " + connector.clientID
            identity += " " + (audience == .exchange ? connector.exchangeScope : connector.graphScope)
        case .googleWorkspace(let connector):
            identity = connector.serviceAccountFile + " " + (ctx.target.mailboxCheck ?? "") + " " + connector.scopes.joined(separator: " ")
        case .url(let url): identity = url.description
        }
        return ctx.target.name + "\n" + identity + "\n" + (ctx.target.proxy.map { "\($0.host):\($0.port)" } ?? "")
    }

    // MARK: Microsoft

    private func microsoft(_ connector: M365Connector, audience: Audience, trace: inout [String]) async
        -> Result<AccessToken, TokenFailure>
    {
        let client = CloudClient(ctx: ctx)
        let scope = audience == .exchange ? connector.exchangeScope : connector.graphScope
        let authority = connector.authority.host
        trace.append("GET \(connector.discoveryURL)")
        let discovery: HTTPResponse
        switch await client.send(connector.discoveryURL, budget: budget) {
        case .success(let response): discovery = response
        case .failure(let failure): return .failure(TokenFailure(reason: failure.reason, summary: "tenant discovery: \(failure.summary)"))
        }
        trace.append("-> \(discovery.status)")
        guard discovery.status == 200 else {
            var failure = TokenFailure.fromAnswer(discovery, authority: authority, ctx: ctx)
            // Entra answers discovery of an unknown tenant 400 (AADSTS90002); any 400 there means the same.
            if discovery.status == 400 || discovery.status == 404, failure.reason == "token_endpoint_error" {
                failure.reason = "tenant_not_found"
                failure.summary = "the tenant \(connector.tenant) is unknown to \(authority) (discovery answered \(discovery.status))"
            }
            return .failure(failure)
        }
        guard let document = CloudClient.json(discovery), let endpointText = document["token_endpoint"] as? String,
            let tokenEndpoint = EndpointURL(endpointText), tokenEndpoint.scheme == "https"
        else {
            return .failure(
                TokenFailure(reason: "token_endpoint_error", summary: "\(authority)'s OpenID configuration names no https token endpoint"))
        }
        // The credential goes only to the authority configured: a discovery document (or a
        // lying server) cannot send it elsewhere.
        guard tokenEndpoint.host == connector.authority.host, tokenEndpoint.port == connector.authority.port else {
            return .failure(
                TokenFailure(
                    reason: "token_endpoint_error",
                    summary: "the OpenID configuration names a token endpoint on \(LabelValue.bounded(tokenEndpoint.host)), "
                        + "not on the authority \(authority): nothing was sent"))
        }
        var form = [("grant_type", "client_credentials"), ("client_id", connector.clientID), ("scope", scope)]
        switch connector.credential {
        case .secret(let reference):
            let secret: Secret
            do {
                secret = try reference.load(fileKey: "client_secret_file", envKey: "client_secret_env")
            } catch {
                return .failure(TokenFailure(reason: "credentials_unavailable", summary: "\(error)"))
            }
            ctx.remember(secret)
            form.append(("client_secret", secret.reveal()))
        case .certificate(let certificateFile, let keyFile):
            let certificate: ClientCertificate
            switch ClientCertificate.load(certificateFile: certificateFile, keyFile: keyFile) {
            case .success(let loaded): certificate = loaded
            case .failure(let problem): return .failure(TokenFailure(reason: "credentials_unavailable", summary: problem.description))
            }
            let assertion: Secret
            do {
                assertion = try await ClientAssertion.microsoft(
                    clientID: connector.clientID, audience: tokenEndpoint.description, certificate: certificate,
                    now: Date().timeIntervalSince1970)
            } catch {
                return .failure(TokenFailure(reason: "credentials_unavailable", summary: "signing the client assertion failed: \(error)"))
            }
            ctx.remember(assertion)
            form += [
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.reveal()),
            ]
        }
        let credential = form.contains { $0.0 == "client_secret" } ? "client secret" : "certificate (PS256 assertion)"
        trace.append("POST \(tokenEndpoint.description) client_credentials for \(scope) with the \(credential)")
        return await grant(tokenEndpoint.description, authority: authority, form: form, scope: scope, trace: &trace)
    }

    // MARK: Google

    private func google(_ connector: GoogleWorkspaceConnector, trace: inout [String]) async -> Result<AccessToken, TokenFailure> {
        guard let subject = ctx.target.mailboxCheck else {
            return .failure(TokenFailure(reason: "unauthorized_client", summary: "no mailbox_check to act as"))
        }
        let account: ServiceAccountKey
        switch ServiceAccountKey.read(connector.serviceAccountFile) {
        case .success(let key): account = key
        case .failure(let problem): return .failure(TokenFailure(reason: "credentials_unavailable", summary: problem.description))
        }
        ctx.remember(account.privateKey)
        let assertion: Secret
        do {
            assertion = try await ClientAssertion.google(
                account: account, subject: subject, scopes: connector.scopes, now: Date().timeIntervalSince1970)
        } catch {
            return .failure(
                TokenFailure(reason: "credentials_unavailable", summary: "the service account's private_key cannot sign (\(error))"))
        }
        ctx.remember(assertion)
        let form = [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion.reveal())]
        let scope = connector.scopes.joined(separator: " ")
        trace.append("POST \(account.tokenURI.description) jwt-bearer as \(subject) for \(scope)")
        return await grant(account.tokenURI.description, authority: account.tokenURI.host, form: form, scope: scope, trace: &trace)
    }

    // MARK: The grant

    /// The token request's time: half of what the run has left, at least two seconds, so a
    /// silent authority leaves the run time to say so.
    private var budget: Duration { max(.seconds(2), ctx.remaining / 2) }

    private func grant(_ url: String, authority: String, form: [(String, String)], scope: String, trace: inout [String]) async
        -> Result<AccessToken, TokenFailure>
    {
        let response: HTTPResponse
        switch await CloudClient(ctx: ctx).send(
            url, method: "POST", headers: [("Content-Type", "application/x-www-form-urlencoded")], body: CloudClient.form(form),
            budget: budget)
        {
        case .success(let answer): response = answer
        case .failure(let failure): return .failure(TokenFailure(reason: failure.reason, summary: "token request: \(failure.summary)"))
        }
        trace.append("-> \(response.status) \(response.header("Content-Type") ?? "")")
        guard response.status == 200 else { return .failure(TokenFailure.fromAnswer(response, authority: authority, ctx: ctx)) }
        guard let object = CloudClient.json(response), let value = object["access_token"] as? String, !value.isEmpty else {
            return .failure(TokenFailure(reason: "token_endpoint_error", summary: "\(authority) answered 200 without an access token"))
        }
        let token = Secret(value)
        ctx.remember(token)
        let clean = { (text: String) in ServerSaid.text(text, ctx) }
        var claims = TokenClaims.read(value, clean: clean)
        if claims.scopes.isEmpty, claims.roles.isEmpty {
            // Google's answer names the scopes granted when it names any; without, what was asked.
            let granted = (object["scope"] as? String) ?? scope
            claims.scopes = granted.split(separator: " ").prefix(64).map { clean(String($0)) }
        }
        let now = Date().timeIntervalSince1970
        let lifetime = (object["expires_in"] as? NSNumber)?.doubleValue ?? Double(object["expires_in"] as? String ?? "")
        // A lifetime that is no number of seconds up to a day counts as five minutes.
        let expiresAt = lifetime.flatMap { TokenClaims.plausibleTime(now + min(max($0, 0), 86400)) } ?? claims.expires ?? now + 300
        return .success(AccessToken(value: token, expiresAt: expiresAt, claims: claims, scope: scope, tokenEndpoint: url))
    }
}

extension TokenSource {
    /// The token a check after `oauth_token` uses, or that check's result without one: `skip
    /// no_token` when `oauth_token` ran in this run and got none, else the grant's own failure.
    func token(for check: String, _ audience: Audience) async -> Result<(AccessToken, Outcome), CheckResultBox> {
        if let reason = ctx.shared.value(RunOutcomes.self, make: { RunOutcomes() }).oauthFailure.withLock({ $0 }) {
            return .failure(
                CheckResultBox(
                    CheckResult(check: check, status: .skip, reason: "no_token", summary: "no token: oauth_token failed (\(reason))")))
        }
        let outcome = await token(audience)
        switch outcome.result {
        case .success(let token): return .success((token, outcome))
        case .failure(let failure):
            var result = CheckResult(check: check, status: .fail, reason: failure.reason, summary: failure.summary, trace: outcome.trace)
            if let code = failure.aadsts { result.details.append(("aadsts", .int(code))) }
            return .failure(CheckResultBox(result))
        }
    }
}

extension TokenSource {
    /// A request to an API with `token`: its answer, or nil with `result` failed with why there
    /// was none. A 401 drops the token from the cache (it is no good, whatever it says).
    func call(
        _ url: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8]? = nil, token: AccessToken,
        _ audience: Audience, into result: inout CheckResult
    ) async -> HTTPResponse? {
        result.trace.append("\(method) \(url)")
        switch await CloudClient(ctx: ctx).send(
            url, method: method, headers: [("Authorization", "Bearer " + token.value.reveal())] + headers, body: body)
        {
        case .failure(let failure):
            result.status = .fail
            result.reason = failure.reason
            result.summary = failure.summary
            return nil
        case .success(let response):
            result.trace.append("-> \(response.status) \(response.header("Content-Type") ?? "")")
            if response.status == 401 { forget(audience) }
            return response
        }
    }
}

/// A check's result carried as an error (a run that ends before its request).
struct CheckResultBox: Error {
    var result: CheckResult
    init(_ result: CheckResult) { self.result = result }
}
