/// What the TLS layer reported (empty for plain HTTP).
public struct TLSFacts: Sendable, Equatable {
    /// OpenSSL's X509_V_ERR code for the chain (0 = ok), as libcurl reports it.
    public var verifyResult: Int = 0
    /// Each certificate as the server sent it, leaf first, as parsed during the handshake.
    public var chain: [Certificate] = []
    /// Negotiated protocol ("TLSv1.3") and cipher, when the handshake finished.
    public var version: String = ""
    public var cipher: String = ""
    /// The OCSP response the server stapled (DER), when it sent one.
    public var stapledOCSP: [UInt8]?
    /// The handshake offered the session of an earlier connection (`HTTPRequest.tlsResumption`),
    /// and whether the server resumed it.
    public var sessionOffered = false
    public var resumed = false

    public init() {}
}
