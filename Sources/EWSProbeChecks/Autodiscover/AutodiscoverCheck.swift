import EWSProbeCore
import EWSProbeTransport

/// `autodiscover`: does the account's Autodiscover hand out the EWS URL the service is
/// configured with? The walk (`AutodiscoverWalk`) tries the candidates Outlook tries and follows
/// their redirects; the report (`AutodiscoverReport`) compares the external EWS URL found.
public struct AutodiscoverCheck: Check {
    public static let name = "autodiscover"
    public static let endpointKinds: Set<EndpointKind> = [.ews]

    /// `autodiscover.email`: the address to discover (else `mailbox_check`, else a UPN username).
    public var email: String?
    /// `autodiscover.trusted_hosts`: hosts outside the address's domain that may receive the
    /// credentials (`host` exactly, `.domain` for every name under it), e.g. a hybrid
    /// deployment's redirect to another domain.
    public var trustedHosts: [String] = []

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["email", "trusted_hosts"]) {
            switch key {
            case "email":
                let address = try value.nonEmptyString()
                guard AutodiscoverWalk.domain(of: address) != nil else { throw value.error("email must be an address (user@domain)") }
                email = address
            case "trusted_hosts":
                trustedHosts = try value.stringList().map { $0.lowercased() }
                if let bad = trustedHosts.first(where: {
                    AutodiscoverWalk.domain(of: "x@\($0.hasPrefix(".") ? String($0.dropFirst()) : $0)") == nil
                }) {
                    throw value.error("trusted_hosts: \"\(bad)\" is not a host name (or .domain)")
                }
            default: break
            }
        }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard let address = address(ctx.target) else {
            return CheckResult(
                check: Self.name, status: .skip, reason: "no_address",
                summary: "no address to discover (set autodiscover.email, mailbox_check, or a UPN username)")
        }
        var credentials: (username: String, password: Secret)?
        if let username = ctx.target.username {
            do throws(SecretError) {
                if let password = try ctx.password() { credentials = (username, password) }
            } catch {
                return CheckResult(check: Self.name, status: .fail, reason: "credentials_unavailable", summary: "\(error)")
            }
        }
        let walk = AutodiscoverWalk(ctx, credentials: credentials, trustedHosts: trustedHosts)
        let ending = await walk.discover(address)
        return AutodiscoverReport.render(
            ending, attempts: walk.attempts, address: address, configured: ctx.target.url, includeDetails: ctx.includeDetails,
            seconds: timer.elapsed, shown: walk.shown)
    }

    func address(_ target: TargetConfig) -> String? {
        if let email { return email }
        if let mailbox = target.mailboxCheck, mailbox.contains("@") { return mailbox }
        if let username = target.username, let at = username.firstIndex(of: "@"), username.index(after: at) < username.endIndex {
            return username
        }
        return nil
    }
}
