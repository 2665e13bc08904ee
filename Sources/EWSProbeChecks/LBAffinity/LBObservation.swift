import EWSProbeCore
import EWSProbeTransport
import Foundation

/// Who answered one NEGOTIATE, and what the answer says of its connection.
public struct LBObservation: Sendable {
    public var identity: String?
    public var netbiosName: String?
    public var dnsName: String?
    public var osVersion: String?
    public var clockSkewSeconds: Double?
    public var exchangeHeaders: [(String, String)] = []
    public var peer = ""
    public var localPort = 0
    public var newConnection = true
    /// The connection's TLS handshake offered the session of the connection before, and whether
    /// the server resumed it.
    public var tlsSessionOffered = false
    public var tlsResumed = false
    public var cookies: [String] = []
    /// Why this answer leaves its connection unusable for a next leg, when it says so.
    public var closesConnection: String?

    static let exchangeHeaderNames = ["X-FEServer", "X-BEServer", "X-CalculatedBETarget", "X-TargetBEServer", "X-DiagInfo"]

    /// The connection facts and Exchange's server headers of `response`; names come from its challenge.
    init(_ response: HTTPResponse) {
        peer = response.connection.peerAddress
        localPort = response.connection.localPort
        newConnection = response.connection.newConnections > 0
        tlsSessionOffered = response.tls.sessionOffered
        tlsResumed = response.tls.resumed
        closesConnection = Self.closeCause(response)
        cookies = response.headerValues("Set-Cookie").compactMap { $0.split(separator: ";").first.map(String.init) }
        exchangeHeaders = Self.exchangeHeaderNames.compactMap { name in response.header(name).map { (name, $0) } }
    }

    /// The names and clock of the server that sent `challenge`.
    mutating func read(_ challenge: NTLMChallenge, now: Double) {
        netbiosName = Self.name(challenge.targetInfo.string(.nbComputerName))
        dnsName = Self.name(challenge.targetInfo.string(.dnsComputerName))
        osVersion = challenge.version?.description
        if let filetime = challenge.targetInfo.timestamp {
            clockSkewSeconds = Double(filetime) / 10_000_000 - 11_644_473_600 - now
        }
    }

    /// The identity counted and labelled: the NTLM names first, else an Exchange header; bounded
    /// here, so the backends counted are the backends labelled.
    mutating func identify() {
        let headers = exchangeHeaders.compactMap { name, value in Self.name(value).map { (name, $0) } }
        let header = headers.first { $0.0 != "X-DiagInfo" }?.1 ?? headers.first?.1
        identity = (dnsName ?? netbiosName ?? header).map(LabelValue.bounded)
    }

    /// A name that identifies a server: not empty, not only blanks (an OS version alone is no name).
    static func name(_ text: String?) -> String? {
        guard let trimmed = text?.trimmingCharacters(in: .whitespacesAndNewlines.union(.controlCharacters)), !trimmed.isEmpty else {
            return nil
        }
        return trimmed
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

    var json: JSONValue {
        .object([
            ("identity", identity.map { .string($0) } ?? .null),
            ("netbios_name", netbiosName.map { .string($0) } ?? .null),
            ("dns_name", dnsName.map { .string($0) } ?? .null),
            ("os_version", osVersion.map { .string($0) } ?? .null),
            ("clock_skew_seconds", clockSkewSeconds.map { .number($0) } ?? .null),
            ("exchange_headers", .object(exchangeHeaders.map { ($0.0, .string($0.1)) })),
            ("peer", .string(peer)), ("local_port", .int(localPort)),
            ("new_connection", .bool(newConnection)), ("tls_resumed", .bool(tlsResumed)),
        ])
    }
}
