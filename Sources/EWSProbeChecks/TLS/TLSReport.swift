import EWSProbeCore
import EWSProbeTransport

/// The `tls` result from the judged addresses: the worst fault decides, every address's chain
/// and faults go to the notes, metrics and (when read) JSON details.
struct TLSReport {
    var judge: TLSFaultJudge

    func render(_ nodes: [TLSNodeReport], host: String, includeDetails: Bool, now: Double) -> CheckResult {
        var result = CheckResult(check: TLSCheck.name, status: .pass, summary: "")
        var faults: [(String, TLSFault)] = nodes.flatMap { node in node.faults.map { (node.address, $0) } }
        if let mismatch = judge.acrossNodes(nodes, host: host) { faults.append(("*", mismatch)) }
        for node in nodes {
            result.measurements += Self.measurements(node) + RevocationReport.measurements(node)
            result.notes += Self.notes(node) + RevocationReport.notes(node)
        }
        for (address, fault) in faults {
            result.notes.append(
                "\(fault.status == .fail ? "FAIL" : "WARN") \(fault.reason) [\(address)]: \(fault.message) -> \(fault.advice)")
            result.trace.append("\(address): \(fault.reason): \(fault.message)")
        }
        // Certificate names printed and dates formatted for every node: only when read.
        if includeDetails { result.details = TLSReportDetails.details(nodes, faults: faults) }
        let worst = faults.map(\.1.status).reduce(CheckStatus.pass) { $0.worse($1) }
        result.status = worst
        if let first = faults.first(where: { $0.1.status == worst }) {
            result.reason = first.1.reason
            let others = Set(faults.map(\.1.reason)).subtracting([first.1.reason]).sorted()
            result.summary = first.1.message + (others.isEmpty ? "" : " (also: \(others.joined(separator: ", ")))")
        } else if let leaf = nodes.first?.chain.first {
            let days = Int((leaf.notAfter - now) / 86400)
            let count = nodes.count == 1 ? "" : " on all \(nodes.count) addresses"
            result.summary = "\(leaf.subjectCN) trusted\(count), \(nodes[0].version), expires in \(days) days (issuer \(leaf.issuerCN))"
        }
        return result
    }

    static func measurements(_ node: TLSNodeReport) -> [Measurement] {
        let label = [("address", node.address)]
        var out: [Measurement] = []
        if let leaf = node.chain.first {
            out += [
                Measurement(
                    "ewsprobe_tls_cert_not_after_timestamp_seconds", leaf.notAfter, help: "When the leaf certificate expires.",
                    labels: label),
                Measurement(
                    "ewsprobe_tls_cert_info", 1, help: "Identity of the leaf certificate; the value is always 1.",
                    labels: label + [
                        ("subject_cn", LabelValue.bounded(leaf.subjectCN)), ("issuer_cn", LabelValue.bounded(leaf.issuerCN)),
                        ("serial", LabelValue.bounded(leaf.serialHex)), ("sha256", leaf.sha256),
                        ("sans", LabelValue.bounded(leaf.dnsNames.joined(separator: ","))),
                    ]),
                Measurement("ewsprobe_tls_chain_length", Double(node.chain.count), help: "Certificates the server sent.", labels: label),
            ]
        }
        if let earliest = node.datedCertificates.map(\.notAfter).min() {
            out.append(
                Measurement(
                    "ewsprobe_tls_chain_earliest_not_after_timestamp_seconds", earliest,
                    help: "The earliest expiry over the chain (presented certificates and the trust anchor).", labels: label))
        }
        out.append(Measurement("ewsprobe_tls_verified", node.verified ? 1 : 0, help: "Whether chain and name verified.", labels: label))
        for reason in Set(node.faults.map(\.reason)).sorted() {
            out.append(
                Measurement(
                    "ewsprobe_tls_fault_info", 1, help: "Certificate or handshake faults per address; the value is always 1.",
                    labels: label + [("reason", reason)]))
        }
        guard !node.version.isEmpty else { return out }
        return out + [
            Measurement(
                "ewsprobe_tls_version_info", 1, help: "Negotiated TLS version; the value is always 1.",
                labels: label + [("version", LabelValue.bounded(node.version))]),
            Measurement(
                "ewsprobe_tls_cipher_info", 1, help: "Negotiated cipher; the value is always 1.",
                labels: label + [("cipher", LabelValue.bounded(node.cipher))]),
            Measurement("ewsprobe_tls_handshake_seconds", node.handshakeSeconds, help: "TLS handshake duration.", labels: label),
        ]
    }

    /// The chain as sent, one line per certificate, for the text report.
    static func notes(_ node: TLSNodeReport) -> [String] {
        var notes = ["\(node.address): \(node.version.isEmpty ? "no handshake" : "\(node.version) \(node.cipher)")"]
        for (index, certificate) in node.chain.enumerated() {
            notes.append(
                "  #\(index) \(certificate.subjectCN) <- \(certificate.issuerCN) | until \(Timestamp.text(certificate.notAfter)) | \(certificate.keyDescription) | \(certificate.signatureAlgorithm)"
            )
        }
        if let anchor = node.anchor { notes.append("  (anchor) \(anchor.subjectCN) from the trust store") }
        return notes
    }
}
