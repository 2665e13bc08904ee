import Foundation

/// One HTTP request as the transport sends it.
public struct HTTPRequest: Sendable {
    public var url: String { didSet { endpoint = nil } }
    /// `url` already parsed, when the caller has it (cleared when `url` changes).
    package var endpoint: EndpointURL?
    public var method: String
    public var headers: [(String, String)]
    public var body: [UInt8]?
    /// Whole-exchange limit; the transfer is aborted when it passes.
    public var timeout: Duration
    /// Connect to this address instead of resolving the URL's host; SNI, Host and certificate
    /// name checks still use the URL's host (curl's CONNECT_TO).
    public var pinnedAddress: String?
    public var http11: Bool
    public var caFile: String?
    /// When false the transfer goes on despite a bad certificate; the verification verdict is
    /// still reported in `TLSFacts.verifyResult`.
    public var verifyPeer: Bool
    /// The outbound proxy every connection of this exchange tunnels through (CONNECT).
    public var proxy: ProxyRoute?
    /// Bytes of body kept; past this the transfer stops and `bodyTruncated` is set.
    public var bodyLimit: Int
    /// Ask libcurl for the presented certificate chain.
    public var captureCertificates: Bool
    /// Accept TLS 1.0/1.1 and weak keys in the handshake (security level 0), so a legacy server
    /// can be measured and named instead of failing the handshake.
    public var allowLegacyTLS = false
    /// A sequence's later connections offer the session of the one before (direct client only;
    /// `TLSFacts.resumed` says whether the server took it). Everything else does full handshakes.
    public var tlsResumption = false
    /// Local address outgoing connections bind to (an IP literal; blackbox_exporter's
    /// `source_ip_address`), for a multi-homed host; nil lets the kernel choose.
    public var sourceAddress: String?

    public init(
        url: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8]? = nil,
        timeout: Duration = .seconds(10), pinnedAddress: String? = nil,
        http11: Bool = true, caFile: String? = nil, verifyPeer: Bool = true, proxy: ProxyRoute? = nil,
        bodyLimit: Int = 256 * 1024, captureCertificates: Bool = false
    ) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.pinnedAddress = pinnedAddress
        self.http11 = http11
        self.caFile = caFile
        self.verifyPeer = verifyPeer
        self.proxy = proxy
        self.bodyLimit = bodyLimit
        self.captureCertificates = captureCertificates
    }
}
