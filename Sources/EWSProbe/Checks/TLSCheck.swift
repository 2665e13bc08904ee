import Foundation

/// `tls`: the certificate as the cloud service judges it (public roots, the EWS host name), on
/// every address. The chain is captured even when it fails verification, analysed with OpenSSL,
/// and every fault is reported, not only the first.
public struct TLSCheck: Check {
    public static let name = "tls"

    public enum Mode: String, Sendable, CaseIterable {
        /// Any trust fault fails (what the cloud service does).
        case strict
        /// Trust faults become warnings; everything is still measured.
        case relaxed
    }

    public enum ProtocolVersion: String, Sendable, CaseIterable, Comparable {
        case tls10 = "1.0"
        case tls11 = "1.1"
        case tls12 = "1.2"
        case tls13 = "1.3"

        var rank: Int { ProtocolVersion.allCases.firstIndex(of: self)! }
        public static func < (lhs: ProtocolVersion, rhs: ProtocolVersion) -> Bool { lhs.rank < rhs.rank }

        /// From OpenSSL's name ("TLSv1.2").
        init?(openSSLName: String) {
            switch openSSLName {
            case "TLSv1": self = .tls10
            case "TLSv1.1": self = .tls11
            case "TLSv1.2": self = .tls12
            case "TLSv1.3": self = .tls13
            default: return nil
            }
        }
    }

    public var mode: Mode = .strict
    public var warnDays = 21
    /// Longest chain every common client accepts (Java's default limit).
    static let maxChainLength = 10
    public var failDays = 7
    public var minVersion: ProtocolVersion = .tls12

    public init() {}

    public init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["mode", "warn_days", "fail_days", "min_version"]) {
            switch key {
            case "mode": mode = try value.choice(Mode.self)
            case "warn_days": warnDays = try value.int(in: 0...3650)
            case "fail_days": failDays = try value.int(in: 0...3650)
            case "min_version": minVersion = try value.choice(ProtocolVersion.self)
            default: break
            }
        }
        guard failDays <= warnDays else { throw settings.error("fail_days (\(failDays)) must not exceed warn_days (\(warnDays))") }
    }

    /// One finding about one node's certificate chain.
    public struct Fault: Sendable, Equatable {
        public var reason: String
        public var status: CheckStatus
        public var message: String
        public var advice: String
    }

    /// What one address presented and what is wrong with it.
    public struct NodeReport: Sendable {
        public var address: String
        public var chain: [Certificate] = []
        public var anchor: Certificate?
        public var version = ""
        public var cipher = ""
        public var handshakeSeconds = 0.0
        public var verified = false
        public var faults: [Fault] = []
    }

    public func plan(_ plan: inout ProbePlan, for url: EndpointURL) {
        plan.sharesAnonymousSOAP = plan.sharesAnonymousSOAP || url.isTLS
    }

    public func run(_ ctx: ProbeContext) async -> CheckResult {
        let timer = CheckTimer()
        guard ctx.target.url.isTLS else {
            return CheckResult(check: Self.name, status: .skip, reason: "not_https", summary: "the URL is not https")
        }
        let resolution = await ctx.addresses()
        guard !resolution.addresses.isEmpty else {
            return CheckResult(check: Self.name, status: .skip, reason: "no_addresses", summary: "no address to connect to (dns failed)")
        }
        // One address (the usual case) needs no task group: each child task is a thread hop.
        let nodes =
            resolution.addresses.count == 1
            ? [await inspect(resolution.addresses[0], ctx, shareConnection: true)]
            : await withTaskGroup(of: (Int, NodeReport).self) { group in
                for (index, address) in resolution.addresses.enumerated() {
                    group.addTask { (index, await inspect(address, ctx, shareConnection: index == 0)) }
                }
                var collected: [(Int, NodeReport)] = []
                for await item in group { collected.append(item) }
                return collected.sorted { $0.0 < $1.0 }.map { $0.1 }
            }
        var result = render(nodes, host: ctx.target.url.host, includeDetails: ctx.includeDetails)
        result.durationSeconds = timer.elapsed
        return result
    }

    /// One handshake to one address, pinned; the chain is read even when it does not verify.
    /// The first address's handshake is the probe's SOAP POST, whose answer `auth_methods` and
    /// `forms_auth` judge too; other addresses get a bare handshake.
    func inspect(_ address: String, _ ctx: ProbeContext, shareConnection: Bool) async -> NodeReport {
        var node = NodeReport(address: address)
        var request = ctx.anonymousSOAPRequest(pinnedTo: address)
        if !shareConnection {
            request.method = "GET"
            request.body = nil
        }
        // The handshake's facts, judged on their own: what the HTTP exchange does after the
        // handshake (a close, a stall) is for the HTTP checks to report.
        let secured: SecuredConnection
        do {
            secured =
                shareConnection
                ? try await ctx.anonymousSOAPConnection(pinnedTo: address)
                : SecuredConnection(try await ctx.transport.exchange(request, policy: .connectOnly))
        } catch {
            guard let reached = SecuredConnection(reachedBefore: error, tls: true) else {
                let text = error.kind == .timeout ? "timed out" : error.message
                node.faults.append(
                    Fault(
                        reason: "handshake_failed", status: .fail, message: "TLS handshake with \(address) failed: \(text)",
                        advice: "check that the server speaks TLS on this port and offers a protocol and cipher clients accept"))
                return node
            }
            secured = reached
        }
        node.version = secured.tls.version
        node.cipher = secured.tls.cipher
        node.handshakeSeconds = max(0, secured.timings.tlsHandshake - secured.timings.connect)
        node.chain = secured.tls.chain
        guard !node.chain.isEmpty else {
            node.faults.append(
                Fault(
                    reason: "handshake_failed", status: .fail, message: "\(address) presented no certificate",
                    advice: "configure a certificate"))
            return node
        }
        let outcome = ctx.runtime.verifier(caFile: ctx.target.caFile).verify(node.chain)
        node.anchor = outcome.builtChain.count > node.chain.count ? outcome.builtChain.last : nil
        node.faults = analyse(node, outcome: outcome, host: ctx.target.url.host, now: Date().timeIntervalSince1970)
        node.verified = outcome.trusted && !node.faults.contains { $0.reason == "hostname_mismatch" }
        return node
    }

    /// Every fault of one node's chain (pure: unit-tested with fixed certificates and time).
    func analyse(_ node: NodeReport, outcome: ChainVerifier.Outcome, host: String, now: Double) -> [Fault] {
        let trustStatus: CheckStatus = mode == .strict ? .fail : .warn
        var faults: [Fault] = []
        func add(_ reason: String, _ status: CheckStatus, _ message: String, _ advice: String) {
            let fault = Fault(reason: reason, status: status, message: message, advice: advice)
            // Chain-level findings once each (OpenSSL may report one gap as two codes);
            // per-certificate findings once per certificate.
            let chainLevel: Set<String> = ["incomplete_chain", "untrusted_root", "self_signed"]
            if chainLevel.contains(reason) ? !faults.contains(where: { $0.reason == reason }) : !faults.contains(fault) {
                faults.append(fault)
            }
        }
        let leaf = node.chain[0]
        for fault in outcome.faults {
            let certificate = fault.depth < outcome.builtChain.count ? outcome.builtChain[Int(fault.depth)] : leaf
            switch fault.code {
            case 9, 10:
                continue  // judged below from each certificate's dates
            case 18:
                add("self_signed", trustStatus, "\(Self.describe(leaf)) is self-signed", "install a certificate from a public CA")
            case 19:
                add(
                    "untrusted_root", trustStatus, "the chain ends in \(Self.describe(certificate)), which is not a trusted public root",
                    "use a certificate from a public CA (or add ca_file for internal monitoring)")
            case 2, 20:
                if certificate.isCA || node.chain.count > 1 && fault.depth > 0 {
                    add(
                        "untrusted_root", trustStatus,
                        "the issuer of \(Self.describe(certificate)) (\(certificate.issuerCN)) is not a trusted root",
                        "use a certificate from a public CA (or add ca_file for internal monitoring)")
                } else {
                    add(
                        "incomplete_chain", trustStatus,
                        "server sent \(node.chain.count) certificate(s); the issuing intermediate of \(Self.describe(certificate)) (\(certificate.issuerCN)) is missing",
                        "install the intermediate certificate on the server")
                }
            case 21:
                add(
                    "incomplete_chain", trustStatus, "the issuer of \(Self.describe(leaf)) is missing from the chain",
                    "install the intermediate certificate on the server")
            default:
                add(
                    "chain_invalid", trustStatus, "OpenSSL: \(fault.text) at \(Self.describe(certificate))",
                    "replace the certificate chain")
            }
        }
        if !HostnameMatcher.matches(host: host, certificate: leaf) {
            let names = (leaf.dnsNames + leaf.ipAddresses).joined(separator: ", ")
            add(
                "hostname_mismatch", trustStatus,
                "\(host) is not among the names of \(Self.describe(leaf)) (\(names.isEmpty ? leaf.subjectCN : names))",
                "install a certificate whose subject alternative names include \(host)")
        }
        if node.chain.count > Self.maxChainLength {
            add(
                "chain_too_long", .warn,
                "server sent \(node.chain.count) certificates; Java clients refuse more than \(Self.maxChainLength) by default (jdk.tls.maxCertificateChainLength)",
                "send only the leaf and the intermediates that lead to a public root")
        }
        let elements = node.chain + (node.anchor.map { [$0] } ?? [])
        for certificate in elements {
            let days = (certificate.notAfter - now) / 86400
            if certificate.notAfter < now {
                add(
                    "expired", trustStatus, "\(Self.describe(certificate)) expired on \(JSONReport.timestamp(certificate.notAfter))",
                    "renew the certificate")
            } else if certificate.notBefore > now {
                add(
                    "not_yet_valid", trustStatus,
                    "\(Self.describe(certificate)) is valid only from \(JSONReport.timestamp(certificate.notBefore))",
                    "check the server's clock and the certificate's start date")
            } else if days < Double(failDays) {
                add(
                    "expiring_soon", mode == .strict ? .fail : .warn,
                    "\(Self.describe(certificate)) expires in \(Int(days)) day(s) (\(JSONReport.timestamp(certificate.notAfter)))",
                    "renew the certificate now")
            } else if days < Double(warnDays) {
                add(
                    "expiring_soon", .warn,
                    "\(Self.describe(certificate)) expires in \(Int(days)) day(s) (\(JSONReport.timestamp(certificate.notAfter)))",
                    "renew the certificate")
            }
        }
        for certificate in node.chain where !certificate.isSelfSigned && ["sha1", "md5", "md4"].contains(certificate.signatureDigest) {
            add(
                "weak_signature", trustStatus, "\(Self.describe(certificate)) is signed with \(certificate.signatureAlgorithm)",
                "reissue the certificate with a SHA-256 signature")
        }
        for certificate in node.chain {
            let weak =
                switch certificate.keyType {
                case .rsa, .dsa: certificate.keyBits < 2048
                case .ec: certificate.keyBits < 256
                default: false
                }
            if weak {
                add(
                    "weak_key", trustStatus, "\(Self.describe(certificate)) has a \(certificate.keyDescription)-bit key",
                    "reissue with RSA 2048+ or EC P-256+")
            }
        }
        if let negotiated = ProtocolVersion(openSSLName: node.version), negotiated < minVersion {
            add(
                "legacy_protocol", trustStatus, "\(node.address) negotiated \(node.version), below the minimum TLS \(minVersion.rawValue)",
                "enable TLS 1.2 (and 1.3) on the server")
        }
        return faults
    }

    static func describe(_ certificate: Certificate) -> String {
        "certificate \"\(certificate.subjectCN.isEmpty ? certificate.subject : certificate.subjectCN)\""
    }

    func render(_ nodes: [NodeReport], host: String, includeDetails: Bool) -> CheckResult {
        var result = CheckResult(check: Self.name, status: .pass, summary: "")
        var allFaults: [(String, Fault)] = nodes.flatMap { node in node.faults.map { (node.address, $0) } }
        let leaves = Set(nodes.compactMap { $0.chain.first?.sha256 })
        if leaves.count > 1 {
            let list = nodes.compactMap { node in node.chain.first.map { "\(node.address): \($0.subjectCN) \($0.sha256.prefix(16))" } }
            allFaults.append(
                (
                    "*",
                    Fault(
                        reason: "cert_mismatch_across_nodes", status: mode == .strict ? .fail : .warn,
                        message: "the addresses serve different certificates (\(list.joined(separator: "; ")))",
                        advice: "install the same certificate on every node behind \(host)")
                ))
        }
        for node in nodes {
            let label = [("address", node.address)]
            let earliest = (node.chain + (node.anchor.map { [$0] } ?? [])).map(\.notAfter).min()
            if let leaf = node.chain.first {
                result.measurements += [
                    Measurement(
                        "ewsprobe_tls_cert_not_after_timestamp_seconds", leaf.notAfter, help: "When the leaf certificate expires.",
                        labels: label),
                    Measurement(
                        "ewsprobe_tls_cert_info", 1, help: "Identity of the leaf certificate; the value is always 1.",
                        labels: label + [
                            ("subject_cn", LabelValue.bounded(leaf.subjectCN)), ("issuer_cn", LabelValue.bounded(leaf.issuerCN)),
                            ("serial", LabelValue.bounded(leaf.serialHex)), ("sha256", leaf.sha256),
                            ("sans", LabelValue.bounded(leaf.dnsNames.joined(separator: ","))),
                        ], kind: .info),
                    Measurement(
                        "ewsprobe_tls_chain_length", Double(node.chain.count), help: "Certificates the server sent.", labels: label),
                ]
            }
            if let earliest {
                result.measurements.append(
                    Measurement(
                        "ewsprobe_tls_chain_earliest_not_after_timestamp_seconds", earliest,
                        help: "The earliest expiry over the chain (presented certificates and the trust anchor).", labels: label))
            }
            result.measurements.append(
                Measurement("ewsprobe_tls_verified", node.verified ? 1 : 0, help: "Whether chain and name verified.", labels: label))
            for reason in Set(node.faults.map(\.reason)).sorted() {
                result.measurements.append(
                    Measurement(
                        "ewsprobe_tls_fault_info", 1, help: "Certificate or handshake faults per address; the value is always 1.",
                        labels: label + [("reason", reason)], kind: .info))
            }
            if !node.version.isEmpty {
                result.measurements += [
                    Measurement(
                        "ewsprobe_tls_version_info", 1, help: "Negotiated TLS version; the value is always 1.",
                        labels: label + [("version", LabelValue.bounded(node.version))],
                        kind: .info),
                    Measurement(
                        "ewsprobe_tls_cipher_info", 1, help: "Negotiated cipher; the value is always 1.",
                        labels: label + [("cipher", LabelValue.bounded(node.cipher))], kind: .info),
                    Measurement("ewsprobe_tls_handshake_seconds", node.handshakeSeconds, help: "TLS handshake duration.", labels: label),
                ]
            }
            result.notes.append("\(node.address): \(node.version.isEmpty ? "no handshake" : "\(node.version) \(node.cipher)")")
            for (index, certificate) in node.chain.enumerated() {
                result.notes.append(
                    "  #\(index) \(certificate.subjectCN) <- \(certificate.issuerCN) | until \(JSONReport.timestamp(certificate.notAfter)) | \(certificate.keyDescription) | \(certificate.signatureAlgorithm)"
                )
            }
            if let anchor = node.anchor { result.notes.append("  (anchor) \(anchor.subjectCN) from the trust store") }
        }
        for (address, fault) in allFaults {
            result.notes.append(
                "\(fault.status == .fail ? "FAIL" : "WARN") \(fault.reason) [\(address)]: \(fault.message) -> \(fault.advice)")
            result.trace.append("\(address): \(fault.reason): \(fault.message)")
        }
        // Certificate names printed and dates formatted for every node: only when read.
        if includeDetails { result.details = Self.details(nodes, faults: allFaults) }
        let worst = allFaults.map(\.1.status).reduce(CheckStatus.pass) { $0.worse($1) }
        result.status = worst
        if let first = allFaults.first(where: { $0.1.status == worst }) {
            result.reason = first.1.reason
            let others = Set(allFaults.map(\.1.reason)).subtracting([first.1.reason]).sorted()
            result.summary = first.1.message + (others.isEmpty ? "" : " (also: \(others.joined(separator: ", ")))")
        } else if let leaf = nodes.first?.chain.first {
            let days = Int((leaf.notAfter - Date().timeIntervalSince1970) / 86400)
            let count = nodes.count == 1 ? "" : " on all \(nodes.count) addresses"
            result.summary = "\(leaf.subjectCN) trusted\(count), \(nodes[0].version), expires in \(days) days (issuer \(leaf.issuerCN))"
        }
        return result
    }

    static func details(_ nodes: [NodeReport], faults: [(String, Fault)]) -> [(String, JSONValue)] {
        [
            (
                "nodes",
                .array(
                    nodes.map { node in
                        .object([
                            ("address", .string(node.address)), ("verified", .bool(node.verified)), ("version", .string(node.version)),
                            ("cipher", .string(node.cipher)), ("handshake_seconds", .number(node.handshakeSeconds)),
                            ("chain", .array(node.chain.map(Self.json))),
                            ("anchor", node.anchor.map(Self.json) ?? .null),
                            ("faults", .array(node.faults.map(Self.json))),
                        ])
                    })
            ),
            ("faults", .array(faults.map { Self.json($0.1) })),
        ]
    }

    static func json(_ certificate: Certificate) -> JSONValue {
        .object([
            ("subject", .string(certificate.subject)), ("issuer", .string(certificate.issuer)),
            ("serial", .string(certificate.serialHex)), ("sha256", .string(certificate.sha256)),
            ("not_before", .string(JSONReport.timestamp(certificate.notBefore))),
            ("not_after", .string(JSONReport.timestamp(certificate.notAfter))),
            ("dns_names", .array(certificate.dnsNames.map { .string($0) })),
            ("ip_addresses", .array(certificate.ipAddresses.map { .string($0) })),
            ("key", .string(certificate.keyDescription)), ("signature_algorithm", .string(certificate.signatureAlgorithm)),
        ])
    }

    static func json(_ fault: Fault) -> JSONValue {
        .object([
            ("reason", .string(fault.reason)), ("status", .string(fault.status.rawValue)), ("message", .string(fault.message)),
            ("advice", .string(fault.advice)),
        ])
    }
}
