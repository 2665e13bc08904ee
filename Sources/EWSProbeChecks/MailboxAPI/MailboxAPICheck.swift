import EWSProbeCore
import EWSProbeTransport

/// `mailbox_api`: the connector reads the Mailbox Check mailbox through the API the service is
/// moving to: Graph's `GET /v1.0/users/ADDR/mailFolders/inbox` (Microsoft 365) or Gmail's
/// `GET /gmail/v1/users/ADDR/profile` (Google Workspace), with the token `oauth_token` got.
public struct MailboxAPICheck: Check {
    public static let name = "mailbox_api"
    public static let endpointKinds: Set<EndpointKind> = [.m365, .googleWorkspace]

    public init() {}

    public init(settings: YAMLSection) throws {
        _ = try settings.entries(allowed: [])
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard let mailbox = ctx.target.mailboxCheck else {
            return CheckResult(check: Self.name, status: .skip, summary: "no mailbox_check configured")
        }
        let token: AccessToken
        var result: CheckResult
        switch await TokenSource(ctx: ctx).token(for: Self.name, .mailAPI) {
        case .failure(let box):
            result = box.result
            if result.status == .fail { result.measurements.append(Self.success(false)) }
            return result
        case .success(let (found, outcome)):
            token = found
            result = CheckResult(check: Self.name, status: .pass, summary: "", trace: outcome.cached ? [] : outcome.trace)
        }
        let api: MailboxAPIVerdict.API
        let url: String
        switch ctx.target.endpoint {
        case .googleWorkspace(let connector):
            api = .gmail
            url = CloudURL.base(connector.api) + "/gmail/v1/users/\(CloudClient.segment(mailbox))/profile"
        default:
            api = .graph
            url =
                CloudURL.base(ctx.target.endpoint.m365?.graph ?? M365Connector.defaultGraph)
                + "/v1.0/users/\(CloudClient.segment(mailbox))/mailFolders/inbox"
        }
        if let response = await TokenSource(ctx: ctx).call(url, token: token, .mailAPI, into: &result) {
            result = MailboxAPIVerdict.judge(response, api: api, mailbox: mailbox, base: result, ctx: ctx)
        }
        result.durationSeconds = timer.elapsed
        result.measurements.append(Self.success(result.status != .fail))
        return result
    }

    static func success(_ worked: Bool) -> EWSProbeCore.Measurement {
        EWSProbeCore.Measurement(
            "ewsprobe_mailbox_api_success", worked ? 1 : 0, help: "Whether the connector read the mailbox through Graph or Gmail.")
    }
}
