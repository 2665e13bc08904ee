import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `oauth_token`: the connector gets its token as the cloud service does. Microsoft 365: tenant
/// discovery, then the client-credentials grant for Graph with the client secret or the
/// certificate's assertion; Google Workspace: the JWT bearer grant as the mailbox (domain-wide
/// delegation). The token's claims are reported and the roles the connector needs checked; a
/// certificate credential's own expiry is watched.
public struct OAuthTokenCheck: Check {
    public static let name = "oauth_token"
    public static let endpointKinds: Set<EndpointKind> = [.m365, .googleWorkspace]

    /// Days before the certificate credential expires from which the check warns.
    public var warnDays = 30

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["warn_days"]) where key == "warn_days" {
            warnDays = try value.int(in: 0...3650)
        }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        let outcome = await TokenSource(ctx: ctx).token(.mailAPI)
        var result = CheckResult(check: Self.name, status: .pass, summary: "", trace: outcome.trace)
        let now = Date().timeIntervalSince1970
        let expiry = Self.credentialExpiry(ctx.target.endpoint)
        if let expiry {
            result.measurements.append(
                Measurement(
                    "ewsprobe_oauth_credential_expiry_timestamp_seconds", expiry,
                    help: "When the connector's certificate credential (certificate_file) expires."))
            result.details.append(("credential_expires", .string(Timestamp.text(expiry))))
        }
        switch outcome.result {
        case .failure(let failure):
            result.status = .fail
            result.reason = failure.reason
            result.summary = failure.summary
            if let expiry, expiry <= now {
                result.reason = "credential_expiring"
                result.summary = "certificate_file expired on \(String(Timestamp.text(expiry).prefix(10))); " + failure.summary
            }
            if let code = failure.aadsts { result.details.append(("aadsts", .int(code))) }
            result.measurements.append(Self.success(false))
        case .success(let token):
            result = Self.judge(token, cached: outcome.cached, ctx: ctx, base: result)
            if let expiry {
                let days = Int(((expiry - now) / 86400).rounded(.down))
                if expiry <= now {
                    result.status = .fail
                    result.reason = "credential_expiring"
                    result.summary = "certificate_file expired on \(String(Timestamp.text(expiry).prefix(10))); " + result.summary
                } else if days < warnDays, result.status != .fail {
                    result.status = .warn
                    result.reason = "credential_expiring"
                    result.summary =
                        "certificate_file expires on \(String(Timestamp.text(expiry).prefix(10))) (\(days) days): add a new certificate to the app; "
                        + result.summary
                }
            }
            result.measurements.append(Self.success(result.status != .fail))
        }
        if result.status == .fail, let reason = result.reason { TokenSource(ctx: ctx).recordOAuthFailure(reason) }
        result.durationSeconds = timer.elapsed
        return result
    }

    static func judge(_ token: AccessToken, cached: Bool, ctx: ProbeContext, base: CheckResult) -> CheckResult {
        var result = base
        let claims = token.claims
        result.measurements.append(
            Measurement(
                "ewsprobe_oauth_token_expiry_timestamp_seconds", token.expiresAt, help: "When the connector's current token expires."))
        for role in claims.roles {
            result.measurements.append(
                Measurement(
                    "ewsprobe_oauth_token_roles_info", 1, help: "Application roles the connector's token carries; the value is always 1.",
                    labels: [("role", role)]))
        }
        result.details += [
            ("token_endpoint", .string(token.tokenEndpoint)),
            ("scope", .string(token.scope)),
            ("cached", .bool(cached)),
            ("expires", .string(Timestamp.text(token.expiresAt))),
            ("roles", .array(claims.roles.map { .string($0) })),
            ("scopes", .array(claims.scopes.map { .string($0) })),
        ]
        if let tenant = claims.tenant { result.details.append(("tenant_id", .string(tenant))) }
        if let app = claims.appID { result.details.append(("app_id", .string(app))) }
        let minutes = Int(min(max(0, token.expiresAt - Date().timeIntervalSince1970), 86400) / 60)
        var said = [claims.roles.isEmpty ? nil : "roles \(claims.roles.joined(separator: ", "))"]
        if claims.roles.isEmpty, !claims.scopes.isEmpty { said.append("scopes \(claims.scopes.joined(separator: " "))") }
        said.append(claims.tenant.map { "tenant \($0)" })
        said.append("expires in \(minutes) min")
        let facts = said.compactMap { $0 }.joined(separator: ", ")
        let source = cached ? "from the cache" : "from \(EndpointURL(token.tokenEndpoint)?.host ?? token.tokenEndpoint)"
        result.summary = "token for \(token.scope) \(source) (\(facts))"
        let missing = TokenSource(ctx: ctx).missingRoles(token, .mailAPI)
        if case .googleWorkspace = ctx.target.endpoint, !missing.isEmpty {
            result.status = .fail
            result.reason = "permission_missing"
            result.summary =
                "the token was granted without the scope\(missing.count == 1 ? "" : "s") \(missing.joined(separator: " ")):"
                + " authorise it for the client in the domain-wide delegation"
        }
        if case .m365 = ctx.target.endpoint {
            if !missing.isEmpty {
                result.status = .fail
                result.reason = "permission_missing"
                result.summary =
                    "the Graph token lacks the application role\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", "))"
                    + " (it has \(claims.roles.isEmpty ? "none" : claims.roles.joined(separator: ", "))): add the API permission"
                    + " and grant admin consent"
            }
        }
        return result
    }

    /// The certificate credential's `notAfter`, when the connector has one that can be read.
    static func credentialExpiry(_ endpoint: TargetEndpoint) -> Double? {
        guard case .m365(let connector) = endpoint, case .certificate(let file, _) = connector.credential,
            case .success(let bytes) = RegularFile.read(file, limit: 256 << 10)
        else { return nil }
        return Certificate.parseAll(pem: String(decoding: bytes, as: UTF8.self)).first?.notAfter
    }

    static func success(_ worked: Bool) -> Measurement {
        Measurement("ewsprobe_oauth_token_success", worked ? 1 : 0, help: "Whether the connector got a token with the roles it needs.")
    }
}
