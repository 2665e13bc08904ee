import EWSProbeCore
import EWSProbeTransport
import Foundation

/// The NTLM exchanges `lb_affinity` sends to one address: a NEGOTIATE leg that reads who
/// challenged, and with credentials a full handshake on one connection and a split one.
struct NTLMLeg {
    let address: String
    let ctx: ProbeContext

    enum LegError: Error {
        case notOffered(status: Int)
        case failed(String)
    }

    /// One NEGOTIATE on a new connection and the CHALLENGE it gets back, with who sent it.
    func negotiate(cookies: [String]) async throws(LegError) -> LBObservation {
        let response: HTTPResponse
        do {
            response = try await ctx.transport.exchange(negotiateRequest(cookies: cookies), policy: .oneShot)
        } catch {
            throw .failed("\(error.message)")
        }
        return try Self.observe(response)
    }

    /// A NEGOTIATE per step, connections as the steps say, stopping at the first answer without
    /// a challenge; each outcome in order. With `resume`, each new connection after the first
    /// offers the session of the one before.
    func negotiate(steps: [SequenceStep], resume: Bool) async -> [Result<LBObservation, LegError>] {
        var request = negotiateRequest(cookies: [])
        request.tlsResumption = resume
        let answers = await ctx.transport.exchangeSequence(request, steps: steps) { Self.carriesChallenge($0) }
        return answers.map { answer in
            Result { () throws(LegError) in
                switch answer {
                case .success(let response): return try Self.observe(response)
                case .failure(let error): throw .failed("\(error.message)")
                }
            }
        }
    }

    func negotiateRequest(cookies: [String]) -> HTTPRequest {
        request(token: NTLMNegotiate().encoded, cookies: cookies, verify: false)
    }

    /// Who sent the CHALLENGE in `response`.
    static func observe(_ response: HTTPResponse) throws(LegError) -> LBObservation {
        var observation = LBObservation(response)
        let challenges = AuthChallengeParser.parse(headers: response.headerValues("WWW-Authenticate"))
        let offered = challenges.filter { ["ntlm", "negotiate"].contains($0.normalizedScheme) }
        guard !offered.isEmpty else { throw .notOffered(status: response.status) }
        guard let token = offered.first(where: { $0.token68 != nil })?.token68 else {
            throw .failed("NTLM is offered but a NEGOTIATE got status \(response.status) without a challenge")
        }
        guard let bytes = Data(base64Encoded: token) else { throw .failed("the NTLM challenge is not base64") }
        do {
            observation.read(try NTLMChallenge.decode(Array(bytes)), now: Date().timeIntervalSince1970)
        } catch {
            throw .failed("malformed NTLM challenge: \(error.message)")
        }
        observation.identify()
        return observation
    }

    /// NEGOTIATE, CHALLENGE and AUTHENTICATE on one kept-alive connection, verified TLS.
    func fullHandshake(client: NTLMv2Client) async -> (ok: Bool, detail: String) {
        let scope = ctx.transport.makeScope()
        let negotiate = NTLMNegotiate().encoded
        do {
            let first = try await ctx.transport.exchange(request(token: negotiate, cookies: [], verify: true), policy: .pooled(scope))
            guard let challenge = Self.challenge(in: first) else {
                return (false, "leg 2 (CHALLENGE): status \(first.status) without an NTLM challenge")
            }
            let authenticate = client.authenticate(negotiate: negotiate, challenge: challenge)
            let second = try await ctx.transport.exchange(request(token: authenticate, cookies: [], verify: true), policy: .pooled(scope))
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

    /// The CHALLENGE on connection A, the AUTHENTICATE on a fresh connection B: accepted only
    /// when something in front of the servers pools or terminates NTLM.
    func splitHandshake(client: NTLMv2Client) async -> String {
        let negotiate = NTLMNegotiate().encoded
        do {
            let first = try await ctx.transport.exchange(request(token: negotiate, cookies: [], verify: true), policy: .oneShot)
            guard let challenge = Self.challenge(in: first) else { return "no challenge on connection A (status \(first.status))" }
            let authenticate = client.authenticate(negotiate: negotiate, challenge: challenge)
            let second = try await ctx.transport.exchange(request(token: authenticate, cookies: [], verify: true), policy: .oneShot)
            return second.status == 401
                ? "rejected on connection B (401), as expected when NTLM is bound to the connection"
                : "ACCEPTED on connection B (status \(second.status)): something pools or terminates NTLM in front of the servers"
        } catch {
            return "failed: \(error.message)"
        }
    }

    func request(token: [UInt8], cookies: [String], verify: Bool) -> HTTPRequest {
        var headers = [("Content-Type", "text/xml; charset=utf-8"), ("Authorization", "NTLM \(Data(token).base64EncodedString())")]
        if !cookies.isEmpty { headers.append(("Cookie", cookies.joined(separator: "; "))) }
        var request = ctx.request(method: "POST", pinnedTo: address, headers: headers, body: SOAPEnvelope.anonymousGetFolder)
        request.verifyPeer = verify
        return request
    }

    static func challenge(in response: HTTPResponse) -> NTLMChallenge? {
        guard let token = challengeToken(in: response), let bytes = Data(base64Encoded: token) else { return nil }
        return try? NTLMChallenge.decode(Array(bytes))
    }

    /// Whether a leg got a challenge to read (decoded once, by `observe`).
    static func carriesChallenge(_ response: HTTPResponse) -> Bool { challengeToken(in: response) != nil }

    static func challengeToken(in response: HTTPResponse) -> String? {
        let challenges = AuthChallengeParser.parse(headers: response.headerValues("WWW-Authenticate"))
        return challenges.first(where: { ["ntlm", "negotiate"].contains($0.normalizedScheme) && $0.token68 != nil })?.token68
    }
}
