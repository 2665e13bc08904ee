import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The `tls` check against nginx serving certificates made at test time, one server per case,
/// with `openssl verify` as an independent oracle for the trust verdict.
@Suite(.serialized) struct TLSCheckTests {
    static let trustReasons: Set<String> = [
        "self_signed", "untrusted_root", "incomplete_chain", "chain_invalid", "expired", "not_yet_valid", "hostname_mismatch",
        "weak_signature", "weak_key",
    ]

    struct Served {
        var chain: [URL]
        var key: URL
    }

    final class Lab: @unchecked Sendable {
        let pki: TestPKI
        let intermediate: (URL, URL)

        init() throws {
            pki = try TestPKI(name: "tls")
            intermediate = try pki.issue("inter", names: ["ewsprobe test intermediate"], isCA: true)
        }

        func leaf(
            _ label: String, names: [String] = ["mail.lab.test"], from: TimeInterval = -86400, until: TimeInterval = 90 * 86400,
            digest: String = "sha256", key: TestPKI.KeySpec = .ec256
        ) throws -> Served {
            let (cert, keyFile) = try pki.issue(
                label, names: names, issuer: intermediate, validFrom: Date().addingTimeInterval(from),
                validUntil: Date().addingTimeInterval(until),
                digest: digest, key: key)
            return Served(chain: [cert, intermediate.0], key: keyFile)
        }

        func serve(_ served: Served, legacy: Bool = false, protocols: String? = nil, address: String = "127.0.0.1", port: Int? = nil) throws
            -> NginxLab
        {
            let bundle = try pki.bundle("bundle-\(UUID().uuidString.prefix(6))", served.chain)
            return try NginxLab(
                serverBlock: """
                    ssl_certificate \(bundle.path);
                    ssl_certificate_key \(served.key.path);
                    \(protocols.map { "ssl_protocols \($0);" } ?? "")
                    \(legacy ? "ssl_ciphers DEFAULT:@SECLEVEL=0;" : "")
                    location / { return 401; }
                    """, listenOptions: "ssl", address: address, port: port, legacyCrypto: legacy)
        }
    }

    func probe(
        _ port: Int, host: String = "mail.lab.test", addresses: [String] = ["127.0.0.1"], caFile: URL?, mode: TLSCheck.Mode = .strict,
        includeDetails: Bool = true
    )
        async throws -> CheckResult
    {
        var check = TLSCheck()
        check.mode = mode
        var target = TargetConfig(
            name: "tls", url: EndpointURL("https://\(host):\(port)/EWS/Exchange.asmx")!, module: ModuleConfig(name: "m", checks: [check]),
            resolve: [try ResolvePin.parse("\(host):\(port):\(addresses.joined(separator: ","))").get()])
        target.caFile = caFile?.path
        return await ProbeRunner(runtime: .test, includeDetails: includeDetails).run(target).checks[0]
    }

    static func reasons(_ result: CheckResult) -> Set<String> {
        Set(result.measurements.filter { $0.name == "ewsprobe_tls_fault_info" }.compactMap { m in m.labels.first { $0.0 == "reason" }?.1 })
    }

    /// `openssl verify` on the files nginx serves: the independent trust verdict.
    static func opensslTrusts(_ served: Served, caFile: URL?, host: String) throws -> Bool {
        var arguments = ["verify", "-auth_level", "2", "-verify_hostname", host]
        if let caFile { arguments += ["-CAfile", caFile.path] }
        if served.chain.count > 1 {
            let untrusted = FileManager.default.temporaryDirectory.appendingPathComponent("untrusted-\(UUID().uuidString).pem")
            try served.chain.dropFirst().map { try String(contentsOf: $0, encoding: .utf8) }.joined()
                .write(to: untrusted, atomically: true, encoding: .utf8)
            arguments += ["-untrusted", untrusted.path]
        }
        arguments.append(served.chain[0].path)
        do {
            try TestPKI.openssl(arguments)
            return true
        } catch {
            return false
        }
    }

    func expect(
        _ lab: Lab, _ name: String, _ served: Served, host: String = "mail.lab.test", caFile: Bool = true, mode: TLSCheck.Mode = .strict,
        legacy: Bool = false, protocols: String? = nil, status: CheckStatus, reason: String?
    ) async throws {
        let nginx = try lab.serve(served, legacy: legacy, protocols: protocols)
        defer { nginx.stop() }
        let ca = caFile ? lab.pki.caPEM : nil
        let result = try await probe(nginx.port, host: host, caFile: ca, mode: mode)
        #expect(result.status == status, "\(name): \(result.summary)")
        #expect(result.reason == reason, "\(name): \(result.summary) \(Self.reasons(result))")
        // Certificate facts are there even when verification fails.
        #expect(result.measurements.contains { $0.name == "ewsprobe_tls_cert_not_after_timestamp_seconds" }, "\(name)")
        let ours = Self.reasons(result).isDisjoint(with: Self.trustReasons)
        let theirs = try Self.opensslTrusts(served, caFile: ca, host: host)
        #expect(ours == theirs, "\(name): ewsprobe trusts=\(ours), openssl verify trusts=\(theirs) \(Self.reasons(result))")
    }

    @Test func trustCases() async throws {
        let lab = try Lab()
        let good = try lab.leaf("good")
        try await expect(lab, "good chain", good, status: .pass, reason: nil)
        try await expect(lab, "leaf only", Served(chain: [good.chain[0]], key: good.key), status: .fail, reason: "incomplete_chain")
        let (selfCert, selfKey) = try lab.pki.selfSigned("self", names: ["mail.lab.test"])
        try await expect(lab, "self-signed", Served(chain: [selfCert], key: selfKey), status: .fail, reason: "self_signed")
        try await expect(lab, "private root, strict", good, caFile: false, status: .fail, reason: "untrusted_root")
        try await expect(lab, "private root, relaxed", good, caFile: false, mode: .relaxed, status: .warn, reason: "untrusted_root")
        try await expect(
            lab, "root sent too", Served(chain: good.chain + [lab.pki.caPEM], key: good.key), caFile: false, status: .fail,
            reason: "untrusted_root")
    }

    /// Scheduled runs skip the JSON details (nobody reads them) and nothing else: the verdict,
    /// summary, notes and metrics are the same as a run that builds them.
    @Test func detailsOnlyWhenAsked() async throws {
        let lab = try Lab()
        let nginx = try lab.serve(try lab.leaf("details", names: ["other.lab.test"]))
        defer { nginx.stop() }
        let full = try await probe(nginx.port, caFile: lab.pki.caPEM)
        let lean = try await probe(nginx.port, caFile: lab.pki.caPEM, includeDetails: false)
        #expect(full.reason == "hostname_mismatch")
        #expect(lean.status == full.status && lean.reason == full.reason && lean.summary == full.summary)
        #expect(lean.notes == full.notes)
        #expect(lean.measurements.map(\.name) == full.measurements.map(\.name))
        let timeless = { (result: CheckResult) in result.measurements.filter { $0.name != "ewsprobe_tls_handshake_seconds" }.map(\.value) }
        #expect(timeless(lean) == timeless(full))
        #expect(lean.details.isEmpty)
        let chain = JSONReport.line(
            ProbeReport(targetName: "t", url: "u", startedAt: 0, durationSeconds: 0, checks: [full], timedOut: false))
        #expect(chain.contains("CN=other.lab.test") && chain.contains("hostname_mismatch"), "\(chain)")
    }

    /// A valid chain of 20 certificates (leaf and 19 intermediates): verified, listed whole, and
    /// flagged, since Java clients refuse chains longer than 10 by default.
    @Test func twentyCertificateChain() async throws {
        let lab = try Lab()
        var issuer = lab.intermediate
        var intermediates = [lab.intermediate.0]
        for level in 2...19 {
            issuer = try lab.pki.issue("inter\(level)", names: ["ewsprobe test intermediate \(level)"], issuer: issuer, isCA: true)
            intermediates.insert(issuer.0, at: 0)
        }
        let (leaf, key) = try lab.pki.issue("deep", names: ["mail.lab.test"], issuer: issuer)
        let served = Served(chain: [leaf] + intermediates, key: key)
        #expect(served.chain.count == 20)
        try await expect(lab, "20 certificates", served, status: .warn, reason: "chain_too_long")
        let nginx = try lab.serve(served)
        defer { nginx.stop() }
        let result = try await probe(nginx.port, caFile: lab.pki.caPEM)
        guard case .array(let nodes)? = result.details.first(where: { $0.0 == "nodes" })?.1, case .object(let node)? = nodes.first,
            case .array(let chain)? = node.first(where: { $0.0 == "chain" })?.1
        else {
            Issue.record("no chain in the details")
            return
        }
        #expect(chain.count == 20, "the whole chain as sent")
        #expect(node.first { $0.0 == "verified" }?.1 == .bool(true))
    }

    @Test func dateCases() async throws {
        let lab = try Lab()
        try await expect(lab, "expired", try lab.leaf("expired", from: -40 * 86400, until: -10 * 86400), status: .fail, reason: "expired")
        try await expect(
            lab, "not yet valid", try lab.leaf("future", from: 5 * 86400, until: 90 * 86400), status: .fail, reason: "not_yet_valid")
        try await expect(lab, "expiring in 10 days", try lab.leaf("ten", until: 10 * 86400 + 3600), status: .warn, reason: "expiring_soon")
        try await expect(lab, "expiring in 3 days", try lab.leaf("three", until: 3 * 86400 + 3600), status: .fail, reason: "expiring_soon")
    }

    @Test func nameCases() async throws {
        let lab = try Lab()
        try await expect(lab, "wrong name", try lab.leaf("wrong", names: ["other.lab.test"]), status: .fail, reason: "hostname_mismatch")
        let wildcard = try lab.leaf("wildcard", names: ["*.lab.test"])
        try await expect(lab, "wildcard match", wildcard, status: .pass, reason: nil)
        try await expect(lab, "wildcard over two labels", wildcard, host: "a.mail.lab.test", status: .fail, reason: "hostname_mismatch")
    }

    @Test func weakCases() async throws {
        let lab = try Lab()
        try await expect(lab, "SHA-1", try lab.leaf("sha1", digest: "sha1"), legacy: true, status: .fail, reason: "weak_signature")
        try await expect(lab, "RSA-1024", try lab.leaf("rsa1024", key: .rsa(1024)), legacy: true, status: .fail, reason: "weak_key")
        try await expect(
            lab, "TLS 1.0 only", try lab.leaf("tls10"), legacy: true, protocols: "TLSv1", status: .fail, reason: "legacy_protocol")
    }

    @Test func nodesServingDifferentCertificates() async throws {
        let lab = try Lab()
        let first = try lab.serve(try lab.leaf("node-a"))
        defer { first.stop() }
        let second = try lab.serve(try lab.leaf("node-b"), address: "127.0.0.2", port: first.port)
        defer { second.stop() }
        let result = try await probe(first.port, addresses: ["127.0.0.1", "127.0.0.2"], caFile: lab.pki.caPEM)
        #expect(result.status == .fail)
        #expect(result.reason == "cert_mismatch_across_nodes", "\(result.summary)")
        #expect(result.measurements.filter { $0.name == "ewsprobe_tls_cert_info" }.count == 2)
        let same = try await probe(first.port, addresses: ["127.0.0.1", "127.0.0.1"], caFile: lab.pki.caPEM)
        #expect(same.status == .pass, "\(same.summary)")
    }

    @Test func handshakeFailures() async throws {
        // Plain HTTP where TLS is expected.
        let plain = try NginxLab(serverBlock: "location / { return 200; }")
        defer { plain.stop() }
        let result = try await probe(plain.port, caFile: nil)
        #expect(result.reason == "handshake_failed", "\(result.summary)")
    }

    @Test func hostnameRules() throws {
        let lab = try Lab()
        let wildcard = try #require(
            Certificate(
                pem: try String(contentsOf: try lab.leaf("w", names: ["*.Lab.Test", "exact.example.com"]).chain[0], encoding: .utf8)))
        #expect(HostnameMatcher.matches(host: "mail.lab.test", certificate: wildcard))
        #expect(HostnameMatcher.matches(host: "MAIL.LAB.TEST.", certificate: wildcard))
        #expect(!HostnameMatcher.matches(host: "lab.test", certificate: wildcard))
        #expect(!HostnameMatcher.matches(host: "a.b.lab.test", certificate: wildcard))
        #expect(HostnameMatcher.matches(host: "exact.example.com", certificate: wildcard))
        #expect(!HostnameMatcher.matches(host: "127.0.0.1", certificate: wildcard))
        #expect(!HostnameMatcher.matches("a.test", pattern: "*.test"))
        #expect(!HostnameMatcher.matches("ab.lab.test", pattern: "a*.lab.test"))
        #expect(wildcard.keyDescription == "EC 256")
        #expect(wildcard.signatureDigest == "sha256")
        #expect(wildcard.sha256.count == 64)
    }
}
