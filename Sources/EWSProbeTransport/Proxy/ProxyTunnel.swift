import Foundation

/// `CONNECT host:port` through an outbound proxy, with the proxy's authentication: the connector
/// preamble both the direct client's connections and (through libcurl's own) every proxied
/// exchange follow. Pure: it turns the proxy's answers into the next request, never touching a
/// socket. Credentials go only after the proxy asked (407) and only in a scheme it offered:
/// NTLM (or Negotiate carrying NTLM, for a proxy that accepts it) before Basic, as curl's
/// "any safe" order puts a password in clear last.
public struct ProxyTunnel: StreamPreamble {
    /// The origin as CONNECT names it: the URL's host (the proxy resolves it) and port.
    public let authority: String
    let credentials: ProxyCredentials?
    public private(set) var request: [UInt8]
    public private(set) var outcome = ProxyOutcome()
    /// The NTLM NEGOTIATE sent and the scheme it went under, while its CHALLENGE is awaited.
    private var ntlmNegotiate: (message: [UInt8], scheme: String)?
    /// The proxy's answers so far; a fifth is a loop.
    private var rounds = 0
    static let roundLimit = 4
    /// A proxy's answer (head, and the body of a refusal) larger than this is not one.
    static let answerLimit = 64 * 1024

    public init(host: String, port: Int, credentials: ProxyCredentials?) {
        authority = "\(IPAddress.bracketed(host)):\(port)"
        self.credentials = credentials
        request = []
        request = connect(authorization: nil)
    }

    public var proxyOutcome: ProxyOutcome? { outcome }

    private func connect(authorization: String?) -> [UInt8] {
        var text = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\nProxy-Connection: Keep-Alive\r\n"
        if let authorization { text += "Proxy-Authorization: \(authorization)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    public mutating func verdict(_ received: [UInt8]) -> PreambleVerdict {
        guard let end = HTTPConnectPreamble.headEnd(received) else {
            return received.count > Self.answerLimit ? .refused("the proxy's answer has no end of header") : .needMore
        }
        guard let answer = ProxyAnswer(head: received[..<end]) else { return .refused("not an HTTP proxy answer") }
        outcome.status = answer.status
        outcome.offer(answer.challenges.map(\.scheme))
        // A 2xx to CONNECT has no body: the tunnel starts right after the head.
        if (200..<300).contains(answer.status) { return .proceed(consumed: end) }
        // A refusal's body is read whole, so a next round on this connection starts clean.
        if let length = answer.contentLength {
            guard length <= Self.answerLimit else { return .refused("the proxy's answer is too large") }
            if received.count - end < length { return .needMore }
        }
        rounds += 1
        guard answer.status == 407 else { return .refused("the proxy answered CONNECT with status \(answer.status)") }
        guard rounds < Self.roundLimit else { return .refused("the proxy asked for authentication \(rounds) times") }
        return authenticate(answer)
    }

    /// The next round after a 407: NTLM's AUTHENTICATE for its CHALLENGE, or the first message
    /// of the best scheme offered; a refusal when there is nothing (more) to send.
    private mutating func authenticate(_ answer: ProxyAnswer) -> PreambleVerdict {
        let offered = answer.challenges.map(\.normalizedScheme)
        guard let credentials else {
            return .refused("the proxy requires authentication (\(schemesText)) and no proxy credentials are configured")
        }
        if let (negotiate, scheme) = ntlmNegotiate {
            ntlmNegotiate = nil
            let token = answer.challenges.first { $0.normalizedScheme == scheme.lowercased() }?.token68
            guard let token, let bytes = Data(base64Encoded: token), let challenge = try? NTLMChallenge.decode(Array(bytes)) else {
                return .refused("the proxy rejected the proxy credentials (no NTLM challenge in its answer)")
            }
            guard !answer.closes else { return .refused("the proxy closed the connection its NTLM challenge belongs to") }
            let (user, domain) = NTLMv2Client.split(credentials.username)
            let client = NTLMv2Client(user: user, domain: domain, password: credentials.password)
            let message = client.authenticate(negotiate: negotiate, challenge: challenge)
            return .again(request: connect(authorization: "\(scheme) \(Data(message).base64EncodedString())"), reconnect: false)
        }
        guard outcome.schemeUsed == nil else { return .refused("the proxy rejected the proxy credentials (\(outcome.schemeUsed!))") }
        if let scheme = offered.contains("ntlm") ? "NTLM" : offered.contains("negotiate") ? "Negotiate" : nil {
            let negotiate = NTLMNegotiate().encoded
            ntlmNegotiate = (negotiate, scheme)
            outcome.schemeUsed = scheme
            return .again(
                request: connect(authorization: "\(scheme) \(Data(negotiate).base64EncodedString())"), reconnect: answer.closes)
        }
        if offered.contains("basic") {
            outcome.schemeUsed = "Basic"
            let pair = Data("\(credentials.username):\(credentials.password.reveal())".utf8).base64EncodedString()
            return .again(request: connect(authorization: "Basic \(pair)"), reconnect: answer.closes)
        }
        return .refused("the proxy asks for authentication ewsprobe does not speak (\(schemesText))")
    }

    private var schemesText: String {
        outcome.offeredSchemes.isEmpty ? "no scheme offered" : "offers \(outcome.offeredSchemes.joined(separator: ", "))"
    }
}

/// The head of a proxy's answer to CONNECT: status, challenges, how its body ends and whether
/// the proxy keeps the connection.
struct ProxyAnswer {
    var status: Int
    var challenges: [AuthChallenge] = []
    var contentLength: Int?
    var closes = false

    init?(head: ArraySlice<UInt8>) {
        let lines = String(decoding: head, as: UTF8.self).split(omittingEmptySubsequences: true) { $0 == "\r\n" || $0 == "\n" }
        guard let statusLine = lines.first else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100..<600).contains(status) else {
            return nil
        }
        self.status = status
        closes = parts[0] == "HTTP/1.0"
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch name {
            case "proxy-authenticate": challenges += AuthChallengeParser.parse(value)
            case "content-length": contentLength = Int(value)
            case "connection", "proxy-connection":
                if value.lowercased().contains("close") { closes = true }
                if value.lowercased().contains("keep-alive") { closes = false }
            default: continue
            }
        }
    }
}
