import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `exo_ews`: EWS on Exchange Online as the connector uses it: `GetFolder` on the Mailbox Check
/// inbox with the bearer token for `EXCHANGE/.default`, `ExchangeImpersonation` and
/// `X-AnchorMailbox`. Exchange Online switched EWS off on 1 October 2026 for tenants that did
/// not opt in and removes it on 1 April 2027: its 403 with `X-EWS-Policy-Reason` is told apart
/// from a permission problem, and the days left are exposed.
public struct ExoEWSCheck: Check {
    public static let name = "exo_ews"
    public static let endpointKinds: Set<EndpointKind> = [.m365]

    /// 2027-04-01T00:00:00Z: EWS is removed from Exchange Online.
    public static let retirement = 1_806_537_600.0

    public init() {}

    public init(settings: YAMLSection) throws {
        _ = try settings.entries(allowed: [])
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard let mailbox = ctx.target.mailboxCheck, let connector = ctx.target.endpoint.m365 else {
            return CheckResult(check: Self.name, status: .skip, summary: "no mailbox_check configured")
        }
        let token: AccessToken
        var result: CheckResult
        switch await TokenSource(ctx: ctx).token(for: Self.name, .exchange) {
        case .failure(let box):
            result = box.result
            if result.status == .fail {
                result.summary = "Exchange Online token: " + result.summary
                result.measurements += [Self.success(false), Self.retirementMeasurement]
            }
            return result
        case .success(let (found, outcome)):
            token = found
            result = CheckResult(check: Self.name, status: .pass, summary: "", trace: outcome.trace)
        }
        result.measurements.append(Self.retirementMeasurement)
        let url = CloudURL.base(connector.exchange) + "/EWS/Exchange.asmx"
        result.trace.append("GetFolder inbox impersonating \(mailbox)")
        let headers = [("Content-Type", "text/xml; charset=utf-8"), ("X-AnchorMailbox", mailbox)]
        if let response = await TokenSource(ctx: ctx).call(
            url, method: "POST", headers: headers, body: SOAPEnvelope.getFolder(impersonating: mailbox), token: token, .exchange,
            into: &result)
        {
            result = ExoEWSVerdict.judge(response, mailbox: mailbox, token: token, base: result, ctx: ctx)
        }
        let days = Int(((Self.retirement - Date().timeIntervalSince1970) / 86400).rounded(.up))
        if result.status == .pass {
            result.summary += days > 0 ? "; EWS leaves Exchange Online on 2027-04-01 (\(days) days): move the connector to Graph" : ""
        }
        result.details.append(("retirement", .string(Timestamp.text(Self.retirement))))
        result.durationSeconds = timer.elapsed
        result.measurements.append(Self.success(result.status != .fail))
        return result
    }

    static var retirementMeasurement: EWSProbeCore.Measurement {
        EWSProbeCore.Measurement(
            "ewsprobe_exo_ews_retirement_timestamp_seconds", retirement, help: "When Exchange Online removes EWS (2027-04-01).")
    }

    static func success(_ worked: Bool) -> EWSProbeCore.Measurement {
        EWSProbeCore.Measurement(
            "ewsprobe_exo_ews_success", worked ? 1 : 0, help: "Whether the connector read the mailbox through EWS on Exchange Online.")
    }
}
