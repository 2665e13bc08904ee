import EWSProbeCore
import EWSProbeTransport

/// The `tls` verdict on one address: every fault of its handshake and chain, from the chain's
/// facts, OpenSSL's verification outcome, the URL's host and a clock. Pure, so every reason is
/// unit-tested with fixed certificates and a fixed time.
public struct TLSFaultJudge: Sendable {
    public var mode: TLSCheck.Mode = .strict
    public var warnDays = 21
    public var failDays = 7
    public var minVersion: TLSProtocolVersion = .tls12
    /// Longest chain every common client accepts (Java's default limit).
    public static let maxChainLength = 10

    public init() {}

    /// Trust faults fail in strict mode and warn in relaxed mode.
    var trustStatus: CheckStatus { mode == .strict ? .fail : .warn }

    /// Every fault of `node`'s chain as verified into `outcome`, judged for `host` at `now`.
    public func faults(of node: TLSNodeReport, outcome: ChainVerifier.Outcome, host: String, now: Double) -> [TLSFault] {
        var faults = TLSFaultList()
        chainFaults(node, outcome: outcome, into: &faults)
        nameFaults(node, host: host, into: &faults)
        validityFaults(node, now: now, into: &faults)
        strengthFaults(node, into: &faults)
        return faults.all
    }

    /// No handshake at all (refused, reset, timed out, not TLS).
    public func handshakeFailed(_ address: String, _ text: String) -> TLSFault {
        TLSFault(
            reason: "handshake_failed", status: .fail, message: "TLS handshake with \(address) failed: \(text)",
            advice: "check that the server speaks TLS on this port and offers a protocol and cipher clients accept")
    }

    /// A handshake that ended without a certificate.
    public func noCertificate(_ address: String) -> TLSFault {
        TLSFault(
            reason: "handshake_failed", status: .fail, message: "\(address) presented no certificate", advice: "configure a certificate")
    }

    /// The addresses behind one name serve different leaves: `nil` when they agree.
    public func acrossNodes(_ nodes: [TLSNodeReport], host: String) -> TLSFault? {
        guard Set(nodes.compactMap { $0.chain.first?.sha256 }).count > 1 else { return nil }
        let list = nodes.compactMap { node in node.chain.first.map { "\(node.address): \($0.subjectCN) \($0.sha256.prefix(16))" } }
        return TLSFault(
            reason: "cert_mismatch_across_nodes", status: trustStatus,
            message: "the addresses serve different certificates (\(list.joined(separator: "; ")))",
            advice: "install the same certificate on every node behind \(host)")
    }

    /// OpenSSL's verification errors, named: 9/10 (dates) are judged from the certificates.
    func chainFaults(_ node: TLSNodeReport, outcome: ChainVerifier.Outcome, into faults: inout TLSFaultList) {
        let leaf = node.chain[0]
        let publicCA = "use a certificate from a public CA (or add ca_file for internal monitoring)"
        for fault in outcome.faults {
            let certificate = fault.depth < outcome.builtChain.count ? outcome.builtChain[Int(fault.depth)] : leaf
            switch fault.code {
            case 9, 10:
                continue
            case 18:
                faults.add("self_signed", trustStatus, "\(Self.describe(leaf)) is self-signed", "install a certificate from a public CA")
            case 19:
                faults.add(
                    "untrusted_root", trustStatus,
                    "the chain ends in \(Self.describe(certificate)), which is not a trusted public root", publicCA)
            case 2, 20:
                // An unknown issuer above a sent intermediate (or of a CA) is an untrusted root;
                // above a leaf sent alone, a missing intermediate.
                if certificate.isCA || node.chain.count > 1 && fault.depth > 0 {
                    faults.add(
                        "untrusted_root", trustStatus,
                        "the issuer of \(Self.describe(certificate)) (\(certificate.issuerCN)) is not a trusted root", publicCA)
                } else {
                    faults.add(
                        "incomplete_chain", trustStatus,
                        "server sent \(node.chain.count) certificate(s); the issuing intermediate of \(Self.describe(certificate)) (\(certificate.issuerCN)) is missing",
                        "install the intermediate certificate on the server")
                }
            case 21:
                faults.add(
                    "incomplete_chain", trustStatus, "the issuer of \(Self.describe(leaf)) is missing from the chain",
                    "install the intermediate certificate on the server")
            default:
                faults.add(
                    "chain_invalid", trustStatus, "OpenSSL: \(fault.text) at \(Self.describe(certificate))", "replace the certificate chain"
                )
            }
        }
    }

    /// The URL's host against the leaf's names, and the chain's length against Java's limit.
    func nameFaults(_ node: TLSNodeReport, host: String, into faults: inout TLSFaultList) {
        let leaf = node.chain[0]
        if !HostnameMatcher.matches(host: host, certificate: leaf) {
            let names = (leaf.dnsNames + leaf.ipAddresses).joined(separator: ", ")
            faults.add(
                "hostname_mismatch", trustStatus,
                "\(host) is not among the names of \(Self.describe(leaf)) (\(names.isEmpty ? leaf.subjectCN : names))",
                "install a certificate whose subject alternative names include \(host)")
        }
        if node.chain.count > Self.maxChainLength {
            faults.add(
                "chain_too_long", .warn,
                "server sent \(node.chain.count) certificates; Java clients refuse more than \(Self.maxChainLength) by default (jdk.tls.maxCertificateChainLength)",
                "send only the leaf and the intermediates that lead to a public root")
        }
    }

    /// Dates of every presented certificate and the anchor, at `now`.
    func validityFaults(_ node: TLSNodeReport, now: Double, into faults: inout TLSFaultList) {
        for certificate in node.datedCertificates {
            let days = (certificate.notAfter - now) / 86400
            let until = Timestamp.text(certificate.notAfter)
            if certificate.notAfter < now {
                faults.add("expired", trustStatus, "\(Self.describe(certificate)) expired on \(until)", "renew the certificate")
            } else if certificate.notBefore > now {
                faults.add(
                    "not_yet_valid", trustStatus,
                    "\(Self.describe(certificate)) is valid only from \(Timestamp.text(certificate.notBefore))",
                    "check the server's clock and the certificate's start date")
            } else if days < Double(failDays) {
                faults.add(
                    "expiring_soon", trustStatus, "\(Self.describe(certificate)) expires in \(Int(days)) day(s) (\(until))",
                    "renew the certificate now")
            } else if days < Double(warnDays) {
                faults.add(
                    "expiring_soon", .warn, "\(Self.describe(certificate)) expires in \(Int(days)) day(s) (\(until))",
                    "renew the certificate")
            }
        }
    }

    /// Signatures, keys and the negotiated protocol, judged from the facts themselves so the
    /// verdict does not move with the platform's OpenSSL security level.
    func strengthFaults(_ node: TLSNodeReport, into faults: inout TLSFaultList) {
        for certificate in node.chain where !certificate.isSelfSigned && ["sha1", "md5", "md4"].contains(certificate.signatureDigest) {
            faults.add(
                "weak_signature", trustStatus, "\(Self.describe(certificate)) is signed with \(certificate.signatureAlgorithm)",
                "reissue the certificate with a SHA-256 signature")
        }
        for certificate in node.chain where Self.isWeak(certificate) {
            faults.add(
                "weak_key", trustStatus, "\(Self.describe(certificate)) has a \(certificate.keyDescription)-bit key",
                "reissue with RSA 2048+ or EC P-256+")
        }
        if let negotiated = TLSProtocolVersion(openSSLName: node.version), negotiated < minVersion {
            faults.add(
                "legacy_protocol", trustStatus, "\(node.address) negotiated \(node.version), below the minimum TLS \(minVersion.rawValue)",
                "enable TLS 1.2 (and 1.3) on the server")
        }
    }

    static func isWeak(_ certificate: Certificate) -> Bool {
        switch certificate.keyType {
        case .rsa, .dsa: certificate.keyBits < 2048
        case .ec: certificate.keyBits < 256
        default: false
        }
    }

    static func describe(_ certificate: Certificate) -> String {
        "certificate \"\(certificate.subjectCN.isEmpty ? certificate.subject : certificate.subjectCN)\""
    }
}
