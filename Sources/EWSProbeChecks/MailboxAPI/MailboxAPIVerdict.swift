import EWSProbeCore
import EWSProbeTransport
import Foundation

/// What Graph's or Gmail's answer means for the connector: the HTTP status, then the API's own
/// error code (Graph's `error.code`, Gmail's `error.errors[].reason` and `status`).
enum MailboxAPIVerdict {
    enum API {
        case graph, gmail
        var name: String { self == .graph ? "Graph" : "the Gmail API" }
    }

    static func judge(_ response: HTTPResponse, api: API, mailbox: String, base: CheckResult, ctx: ProbeContext) -> CheckResult {
        var result = base
        result.details.append(("http_status", .int(response.status)))
        let object = CloudClient.json(response)
        let error = object?["error"] as? [String: Any]
        let code = ServerSaid.text(
            (error?["code"] as? String) ?? ((error?["errors"] as? [[String: Any]])?.first?["reason"] as? String)
                ?? (error?["status"] as? String) ?? "",
            ctx)
        let message = ServerSaid.text((error?["message"] as? String) ?? "", ctx)
        if !code.isEmpty { result.details.append(("error_code", .string(code))) }
        let said = [code, message].filter { !$0.isEmpty }.joined(separator: ": ")
        let answer = "\(api.name) answered \(response.status)" + (said.isEmpty ? "" : " (\(said))")
        switch response.status {
        case 200:
            guard let object else {
                result.status = .fail
                result.reason = "request_failed"
                result.summary = "\(api.name) answered 200 without JSON"
                return result
            }
            switch api {
            case .graph:
                let total = (object["totalItemCount"] as? NSNumber)?.intValue
                let unread = (object["unreadItemCount"] as? NSNumber)?.intValue
                result.summary =
                    "read the inbox of \(mailbox) through Graph"
                    + (total.map { " (\($0) items\(unread.map { ", \($0) unread" } ?? ""))" } ?? "")
            case .gmail:
                let total = (object["messagesTotal"] as? NSNumber)?.intValue
                result.summary = "read the Gmail profile of \(mailbox)" + (total.map { " (\($0) messages)" } ?? "")
            }
        case let status where status == 429 || (status == 503 && response.header("Retry-After") != nil):
            let wait = RetryAfter.seconds(response)
            result.status = .warn
            result.reason = "throttled"
            result.summary = "\(answer): throttled" + (wait.map { "; Retry-After \(Int($0)) s" } ?? "")
            if let wait { result.measurements.append(RetryAfter.measurement(wait, check: MailboxAPICheck.name)) }
        case 404:
            result.status = .fail
            result.reason = "mailbox_not_found"
            result.summary = "\(mailbox) has no mailbox the API can open: \(answer)"
        case 400 where code == "failedPrecondition" || message.contains("Mail service not enabled"):
            result.status = .fail
            result.reason = "mailbox_not_found"
            result.summary = "\(mailbox) has no Gmail service: \(answer)"
        case 401, 403:
            result.status = .fail
            result.reason = "permission_missing"
            result.summary =
                "\(answer): "
                + (api == .graph
                    ? "the application lacks the Mail permission for this mailbox (roles, admin consent, application access policy)"
                    : "the service account's delegation does not cover this mailbox or scope")
        default:
            result.status = .fail
            result.reason = "request_failed"
            result.summary = answer
        }
        return result
    }
}
