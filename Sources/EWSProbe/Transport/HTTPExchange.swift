import Foundation

/// One HTTP request as the transport sends it.
public struct HTTPRequest: Sendable {
    public var url: String { didSet { endpoint = nil } }
    /// `url` already parsed, when the caller has it (cleared when `url` changes).
    var endpoint: EndpointURL?
    public var method: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Whole-exchange limit; curl aborts the transfer when it passes.
    public var timeout: Duration
    /// Connect to this address instead of resolving the URL's host; SNI, Host and certificate
    /// name checks still use the URL's host (curl's CONNECT_TO).
    public var pinnedAddress: String?
    /// Never reuse a pooled connection, and close this one afterwards.
    public var freshConnection: Bool
    public var http11: Bool
    public var caFile: String?
    /// When false the transfer goes on despite a bad certificate; the verification verdict is
    /// still reported in `TLSFacts.verifyResult`.
    public var verifyPeer: Bool
    public var proxy: String?
    /// Bytes of body kept; past this the transfer stops and `bodyTruncated` is set.
    public var bodyLimit: Int
    /// Only open the connection (TCP, plus TLS for https), send nothing.
    public var connectOnly: Bool
    /// Ask libcurl for the presented certificate chain.
    public var captureCertificates: Bool
    /// Accept TLS 1.0/1.1 and weak keys in the handshake (security level 0), so a legacy server
    /// can be measured and named instead of failing the handshake.
    public var allowLegacyTLS = false
    /// One request on a new connection of its own that no later exchange reuses (the probe's
    /// `tcp` connect and anonymous SOAP POST). Such a request goes to the direct client when it
    /// can: pinned address, no proxy, HTTP/1.1, no verification; else to libcurl.
    public var standalone = false
    /// Local address outgoing connections bind to (an IP literal; blackbox_exporter's
    /// `source_ip_address`), for a multi-homed host; nil lets the kernel choose.
    public var sourceAddress: String?

    /// Whether the direct client (`DirectExchange`) can serve this request as libcurl would.
    /// An IPv6 pin with a zone (`fe80::1%eth0`) stays with libcurl, which resolves the zone.
    var direct: Bool {
        guard standalone, let pinnedAddress, !pinnedAddress.contains("%"), (proxy ?? "").isEmpty, http11 else { return false }
        return (!verifyPeer || !url.lowercased().hasPrefix("https:")) && ["GET", "POST", "HEAD"].contains(method)
    }

    public init(
        url: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(10), pinnedAddress: String? = nil, freshConnection: Bool = false,
        http11: Bool = true, caFile: String? = nil, verifyPeer: Bool = true, proxy: String? = nil,
        bodyLimit: Int = 256 * 1024, connectOnly: Bool = false, captureCertificates: Bool = false
    ) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.pinnedAddress = pinnedAddress
        self.freshConnection = freshConnection
        self.http11 = http11
        self.caFile = caFile
        self.verifyPeer = verifyPeer
        self.proxy = proxy
        self.bodyLimit = bodyLimit
        self.connectOnly = connectOnly
        self.captureCertificates = captureCertificates
    }
}

/// When each phase of an exchange finished, in seconds since it started (libcurl's cumulative
/// timers), and the per-phase durations derived from them.
public struct PhaseTimings: Sendable, Equatable {
    public var nameLookup: Double = 0
    public var connect: Double = 0
    public var tlsHandshake: Double = 0
    public var preTransfer: Double = 0
    public var firstByte: Double = 0
    public var total: Double = 0

    public init() {}

    /// (phase, seconds) pairs in the blackbox_exporter naming: resolve, connect, tls, processing, transfer.
    public var phases: [(String, Double)] {
        let connected = max(connect, nameLookup)
        let secured = tlsHandshake > 0 ? tlsHandshake : connected
        var result: [(String, Double)] = [
            ("resolve", nameLookup),
            ("connect", max(0, connected - nameLookup)),
            ("tls", tlsHandshake > 0 ? max(0, tlsHandshake - connected) : 0),
        ]
        if firstByte > 0 {
            result.append(("processing", max(0, firstByte - max(secured, preTransfer))))
            result.append(("transfer", max(0, total - firstByte)))
        }
        return result
    }
}

/// Facts about the connection an exchange used.
public struct ConnectionFacts: Sendable, Equatable {
    public var peerAddress: String = ""
    public var peerPort: Int = 0
    public var localAddress: String = ""
    public var localPort: Int = 0
    /// New connections this exchange opened: 0 means it ran on a reused connection.
    public var newConnections: Int = 0

    public init() {}

    public var reused: Bool { newConnections == 0 && localPort != 0 }
}

/// What the TLS layer reported (empty for plain HTTP).
public struct TLSFacts: Sendable, Equatable {
    /// OpenSSL's X509_V_ERR code for the chain (0 = ok), as libcurl reports it.
    public var verifyResult: Int = 0
    /// Each certificate as the server sent it, leaf first, as parsed during the handshake.
    public var chain: [Certificate] = []
    /// Negotiated protocol ("TLSv1.3") and cipher, when the handshake finished.
    public var version: String = ""
    public var cipher: String = ""

    public init() {}
}

/// A finished HTTP exchange.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var httpVersion: String
    /// Every header line of the final response, in order; repeated names are kept.
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var bodyTruncated: Bool
    public var timings: PhaseTimings
    public var connection: ConnectionFacts
    public var tls: TLSFacts

    /// All values of a header, case-insensitively, in order.
    public func headerValues(_ name: String) -> [String] {
        headers.filter { ResponseHead.sameName($0.0, name) }.map(\.1)
    }

    public func header(_ name: String) -> String? { headerValues(name).first }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Why an exchange did not produce a response.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case timeout, refused, unreachable, resolve, tls, tooLarge, cancelled, protocolError, other
    }

    public var kind: Kind
    /// libcurl's CURLcode.
    public var curlCode: Int
    /// errno of the failing socket call, when there was one.
    public var osErrno: Int
    /// libcurl's own error text.
    public var message: String
    public var timings: PhaseTimings
    public var connection: ConnectionFacts
    public var tls: TLSFacts

    public var description: String { "\(kind.rawValue): \(message)" }
}
