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
    /// NTLM legs on one kept-alive connection.
    public var legs = 4
    /// Repeat the census returning the persistence cookie the balancer set.
    public var cookiePass = false

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["census", "legs", "cookie_pass"]) {
            switch key {
            case "census": census = try value.int(in: 2...100)
            case "legs": legs = try value.int(in: 2...50)
            case "cookie_pass": cookiePass = try value.bool()
            default: break
            }
        }
    }

    /// Who answered one NEGOTIATE.
    public struct Observation: Sendable {
        public var identity: String?
        public var netbiosName: String?
        public var dnsName: String?
        public var osVersion: String?
        public var clockSkewSeconds: Double?
        public var exchangeHeaders: [(String, String)] = []
        public var peer = ""
        public var localPort = 0
        public var newConnection = true
        public var cookies: [String] = []
        /// Why this answer leaves its connection unusable for a next leg, when it says so.
        public var closesConnection: String?
    }

    enum LegError: Error {
        case notOffered(status: Int)
        case failed(String)
    }

    static let exchangeHeaderNames = ["X-FEServer", "X-BEServer", "X-CalculatedBETarget", "X-TargetBEServer", "X-DiagInfo"]

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        let resolution = await ctx.addresses()
        guard !resolution.addresses.isEmpty else {
            return CheckResult(check: Self.name, status: .skip, reason: "no_addresses", summary: "no address to probe (dns failed)")
        }
        var perAddress: [CheckResult] = []
        for address in resolution.addresses {
            perAddress.append(await measure(address, ctx))
        }
        var result = combine(perAddress, addresses: resolution.addresses)
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

    func measure(_ address: String, _ ctx: ProbeContext) async -> CheckResult {
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        let label = [("address", address)]
        // 1. Census over fresh connections.
        var census: [Observation] = []
        do {
            for index in 0..<self.census {
                let observation = try await negotiateLeg(address, ctx, scope: nil, cookies: [])
                census.append(observation)
                result.trace.append("census \(index + 1): \(observation.identity ?? "?") via local port \(observation.localPort)")
            }
        } catch LegError.notOffered(let status) {
            result.status = .skip
            result.reason = "ntlm_not_offered"
            result.summary = "the server does not offer NTLM (status \(status)); affinity cannot be measured this way"
            return result
        } catch {
            return failure(&result, leg: "census", error)
        }
        // 2. Stability within one kept-alive connection.
        let scope = ctx.transport.makeScope()
        var legsSeen: [Observation] = []
        do {
            for index in 0..<legs {
                let observation = try await negotiateLeg(address, ctx, scope: scope, cookies: [])
                legsSeen.append(observation)
                let reuse =
                    index == 0 ? "new connection" : (observation.newConnection ? "NEW connection (not kept alive)" : "same connection")
                result.trace.append("leg \(index + 1): \(observation.identity ?? "?") (\(reuse), local port \(observation.localPort))")
            }
        } catch {
            return failure(&result, leg: "keep-alive legs", error)
        }
        // 4. Optional: the census again, returning the balancer's persistence cookie.
        var cookieCensus: [Observation] = []
        if cookiePass, let cookies = census.first?.cookies, !cookies.isEmpty {
            for _ in 0..<self.census {
                if let observation = try? await negotiateLeg(address, ctx, scope: nil, cookies: cookies) {
                    cookieCensus.append(observation)
                }
            }
        }
        // 3. With credentials: a full handshake on one connection, then a split one.
        var handshake: (ok: Bool, detail: String)?
        var split: String?
        if let username = ctx.target.username, ctx.target.password != nil {
            if let refusal = CredentialPolicy.refusal(for: ctx.target.url) {
                // NTLM sends hashes only, but credentials still never go over plain http.
                handshake = (false, "credentials not sent: \(refusal)")
            } else {
                do {
                    let secret = try ctx.password()!
                    let (user, domain) = NTLMv2Client.split(username)
                    let client = NTLMv2Client(user: user, domain: domain, password: secret)
                    handshake = await fullHandshake(address, ctx, client: client)
                    split = await splitHandshake(address, ctx, client: client)
                } catch {
                    handshake = (false, "\(error)")
                }
            }
        }

        // Verdicts.
        var counts: [String: Int] = [:]
        for observation in census { if let id = observation.identity { counts[id, default: 0] += 1 } }
        let ranked = counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
        let identified = census.filter { $0.identity != nil }.count
        let ratio = identified == 0 ? 0 : Double(ranked.first?.value ?? 0) / Double(identified)
        let reusedLegs = legsSeen.dropFirst().filter { !$0.newConnection }
        // Stability is judged within each connection only: a leg on a new connection starts a group.
        let legIdentities = Self.connectionGroups(legsSeen).map { Set($0.compactMap(\.identity)) }.max { $0.count < $1.count } ?? []
        let lostConnection = Self.lostConnection(legsSeen)

        result.measurements += [
            Measurement(
                "ewsprobe_lb_backends", Double(counts.count), help: "Distinct backends answering the census of fresh connections.",
                labels: label),
            Measurement(
                "ewsprobe_lb_affinity_ratio", ratio, help: "Share of census connections on the most common backend (1 = sticky).",
                labels: label),
        ]
        for (identity, count) in ranked {
            let sample = census.first { $0.identity == identity }!
            result.measurements.append(
                Measurement(
                    "ewsprobe_lb_backend_info", 1, help: "Backends seen in the census; the value is always 1.",
                    labels: label + [
                        ("backend", identity), ("netbios_name", LabelValue.bounded(sample.netbiosName ?? "")),
                        ("dns_name", LabelValue.bounded(sample.dnsName ?? "")), ("os_version", LabelValue.bounded(sample.osVersion ?? "")),
                    ], kind: .info))
            result.measurements.append(
                Measurement(
                    "ewsprobe_lb_backend_connections", Double(count), help: "Census connections per backend.",
                    labels: label + [("backend", identity)]))
        }
        if let skew = census.compactMap(\.clockSkewSeconds).first {
            result.measurements.append(
                Measurement(
                    "ewsprobe_ntlm_clock_skew_seconds", skew, help: "Server clock minus local clock, from the NTLM timestamp.",
                    labels: label))
        }
        if let handshake {
            result.measurements.append(
                Measurement(
                    "ewsprobe_ntlm_handshake_success", handshake.ok ? 1 : 0,
                    help: "Whether a full NTLM handshake on one connection succeeded.", labels: label))
        }
        result.notes.append("census of \(census.count) fresh connections:")
        for (identity, count) in ranked {
            let sample = census.first { $0.identity == identity }!
            result.notes.append(
                "  \(identity.padding(toLength: 28, withPad: " ", startingAt: 0)) \(count)x  netbios=\(sample.netbiosName ?? "-") os=\(sample.osVersion ?? "-")"
            )
        }
        result.notes.append(
            "\(legsSeen.count) legs on one connection: \(reusedLegs.count) reused it; identities seen: \(legIdentities.sorted().joined(separator: ", "))"
        )
        if !cookieCensus.isEmpty {
            let cookieBackends = Set(cookieCensus.compactMap(\.identity))
            result.notes.append("census returning the persistence cookie reached \(cookieBackends.count) backend(s)")
            result.details.append(("cookie_census_backends", .array(cookieBackends.sorted().map { .string($0) })))
        }
        if let handshake { result.notes.append("full NTLM handshake on one connection: \(handshake.detail)") }
        if let split { result.notes.append("split handshake (challenge on A, AUTHENTICATE on fresh B): \(split)") }
        result.details += [
            ("census", .array(census.map(Self.json))),
            ("distribution", .object(ranked.map { ($0.key, .int($0.value)) })),
            ("affinity_ratio", .number(ratio)),
            ("legs", .array(legsSeen.map(Self.json))),
            ("handshake", handshake.map { .object([("ok", .bool($0.ok)), ("detail", .string($0.detail))]) } ?? .null),
            ("split_handshake", split.map { .string($0) } ?? .null),
        ]

        // A server change inside one connection breaks NTLM outright: it outranks a switch between connections.
        if legIdentities.count >= 2 {
            result.status = .fail
            result.reason = "connection_rebalanced"
            result.summary =
                "the server changed within one kept-alive connection (\(legIdentities.sorted().joined(separator: ", "))): requests are balanced per request, which breaks NTLM"
            if counts.count >= 2 { result.summary += "; fresh connections also reached \(counts.count) backends" }
        } else if let lostConnection {
            // NTLM's AUTHENTICATE must travel on the CHALLENGE's connection: without it nothing works.
            result.status = .fail
            result.reason = "ntlm_handshake_failed"
            result.summary = "keep-alive legs: \(lostConnection); NTLM needs the CHALLENGE's connection for the AUTHENTICATE"
            if counts.count >= 2 { result.summary += "; fresh connections also reached \(counts.count) backends" }
        } else if counts.count >= 2 {
            result.status = .fail
            result.reason = "backend_switch"
            let list = ranked.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
            result.summary =
                "fresh connections reached \(counts.count) backends: \(list); configure source-IP persistence for the service's addresses"
        } else if let handshake, !handshake.ok {
            result.status = .fail
            result.reason = "ntlm_handshake_failed"
            result.summary = "full NTLM handshake failed: \(handshake.detail)"
        } else if counts.isEmpty {
            result.status = .warn
            result.reason = "inconclusive"
            result.summary = "no server identity exposed (no NTLM target names, no Exchange headers): affinity unknown"
        } else {
            let only = ranked[0].key
            result.summary =
                "all \(census.count) fresh connections and \(legsSeen.count) legs reached \(only)"
                + (handshake.map { $0.ok ? "; NTLM login works" : "" } ?? "")
        }
        return result
    }

    /// The legs split where one opened a new connection: each group shared one connection.
    static func connectionGroups(_ legs: [Observation]) -> [[Observation]] {
        var groups: [[Observation]] = []
        for leg in legs {
            if leg.newConnection || groups.isEmpty { groups.append([]) }
            groups[groups.count - 1].append(leg)
        }
        return groups
    }

    /// Which leg could not reuse the connection and why (what the answer before it said).
    static func lostConnection(_ legs: [Observation]) -> String? {
        guard let index = legs.indices.dropFirst().first(where: { legs[$0].newConnection }) else { return nil }
        let cause = legs[index - 1].closesConnection ?? "the server closed the connection after the CHALLENGE"
        return "leg \(index + 1) of \(legs.count) needed a new connection (\(cause))"
    }

    /// Whether an answer ends its connection: `Connection: close`, a body cut at the cap, or a
    /// body that only ends when the server closes.
    static func closeCause(_ response: HTTPResponse) -> String? {
        if response.headerValues("Connection").contains(where: { $0.lowercased().contains("close") }) {
            return "the CHALLENGE came with Connection: close"
        }
        if response.bodyTruncated { return "the CHALLENGE's body did not end within \(response.body.count / 1024) KiB" }
        let chunked = response.headerValues("Transfer-Encoding").contains { $0.lowercased().contains("chunked") }
        if response.header("Content-Length") == nil, !chunked {
            return "the CHALLENGE's body had no length and ran until the server closed the connection"
        }
        return nil
    }

    func failure(_ result: inout CheckResult, leg: String, _ error: any Error) -> CheckResult {
        result.status = .fail
        result.reason = "ntlm_handshake_failed"
        if case LegError.failed(let text) = error {
            result.summary = "\(leg): \(text)"
        } else {
            result.summary = "\(leg): \(error)"
        }
        return result
    }

    func request(
        _ address: String, _ ctx: ProbeContext, token: [UInt8], scheme: String = "NTLM", cookies: [String], verify: Bool
    )
        -> HTTPRequest
    {
        var headers = [("Content-Type", "text/xml; charset=utf-8"), ("Authorization", "\(scheme) \(Data(token).base64EncodedString())")]
        if !cookies.isEmpty { headers.append(("Cookie", cookies.joined(separator: "; "))) }
        var request = ctx.request(
            method: "POST", pinnedTo: address, headers: headers, body: SOAPEnvelope.anonymousGetFolder)
        request.verifyPeer = verify
        return request
    }

    /// One NEGOTIATE and the CHALLENGE it gets back, with who sent it.
    func negotiateLeg(_ address: String, _ ctx: ProbeContext, scope: ConnectionScope?, cookies: [String]) async throws -> Observation {
        let req = request(address, ctx, token: NTLMNegotiate().encoded, cookies: cookies, verify: false)
        let response: HTTPResponse
        do {
            response = try await ctx.transport.exchange(req, policy: scope.map { .pooled($0) } ?? .oneShot)
        } catch {
            throw LegError.failed("\(error.message)")
        }
        var observation = Observation()
        observation.peer = response.connection.peerAddress
        observation.localPort = response.connection.localPort
        observation.newConnection = response.connection.newConnections > 0
        observation.closesConnection = Self.closeCause(response)
        observation.cookies = response.headerValues("Set-Cookie").compactMap { $0.split(separator: ";").first.map(String.init) }
        observation.exchangeHeaders = Self.exchangeHeaderNames.compactMap { name in response.header(name).map { (name, $0) } }
        let challenges = AuthChallengeParser.parse(headers: response.headerValues("WWW-Authenticate"))
        let token = challenges.first { ["ntlm", "negotiate"].contains($0.normalizedScheme) && $0.token68 != nil }?.token68
        if let token {
            guard let bytes = Data(base64Encoded: token) else { throw LegError.failed("the NTLM challenge is not base64") }
            do {
                let challenge = try NTLMChallenge.decode(Array(bytes))
                observation.netbiosName = Self.name(challenge.targetInfo.string(.nbComputerName))
                observation.dnsName = Self.name(challenge.targetInfo.string(.dnsComputerName))
                observation.osVersion = challenge.version?.description
                if let filetime = challenge.targetInfo.timestamp {
                    let serverTime = Double(filetime) / 10_000_000 - 11_644_473_600
                    observation.clockSkewSeconds = serverTime - Date().timeIntervalSince1970
                }
            } catch {
                throw LegError.failed("malformed NTLM challenge: \(error.message)")
            }
        } else if !challenges.contains(where: { ["ntlm", "negotiate"].contains($0.normalizedScheme) }) {
            throw LegError.notOffered(status: response.status)
        } else {
            throw LegError.failed("NTLM is offered but a NEGOTIATE got status \(response.status) without a challenge")
        }
        let headers = observation.exchangeHeaders.compactMap { name, value in Self.name(value).map { (name, $0) } }
        let header = headers.first { $0.0 != "X-DiagInfo" }?.1 ?? headers.first?.1
        // Bounded here, so the backends counted are the backends labelled.
        observation.identity = (observation.dnsName ?? observation.netbiosName ?? header).map(LabelValue.bounded)
        return observation
    }

    /// A name that identifies a server: not empty, not only blanks (an OS version alone is no name).
    static func name(_ text: String?) -> String? {
        guard let trimmed = text?.trimmingCharacters(in: .whitespacesAndNewlines.union(.controlCharacters)), !trimmed.isEmpty else {
            return nil
        }
        return trimmed
    }

    func fullHandshake(_ address: String, _ ctx: ProbeContext, client: NTLMv2Client) async -> (ok: Bool, detail: String) {
        let scope = ctx.transport.makeScope()
        let negotiate = NTLMNegotiate().encoded
        do {
            let first = try await ctx.transport.exchange(
                request(address, ctx, token: negotiate, cookies: [], verify: true), policy: .pooled(scope))
            guard let challenge = Self.challenge(in: first) else {
                return (false, "leg 2 (CHALLENGE): status \(first.status) without an NTLM challenge")
            }
            let authenticate = client.authenticate(negotiate: negotiate, challenge: challenge)
            let second = try await ctx.transport.exchange(
                request(address, ctx, token: authenticate, cookies: [], verify: true), policy: .pooled(scope))
            let sameConnection = second.connection.newConnections == 0
            guard second.status != 401 else {
                return (false, "leg 3 (AUTHENTICATE): status 401\(sameConnection ? "" : " (the connection was not kept alive)")")
            }
            let ews = EWSResponseParser.parse(second.bodyText).isSOAP ? ", EWS answered" : ""
            return (second.status < 400, "status \(second.status)\(ews)")
        } catch {
            return (false, "\(error.message)")
        }
    }

    func splitHandshake(_ address: String, _ ctx: ProbeContext, client: NTLMv2Client) async -> String {
        let negotiate = NTLMNegotiate().encoded
        do {
            let first = try await ctx.transport.exchange(
                request(address, ctx, token: negotiate, cookies: [], verify: true), policy: .oneShot)
            guard let challenge = Self.challenge(in: first) else { return "no challenge on connection A (status \(first.status))" }
            let second = try await ctx.transport.exchange(
                request(
                    address, ctx, token: client.authenticate(negotiate: negotiate, challenge: challenge), cookies: [], verify: true),
                policy: .oneShot)
            return second.status == 401
                ? "rejected on connection B (401), as expected when NTLM is bound to the connection"
                : "ACCEPTED on connection B (status \(second.status)): something pools or terminates NTLM in front of the servers"
        } catch {
            return "failed: \(error.message)"
        }
    }

    static func challenge(in response: HTTPResponse) -> NTLMChallenge? {
        let challenges = AuthChallengeParser.parse(headers: response.headerValues("WWW-Authenticate"))
        guard let token = challenges.first(where: { ["ntlm", "negotiate"].contains($0.normalizedScheme) && $0.token68 != nil })?.token68,
            let bytes = Data(base64Encoded: token)
        else { return nil }
        return try? NTLMChallenge.decode(Array(bytes))
    }

    static func json(_ observation: Observation) -> JSONValue {
        .object([
            ("identity", observation.identity.map { .string($0) } ?? .null),
            ("netbios_name", observation.netbiosName.map { .string($0) } ?? .null),
            ("dns_name", observation.dnsName.map { .string($0) } ?? .null),
            ("os_version", observation.osVersion.map { .string($0) } ?? .null),
            ("clock_skew_seconds", observation.clockSkewSeconds.map { .number($0) } ?? .null),
            ("exchange_headers", .object(observation.exchangeHeaders.map { ($0.0, .string($0.1)) })),
            ("peer", .string(observation.peer)), ("local_port", .int(observation.localPort)),
            ("new_connection", .bool(observation.newConnection)),
        ])
    }
}
