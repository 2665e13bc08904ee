import EWSProbeTransport

/// What one address presented in its handshake, and what is wrong with it.
public struct TLSNodeReport: Sendable {
    public var address: String
    public var chain: [Certificate] = []
    /// The trust store's root that completed the chain, when the server did not send it.
    public var anchor: Certificate?
    public var version = ""
    public var cipher = ""
    public var handshakeSeconds = 0.0
    public var verified = false
    public var faults: [TLSFault] = []
    /// The server stapled an OCSP response to the handshake.
    public var stapled = false
    /// Revocation was looked up (on, and the chain trusted); each certificate below the anchor.
    public var revocationChecked = false
    public var revocation: [CertificateRevocation] = []

    public init(address: String) {
        self.address = address
    }

    /// The presented certificates and the anchor: every one whose dates matter.
    public var datedCertificates: [Certificate] { chain + (anchor.map { [$0] } ?? []) }
}
