import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `ldap`: the directory connection the service's recipient validation uses. Over LDAPS or
/// StartTLS only (a certificate that does not verify ends it before any request), the RootDSE,
/// then with credentials a simple bind as the service account, the Mailbox Check address's
/// entry and the account's own health: locked, disabled, expired, must change, password expiry.
public struct LDAPCheck: Check {
    public static let name = "ldap"
    public static let endpointKinds: Set<EndpointKind> = [.directory]

    /// Search base; default the RootDSE's `defaultNamingContext`, else its first naming context.
    public var base: String?
    /// Filter for the mailbox-check address; `ADDR` is replaced by the escaped address.
    public var filter: String?
    public var warnDays = 21
    public var failDays = 7
    /// The seed requires a service account whose password never expires.
    public var requireNonExpiringPassword = true

    public init() {}

    public init(settings: YAMLSection) throws {
        let keys: Set<String> = ["base", "filter", "warn_days", "fail_days", "require_non_expiring_password"]
        for (key, value) in try settings.entries(allowed: keys) {
            switch key {
            case "base": base = try value.string()
            case "filter":
                let text = try value.string()
                guard text.hasPrefix("("), text.hasSuffix(")") else { throw value.error("a filter is parenthesised, as (mail=ADDR)") }
                filter = text
            case "warn_days": warnDays = try value.int(in: 0...3650)
            case "fail_days": failDays = try value.int(in: 0...3650)
            case "require_non_expiring_password": requireNonExpiringPassword = try value.bool()
            default: break
            }
        }
        guard failDays <= warnDays else { throw settings.error("fail_days (\(failDays)) must not exceed warn_days (\(warnDays))") }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard let addresses = await AddressFanOut.addresses(ctx), !addresses.isEmpty else {
            return AddressFanOut.noAddresses(Self.name, "ask")
        }
        let target = ctx.target
        var probe = LDAPProbe(
            url: target.url, addresses: addresses, caFile: target.caFile, sourceAddress: target.sourceAddress, deadline: ctx.deadline,
            username: target.username, mailbox: target.mailboxCheck, base: base, filter: filter,
            contexts: ctx.runtime.store.value(LDAPTLSContexts.self) { LDAPTLSContexts() }, watchdog: ctx.runtime.watchdog)
        if target.username != nil {
            do {
                probe.password = try ctx.password()
            } catch {
                return CheckResult(check: Self.name, status: .fail, reason: "credentials_unavailable", summary: "\(error)")
            }
        }
        // libldap blocks: the steps run on the runtime's blocking pool, never on Swift's.
        let steps = probe
        guard let seen = await ctx.runtime.blocking.run({ steps.run() }) else {
            return CheckResult(
                check: Self.name, status: .fail, reason: "request_failed", summary: "too many directory probes are waiting; not run")
        }
        var result = LDAPReport.render(
            seen, verdict: LDAPVerdict(seen, settings: self, now: Date().timeIntervalSince1970), probe: probe,
            includeDetails: ctx.includeDetails)
        result.durationSeconds = timer.elapsed
        return result
    }
}
