import EWSProbeCore
import EWSProbeTransport

/// The revocation faults of one address from what `RevocationInspector` found. Pure, so every
/// reason is unit-tested without a responder.
public struct RevocationJudge: Sendable {
    public var mode: TLSCheck.Mode = .strict
    public var requireStapling = false

    public init() {}

    public func faults(_ node: TLSNodeReport) -> [TLSFault] {
        var faults: [TLSFault] = []
        if requireStapling, !node.stapled, !node.chain.isEmpty {
            faults.append(
                TLSFault(
                    reason: "ocsp_stapling_missing", status: .warn, message: "\(node.address) staples no OCSP response",
                    advice: "enable OCSP stapling on the server (require_stapling is set)"))
        }
        for certificate in node.revocation {
            let name = "certificate \"\(certificate.subjectCN)\""
            if let expired = certificate.staleStaple {
                faults.append(
                    TLSFault(
                        reason: "ocsp_response_stale", status: .warn,
                        message: "the OCSP response \(node.address) staples for \(name) expired on \(Timestamp.text(expired))",
                        advice: "the server keeps stapling an old response: check that it can reach its CA's OCSP responder"))
            }
            switch certificate.status {
            case .revoked(let at, let reason):
                faults.append(
                    TLSFault(
                        reason: "revoked", status: mode == .strict ? .fail : .warn,
                        message:
                            "\(name) was revoked on \(Timestamp.text(at))\(reason.map { " (\($0))" } ?? "") according to \(Self.describe(certificate))",
                        advice: "install a new certificate (and key): clients that check revocation refuse this one"))
            case .unknown(let causes):
                faults.append(
                    TLSFault(
                        reason: "revocation_unknown", status: .warn,
                        message: "the revocation state of \(name) is unknown: \(causes.joined(separator: "; "))",
                        advice: "make the certificate's CRL or OCSP responder reachable, or have the server staple OCSP"))
            case .good, .notChecked: break
            }
        }
        return faults
    }

    static func describe(_ certificate: CertificateRevocation) -> String {
        switch certificate.source {
        case .stapled: "the stapled OCSP response"
        case .ocsp: "the OCSP responder \(certificate.url ?? "")"
        case .crl: "the CRL \(certificate.url ?? "")"
        case nil: "no source"
        }
    }
}
