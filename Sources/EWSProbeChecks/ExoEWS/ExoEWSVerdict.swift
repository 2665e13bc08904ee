import EWSProbeCore
import EWSProbeTransport

/// What Exchange Online's answer to the connector's GetFolder means: the retirement's 403 (with
/// `X-EWS-Policy-Reason`), a permission problem, throttling, then the SOAP answer as `ews_login`
/// reads it.
enum ExoEWSVerdict {
    static func judge(_ response: HTTPResponse, mailbox: String, token: AccessToken, base: CheckResult, ctx: ProbeContext) -> CheckResult {
        var result = base
        result.details.append(("http_status", .int(response.status)))
        let hasRole = token.claims.roles.contains(M365Connector.exchangeRole)
        if response.status == 403, let policy = response.header("X-EWS-Policy-Reason") {
            let said = ServerSaid.text(policy, ctx)
            result.details.append(("policy_reason", .string(said)))
            result.status = .fail
            if policy.lowercased().contains("blocked") {
                result.reason = "ews_blocked_by_policy"
                result.summary =
                    "Exchange Online blocks EWS for this application (\(said)): add the app to EWSAllowedAppIDs or the"
                    + " allow list (Set-OrganizationConfig), or move it to Graph"
            } else {
                result.reason = "ews_disabled"
                result.summary =
                    "EWS is switched off for the tenant or the mailbox (\(said)): the retirement's switch-off since"
                    + " 2026-10-01; EWSEnabled must be true for the organisation and the mailbox, and EWS ends on 2027-04-01"
            }
            return result
        }
        switch response.status {
        case 401, 403:
            result.status = .fail
            result.reason = "permission_missing"
            let diagnostics = response.header("x-ms-diagnostics").map { "; \(ServerSaid.text($0, ctx))" } ?? ""
            result.summary =
                "Exchange Online answered \(response.status) without an EWS policy reason\(diagnostics): "
                + (hasRole
                    ? "the application's access to this mailbox is refused (application access policy, RBAC for applications)"
                    : "the Exchange token lacks the application role \(M365Connector.exchangeRole) (add it and grant admin consent)")
            return result
        case let status where status == 429 || (status == 503 && response.header("Retry-After") != nil):
            result.status = .warn
            result.reason = "throttled"
            let wait = RetryAfter.seconds(response)
            result.summary = "Exchange Online is throttling the application (\(status))" + (wait.map { "; Retry-After \(Int($0)) s" } ?? "")
            if let wait { result.measurements.append(RetryAfter.measurement(wait, check: ExoEWSCheck.name)) }
            return result
        default: break
        }
        let body = response.bodyText
        let answer = EWSResponseParser.parse(body)
        if let version = answer.versionText { result.details.append(("server_version", .string(ServerSaid.text(version, ctx)))) }
        guard answer.isSOAP else {
            result.status = .fail
            result.reason = "request_failed"
            result.summary = "Exchange Online answered \(response.status) without an EWS SOAP response"
            return result
        }
        if let code = answer.errorCode {
            result.status = .fail
            result.details.append(("response_code", .string(ServerSaid.text(code, ctx))))
            switch code {
            case "ErrorServerBusy":
                result.status = .warn
                result.reason = "throttled"
                let wait = backOff(body)
                result.summary =
                    "Exchange Online is throttling the application (ErrorServerBusy)" + (wait.map { "; back off \(Int($0)) s" } ?? "")
                if let wait { result.measurements.append(RetryAfter.measurement(wait, check: ExoEWSCheck.name)) }
            case "ErrorNonExistentMailbox", "ErrorMailboxStoreUnavailable", "ErrorInvalidUser", "ErrorMailboxMoveInProgress":
                result.reason = "mailbox_not_found"
                result.summary = "\(mailbox) has no mailbox EWS can open (\(ServerSaid.text(code, ctx)))"
            case "ErrorImpersonateUserDenied", "ErrorImpersonationDenied", "ErrorAccessDenied",
                "ErrorInvalidExchangeImpersonationHeader":
                result.reason = "permission_missing"
                result.summary =
                    "impersonation of \(mailbox) is refused (\(ServerSaid.text(code, ctx))): the application needs \(M365Connector.exchangeRole)"
                    + " and access to the mailbox"
            default:
                let (reason, summary) = EWSLoginVerdict.reason(forResponseCode: ServerSaid.text(code, ctx))
                result.reason = reason
                result.summary = summary
            }
            return result
        }
        guard response.status == 200, answer.responseClass == "Success" else {
            result.status = .fail
            result.reason = "soap_error"
            result.summary = "Exchange Online answered \(response.status) without a successful GetFolder response"
            return result
        }
        result.summary =
            "read the inbox of \(mailbox) through EWS on Exchange Online" + (answer.versionText.map { " (Exchange \($0))" } ?? "")
        return result
    }

    /// EWS's `BackOffMilliseconds` in an ErrorServerBusy answer, in seconds.
    static func backOff(_ body: String) -> Double? {
        guard let name = body.range(of: "BackOffMilliseconds") else { return nil }
        let rest = body[name.upperBound...].drop { !$0.isNumber }.prefix { $0.isNumber }.prefix(9)
        return Double(rest).map { min($0 / 1000, 86400) }
    }
}
