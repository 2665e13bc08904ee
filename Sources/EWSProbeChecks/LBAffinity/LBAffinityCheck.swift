import EWSProbeCore
import EWSProbeTransport
import Foundation

/// `lb_affinity`: does the load balancer keep this client on one Client Access server? NTLM
/// authenticates the connection, so a farm that spreads one client's connections (or worse,
/// one connection's requests) over several servers breaks the cloud service's logins. The
/// challenger's identity (target info names, OS version, Exchange's server headers) shows which
/// server answered; see ntlm.md for the measurement.
public struct LBAffinityCheck: Check {
    public static let name = "lb_affinity"

    /// Fresh connections in the census.
    public var census = 6
    /// NTLM legs on one kept-alive connection: the census's first, whose NEGOTIATE is leg 1.
    public var legs = 4
    /// Repeat the census returning the persistence cookie the balancer set.
    public var cookiePass = false
    /// The census's connections after the first resume the TLS session of the one before: about
    /// half a handshake's CPU each. A balancer that persists on the TLS session then keeps them
    /// together as it would any resuming client; `false` measures with full handshakes only.
    public var tlsResumption = true

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["census", "legs", "cookie_pass", "tls_resumption"]) {
            switch key {
            case "census": census = try value.int(in: 2...100)
            case "legs": legs = try value.int(in: 2...50)
            case "cookie_pass": cookiePass = try value.bool()
            case "tls_resumption": tlsResumption = try value.bool()
            default: break
            }
        }
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard let addresses = await AddressFanOut.addresses(ctx) else { return AddressFanOut.noAddresses(Self.name, "probe") }
        var perAddress: [CheckResult] = []
        for address in addresses {
            perAddress.append(await measure(address, ctx))
        }
        var result = combine(perAddress, addresses: addresses)
        result.durationSeconds = timer.elapsed
        return result
    }

    func combine(_ results: [CheckResult], addresses: [String]) -> CheckResult {
        if results.count == 1 { return results[0] }
        var combined = CheckResult(check: Self.name, status: .skip, summary: "")
        for (address, result) in zip(addresses, results) {
            combined.measurements += result.measurements
            combined.trace += result.trace.map { "[\(address)] \($0)" }
            combined.notes += ["\(address):"] + result.notes.map { "  \($0)" }
            combined.status = combined.status.worse(result.status)
        }
        let worst = zip(addresses, results).first { $0.1.status == combined.status }
        combined.reason = worst?.1.reason
        combined.summary = worst.map { "\($0.0): \($0.1.summary)" } ?? ""
        combined.details = [
            ("addresses", .array(zip(addresses, results).map { .object([("address", .string($0.0))] + $0.1.details) }))
        ]
        return combined
    }

    /// The census, the legs, the cookie pass and the handshakes at one address, then the verdict.
    func measure(_ address: String, _ ctx: ProbeContext) async -> CheckResult {
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        let leg = NTLMLeg(address: address, ctx: ctx)
        var m = LBAffinityMeasurement()
        // One sequence: the legs on the census's first connection (its CHALLENGE already proves
        // who answered it; one handshake fewer), then the census's other fresh connections.
        let steps = [SequenceStep.fresh] + Array(repeating: .reuse, count: legs - 1) + Array(repeating: .fresh, count: census - 1)
        let outcomes = await leg.negotiate(steps: steps, resume: tlsResumption)
        do throws(NTLMLeg.LegError) {
            _ = try (outcomes.first ?? .failure(.failed("no answer"))).get()
        } catch .notOffered(let status) {
            return Self.notOffered(&result, status: status)
        } catch {
            return Self.failure(&result, leg: "census", error)
        }
        do throws(NTLMLeg.LegError) {
            m.legs = try keptAliveLegs(outcomes.prefix(legs), trace: &result.trace)
        } catch {
            return Self.failure(&result, leg: "keep-alive legs", error)
        }
        do throws(NTLMLeg.LegError) {
            m.census = try census(first: m.legs[0], rest: outcomes.dropFirst(legs), trace: &result.trace)
        } catch .notOffered(let status) {
            // A census connection that reached a server without NTLM: as when the first did.
            return Self.notOffered(&result, status: status)
        } catch {
            return Self.failure(&result, leg: "census", error)
        }
        if cookiePass, let cookies = m.census.first?.cookies, !cookies.isEmpty {
            for _ in 0..<census {
                if let observation = try? await leg.negotiate(cookies: cookies) { m.cookieCensus.append(observation) }
            }
        }
        (m.handshake, m.split) = await handshakes(leg, ctx)
        LBAffinityReport.render(m, address: address, verdict: LBAffinityVerdict(m), into: &result)
        return result
    }

    /// The census's fresh connections: the legs' first, then the rest of the sequence.
    func census(first: LBObservation, rest: ArraySlice<Result<LBObservation, NTLMLeg.LegError>>, trace: inout [String])
        throws(NTLMLeg.LegError) -> [LBObservation]
    {
        var census: [LBObservation] = []
        for outcome in [.success(first)] + rest {
            let observation = try outcome.get()
            census.append(observation)
            let tls = observation.tlsSessionOffered ? (observation.tlsResumed ? ", TLS session resumed" : ", TLS resumption refused") : ""
            trace.append("census \(census.count): \(observation.identity ?? "?") via local port \(observation.localPort)\(tls)")
        }
        guard census.count == self.census else {
            throw .failed("the census ended after \(census.count) of \(self.census) connections")
        }
        return census
    }

    /// NEGOTIATE legs on one kept-alive connection: the server must not change within it.
    func keptAliveLegs(_ kept: ArraySlice<Result<LBObservation, NTLMLeg.LegError>>, trace: inout [String]) throws(NTLMLeg.LegError)
        -> [LBObservation]
    {
        var seen: [LBObservation] = []
        for (index, outcome) in kept.enumerated() {
            let observation = try outcome.get()
            seen.append(observation)
            let reuse = index == 0 ? "new connection" : (observation.newConnection ? "NEW connection (not kept alive)" : "same connection")
            trace.append("leg \(index + 1): \(observation.identity ?? "?") (\(reuse), local port \(observation.localPort))")
        }
        return seen
    }

    /// With credentials: a full handshake on one connection, then a split one. NTLM sends
    /// hashes only, but credentials still never go over plain http.
    func handshakes(_ leg: NTLMLeg, _ ctx: ProbeContext) async -> (handshake: (ok: Bool, detail: String)?, split: String?) {
        guard let username = ctx.target.username, ctx.target.password != nil else { return (nil, nil) }
        if let refusal = CredentialPolicy.refusal(for: ctx.target.url) { return ((false, "credentials not sent: \(refusal)"), nil) }
        do {
            let secret = try ctx.password()!
            let (user, domain) = NTLMv2Client.split(username)
            let client = NTLMv2Client(user: user, domain: domain, password: secret)
            return (await leg.fullHandshake(client: client), await leg.splitHandshake(client: client))
        } catch {
            return ((false, "\(error)"), nil)
        }
    }

    static func notOffered(_ result: inout CheckResult, status: Int) -> CheckResult {
        result.status = .skip
        result.reason = "ntlm_not_offered"
        result.summary = "the server does not offer NTLM (status \(status)); affinity cannot be measured this way"
        return result
    }

    static func failure(_ result: inout CheckResult, leg: String, _ error: NTLMLeg.LegError) -> CheckResult {
        result.status = .fail
        result.reason = "ntlm_handshake_failed"
        switch error {
        case .failed(let text): result.summary = "\(leg): \(text)"
        case .notOffered(let status): result.summary = "\(leg): NTLM not offered (status \(status))"
        }
        return result
    }
}
