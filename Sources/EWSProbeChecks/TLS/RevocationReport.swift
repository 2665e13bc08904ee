import EWSProbeCore
import EWSProbeTransport

/// The revocation part of the `tls` result: per address the metrics of the contract, a line
/// per certificate in the text report, and the JSON details.
enum RevocationReport {
    static func measurements(_ node: TLSNodeReport) -> [Measurement] {
        guard !node.chain.isEmpty else { return [] }
        let label = [("address", node.address)]
        var out = [
            Measurement(
                "ewsprobe_tls_ocsp_stapled", node.stapled ? 1 : 0, help: "Whether the server stapled an OCSP response.", labels: label)
        ]
        // One series per source that decided a certificate: the worst state it gave.
        var worst: [CertificateRevocation.Source: Double] = [:]
        for certificate in node.revocation {
            guard let value = certificate.status.metricValue, let source = certificate.source else { continue }
            worst[source] = max(worst[source] ?? 0, value)
        }
        for source in CertificateRevocation.Source.allCases {
            guard let value = worst[source] else { continue }
            out.append(
                Measurement(
                    "ewsprobe_tls_revocation_status", value,
                    help: "Revocation state of the chain by source: 0 good, 1 revoked, 2 unknown (worst over the certificates).",
                    labels: label + [("source", source.rawValue)]))
        }
        if let next = node.revocation.compactMap(\.nextUpdate).min() {
            out.append(
                Measurement(
                    "ewsprobe_tls_revocation_next_update_timestamp_seconds", next,
                    help: "The earliest nextUpdate of the revocation answers used for the chain.", labels: label))
        }
        return out
    }

    static func notes(_ node: TLSNodeReport) -> [String] {
        guard node.revocationChecked else { return [] }
        var notes = ["  OCSP stapling: \(node.stapled ? "stapled" : "none")"]
        for certificate in node.revocation {
            notes.append("  revocation #\(certificate.index) \(certificate.subjectCN): \(describe(certificate))")
        }
        return notes
    }

    static func describe(_ certificate: CertificateRevocation) -> String {
        let next = certificate.nextUpdate.map { ", next update \(Timestamp.text($0))" } ?? ""
        switch certificate.status {
        case .good: return "good (\(RevocationJudge.describe(certificate))\(next))"
        case .revoked(let at, let reason):
            return "REVOKED on \(Timestamp.text(at))\(reason.map { " (\($0))" } ?? "") (\(RevocationJudge.describe(certificate)))"
        case .unknown(let causes): return "unknown (\(causes.joined(separator: "; ")))"
        case .notChecked: return "not checked (the certificate names no CRL or OCSP responder)"
        }
    }

    static func json(_ node: TLSNodeReport) -> JSONValue {
        .object([
            ("checked", .bool(node.revocationChecked)), ("ocsp_stapled", .bool(node.stapled)),
            (
                "certificates",
                .array(
                    node.revocation.map { certificate in
                        var fields: [(String, JSONValue)] = [
                            ("index", .number(Double(certificate.index))), ("subject_cn", .string(certificate.subjectCN)),
                            ("status", .string(certificate.status.word)),
                            ("source", certificate.source.map { .string($0.rawValue) } ?? .null),
                            ("url", certificate.url.map { .string($0) } ?? .null),
                            ("next_update", certificate.nextUpdate.map { .string(Timestamp.text($0)) } ?? .null),
                        ]
                        if case .revoked(let at, let reason) = certificate.status {
                            fields += [("revoked_at", .string(Timestamp.text(at))), ("reason", reason.map { .string($0) } ?? .null)]
                        }
                        if case .unknown(let causes) = certificate.status { fields.append(("causes", .array(causes.map { .string($0) }))) }
                        if let stale = certificate.staleStaple {
                            fields.append(("stapled_response_expired", .string(Timestamp.text(stale))))
                        }
                        return .object(fields)
                    })
            ),
        ])
    }
}
