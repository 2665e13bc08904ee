import Foundation

/// `ews_login`: the "Mailbox Check". The service account logs in with Basic and reads the inbox
/// of the `mailbox_check` mailbox through impersonation (or its own inbox without one), as the
/// cloud service's "Test Connection" does. Credentials are only ever sent over a connection whose
/// certificate verified.
public struct EWSLoginCheck: Check {
    public static let name = "ews_login"

    public init() {}

    public init(settings: YAMLSection) throws {
        _ = try settings.entries(allowed: [])
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        let target = ctx.target
        guard let username = target.username, target.password != nil else {
            return CheckResult(check: Self.name, status: .skip, summary: "no credentials configured")
        }
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        // The loader and the CLI refuse such targets; this holds for targets built otherwise.
        if let refusal = CredentialPolicy.refusal(for: target.url) {
            result.status = .fail
            result.reason = "tls_untrusted"
            result.summary = "credentials not sent: \(refusal)"
            result.measurements.append(Self.success(false))
            return result
        }
        let secret: Secret
        do {
            secret = try ctx.password()!
        } catch {
            result.status = .fail
            result.reason = "credentials_unavailable"
            result.summary = "\(error)"
            return result
        }
        let resolution = await ctx.addresses()
        guard let address = resolution.addresses.first else {
            return CheckResult(check: Self.name, status: .skip, reason: "no_addresses", summary: "no address to ask (dns failed)")
        }
        let mailbox = target.mailboxCheck
        var headers = [
            ("Content-Type", "text/xml; charset=utf-8"),
            ("Authorization", "Basic " + Data("\(username):\(secret.reveal())".utf8).base64EncodedString()),
        ]
        if let mailbox { headers.append(("X-AnchorMailbox", mailbox)) }
        // A fresh connection: never reuse one on which another check saw an unverified certificate.
        var request = ctx.request(method: "POST", pinnedTo: address, headers: headers, body: SOAPEnvelope.getFolder(impersonating: mailbox))
        request.bodyLimit = 256 * 1024
        let what = mailbox.map { "the inbox of \($0) as \(username) (impersonation)" } ?? "the inbox of \(username)"
        result.trace.append("POST GetFolder inbox as \(username)" + (mailbox.map { ", impersonating \($0)" } ?? ""))
        let response: HTTPResponse
        do {
            response = try await ctx.transport.exchange(request, policy: .oneShot)
        } catch {
            result.status = .fail
            result.durationSeconds = timer.elapsed
            if error.kind == .tls {
                result.reason = "tls_untrusted"
                result.summary = "credentials not sent: the TLS handshake or certificate verification failed (\(error.message))"
            } else {
                result.reason = "request_failed"
                result.summary = "reading \(what) failed: \(error.message)"
            }
            result.measurements.append(Self.success(false))
            return result
        }
        result.trace.append("-> \(response.status) \(response.header("Content-Type") ?? "")")
        result = judge(response, what: what, base: result)
        result.durationSeconds = timer.elapsed
        if result.status == .pass, let suffix = UserPrincipalName.localOnlySuffix(of: username) {
            result.status = .warn
            result.reason = "local_upn_suffix"
            result.summary += "; but the UPN suffix \(suffix) is local-only (use the public UPN)"
        }
        result.measurements.append(Self.success(result.status != .fail))
        return result
    }

    static func success(_ worked: Bool) -> Measurement {
        Measurement("ewsprobe_ews_login_success", worked ? 1 : 0, help: "Whether the EWS login (and impersonation) worked.")
    }

    func judge(_ response: HTTPResponse, what: String, base: CheckResult) -> CheckResult {
        var result = base
        let body = response.bodyText
        result.details = [("http_status", .int(response.status))]
        if response.status == 401 {
            result.status = .fail
            if body.lowercased().contains("locked out") {
                result.reason = "account_locked_out"
                result.summary = "the service account is locked out"
            } else {
                result.reason = "auth_rejected"
                result.summary = "credentials rejected (401): wrong or expired password, or Basic is off"
            }
            return result
        }
        let answer = EWSResponseParser.parse(body)
        if let version = answer.versionText {
            result.details.append(("server_version", .string(version)))
            result.measurements.append(
                Measurement(
                    "ewsprobe_ews_server_version_info", 1, help: "Exchange version from the SOAP header; the value is always 1.",
                    labels: [("version", LabelValue.bounded(version))]))
        }
        guard answer.isSOAP else {
            result.status = .fail
            result.reason = "not_ews"
            result.summary =
                "the answer (status \(response.status), \(response.header("Content-Type") ?? "no type")) is not an EWS SOAP response"
            return result
        }
        if let code = answer.errorCode {
            result.status = .fail
            result.details.append(("response_code", .string(code)))
            if let text = answer.messageText ?? answer.faultString { result.details.append(("message", .string(text))) }
            switch code {
            case "ErrorImpersonateUserDenied", "ErrorImpersonationDenied":
                result.reason = "impersonation_denied"
                result.summary = "login works but impersonation is denied (\(code)): assign the ApplicationImpersonation role"
            case "ErrorNonExistentMailbox":
                result.reason = "mailbox_not_found"
                result.summary = "the mailbox to check does not exist (\(code))"
            case "ErrorAccessDenied":
                result.reason = "access_denied"
                result.summary = "access denied (\(code))"
            case "ErrorServerBusy":
                result.reason = "server_busy"
                result.summary = "EWS is throttling the account (\(code))"
            default:
                result.reason = "soap_error"
                result.summary = "EWS answered \(code)"
            }
            return result
        }
        guard response.status == 200, answer.responseClass == "Success" else {
            result.status = .fail
            result.reason = "soap_error"
            result.summary =
                response.status == 200
                ? "the SOAP answer holds no successful GetFolder response message"
                : "EWS answered status \(response.status) without an error code"
            return result
        }
        result.summary = "read \(what)" + (answer.versionText.map { " (Exchange \($0))" } ?? "")
        return result
    }
}
