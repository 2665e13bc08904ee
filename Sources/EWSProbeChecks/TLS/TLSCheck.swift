import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `tls`: the certificate as the cloud service judges it (public roots, the EWS host name), on
/// every address. The run is `TLSHandshake` per address, the verdict `TLSFaultJudge` (pure),
/// the result `TLSReport`: every fault is reported, not only the first.
public struct TLSCheck: Check {
    public static let name = "tls"
    public static let endpointKinds: Set<EndpointKind> = [.ews, .directory, .m365, .googleWorkspace]
    public static let judgesEachHost = true

    public enum Mode: String, Sendable, CaseIterable {
        /// Any trust fault fails (what the cloud service does).
        case strict
        /// Trust faults become warnings; everything is still measured.
        case relaxed
    }

    public typealias ProtocolVersion = TLSProtocolVersion

    /// `revocation`: whether the chain's revocation state is looked up.
    public enum Revocation: String, Sendable, CaseIterable {
        case check, off
    }

    public var mode: Mode = .strict
    public var warnDays = 21
    public var failDays = 7
    public var minVersion: ProtocolVersion = .tls12
    public var revocation: Revocation = .check
    /// Warn (`ocsp_stapling_missing`) when the server staples nothing.
    public var requireStapling = false

    public init() {}

    public init(settings: YAMLSection) throws {
        let keys: Set<String> = ["mode", "warn_days", "fail_days", "min_version", "revocation", "require_stapling"]
        for (key, value) in try settings.entries(allowed: keys) {
            switch key {
            case "mode": mode = try value.choice(Mode.self)
            case "warn_days": warnDays = try value.int(in: 0...3650)
            case "fail_days": failDays = try value.int(in: 0...3650)
            case "min_version": minVersion = try value.choice(ProtocolVersion.self)
            case "revocation": revocation = try value.choice(Revocation.self)
            case "require_stapling": requireStapling = try value.bool()
            default: break
            }
        }
        guard failDays <= warnDays else { throw settings.error("fail_days (\(failDays)) must not exceed warn_days (\(warnDays))") }
    }

    public func plan(_ plan: inout ProbePlan, for url: EndpointURL) {
        if plan.kind == .ews, url.isTLS { plan.sharedProbeBody = SOAPEnvelope.anonymousGetFolder }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard ctx.target.url.isTLS || ctx.target.url.startsTLS else {
            return CheckResult(check: Self.name, status: .skip, reason: "not_https", summary: "the URL is not https")
        }
        guard let addresses = await AddressFanOut.addresses(ctx) else { return AddressFanOut.noAddresses(Self.name, "connect to") }
        var revocationJudge = RevocationJudge()
        revocationJudge.mode = mode
        revocationJudge.requireStapling = requireStapling
        let handshake = TLSHandshake(judge: judge, revocation: revocation, revocationJudge: revocationJudge)
        var nodes = await AddressFanOut.map(addresses) { index, address in
            await handshake.inspect(address, ctx, shareConnection: index == 0)
        }
        if ctx.target.url.kind == .directory { await nameDirectories(&nodes, ctx) }
        var result = TLSReport(judge: judge).render(
            nodes, host: ctx.target.url.host, includeDetails: ctx.includeDetails, now: Date().timeIntervalSince1970)
        result.durationSeconds = timer.elapsed
        return result
    }

    /// A directory whose certificate does not name the URL's host: the name its RootDSE gives
    /// it (`dnsHostName`), read once without trusting the certificate and without a password,
    /// goes beside the mismatch, where the seed's FQDN rule needs it.
    func nameDirectories(_ nodes: inout [TLSNodeReport], _ ctx: ProbeContext) async {
        let mismatch = "hostname_mismatch"
        guard let first = nodes.first(where: { $0.faults.contains { $0.reason == mismatch } }) else { return }
        // At most two seconds of the run: the `ldap` check after this one still gets its turn.
        let deadline = min(ctx.deadline, ContinuousClock.now + .seconds(2))
        let (url, source, watchdog) = (ctx.target.url, ctx.target.sourceAddress, ctx.runtime.watchdog)
        let read = await ctx.runtime.blocking.run {
            LDAPProbe.dnsHostNameWithoutTrust(url, address: first.address, sourceAddress: source, deadline: deadline, watchdog: watchdog)
        }
        guard let name = read ?? nil else { return }
        for index in nodes.indices {
            for fault in nodes[index].faults.indices where nodes[index].faults[fault].reason == mismatch {
                nodes[index].faults[fault].message += "; the directory's RootDSE names it \(LabelValue.bounded(name))"
            }
        }
    }

    /// The settings as the pure judgement takes them.
    public var judge: TLSFaultJudge {
        var judge = TLSFaultJudge()
        judge.mode = mode
        judge.warnDays = warnDays
        judge.failDays = failDays
        judge.minVersion = minVersion
        return judge
    }
}
