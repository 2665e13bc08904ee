import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `tls`: the certificate as the cloud service judges it (public roots, the EWS host name), on
/// every address. The run is `TLSHandshake` per address, the verdict `TLSFaultJudge` (pure),
/// the result `TLSReport`: every fault is reported, not only the first.
public struct TLSCheck: Check {
    public static let name = "tls"
    public static let endpointKinds: Set<EndpointKind> = [.ews, .directory]

    public enum Mode: String, Sendable, CaseIterable {
        /// Any trust fault fails (what the cloud service does).
        case strict
        /// Trust faults become warnings; everything is still measured.
        case relaxed
    }

    public typealias ProtocolVersion = TLSProtocolVersion

    public var mode: Mode = .strict
    public var warnDays = 21
    public var failDays = 7
    public var minVersion: ProtocolVersion = .tls12

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["mode", "warn_days", "fail_days", "min_version"]) {
            switch key {
            case "mode": mode = try value.choice(Mode.self)
            case "warn_days": warnDays = try value.int(in: 0...3650)
            case "fail_days": failDays = try value.int(in: 0...3650)
            case "min_version": minVersion = try value.choice(ProtocolVersion.self)
            default: break
            }
        }
        guard failDays <= warnDays else { throw settings.error("fail_days (\(failDays)) must not exceed warn_days (\(warnDays))") }
    }

    public func plan(_ plan: inout ProbePlan, for url: EndpointURL) {
        if url.kind == .ews, url.isTLS { plan.sharedProbeBody = SOAPEnvelope.anonymousGetFolder }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard ctx.target.url.isTLS || ctx.target.url.startsTLS else {
            return CheckResult(check: Self.name, status: .skip, reason: "not_https", summary: "the URL is not https")
        }
        guard let addresses = await AddressFanOut.addresses(ctx) else { return AddressFanOut.noAddresses(Self.name, "connect to") }
        let handshake = TLSHandshake(judge: judge)
        let nodes = await AddressFanOut.map(addresses) { index, address in
            await handshake.inspect(address, ctx, shareConnection: index == 0)
        }
        var result = TLSReport(judge: judge).render(
            nodes, host: ctx.target.url.host, includeDetails: ctx.includeDetails, now: Date().timeIntervalSince1970)
        result.durationSeconds = timer.elapsed
        return result
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
