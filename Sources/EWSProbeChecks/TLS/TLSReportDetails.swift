import EWSProbeCore
import EWSProbeTransport

/// The `tls` JSON details: every address's handshake, chain as sent, anchor and faults.
enum TLSReportDetails {
    static func details(_ nodes: [TLSNodeReport], faults: [(String, TLSFault)]) -> [(String, JSONValue)] {
        [
            (
                "nodes",
                .array(
                    nodes.map { node in
                        .object([
                            ("address", .string(node.address)), ("verified", .bool(node.verified)), ("version", .string(node.version)),
                            ("cipher", .string(node.cipher)), ("handshake_seconds", .number(node.handshakeSeconds)),
                            ("chain", .array(node.chain.map(json))),
                            ("anchor", node.anchor.map(json) ?? .null),
                            ("faults", .array(node.faults.map(json))),
                            ("revocation", RevocationReport.json(node)),
                        ])
                    })
            ),
            ("faults", .array(faults.map { json($0.1) })),
        ]
    }

    static func json(_ certificate: Certificate) -> JSONValue {
        .object([
            ("subject", .string(certificate.subject)), ("issuer", .string(certificate.issuer)),
            ("serial", .string(certificate.serialHex)), ("sha256", .string(certificate.sha256)),
            ("not_before", .string(Timestamp.text(certificate.notBefore))),
            ("not_after", .string(Timestamp.text(certificate.notAfter))),
            ("dns_names", .array(certificate.dnsNames.map { .string($0) })),
            ("ip_addresses", .array(certificate.ipAddresses.map { .string($0) })),
            ("key", .string(certificate.keyDescription)), ("signature_algorithm", .string(certificate.signatureAlgorithm)),
        ])
    }

    static func json(_ fault: TLSFault) -> JSONValue {
        .object([
            ("reason", .string(fault.reason)), ("status", .string(fault.status.rawValue)), ("message", .string(fault.message)),
            ("advice", .string(fault.advice)),
        ])
    }
}
