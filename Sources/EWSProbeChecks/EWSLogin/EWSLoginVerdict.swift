import EWSProbeCore
import EWSProbeTransport

/// The `ews_login` verdict on EWS's answer to the service account's GetFolder: the HTTP status,
/// then the SOAP response (version, response code, response class).
enum EWSLoginVerdict {
    static func judge(_ response: HTTPResponse, what: String, base: CheckResult) -> CheckResult {
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
            (result.reason, result.summary) = Self.reason(forResponseCode: code)
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

    /// An EWS response code as a reason and a summary.
    static func reason(forResponseCode code: String) -> (String, String) {
        switch code {
        case "ErrorImpersonateUserDenied", "ErrorImpersonationDenied":
            ("impersonation_denied", "login works but impersonation is denied (\(code)): assign the ApplicationImpersonation role")
        case "ErrorNonExistentMailbox": ("mailbox_not_found", "the mailbox to check does not exist (\(code))")
        case "ErrorAccessDenied": ("access_denied", "access denied (\(code))")
        case "ErrorServerBusy": ("server_busy", "EWS is throttling the account (\(code))")
        default: ("soap_error", "EWS answered \(code)")
        }
    }
}
