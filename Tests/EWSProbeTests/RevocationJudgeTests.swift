import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The revocation reasons from fixed findings (the findings themselves come from real servers
/// in `RevocationTests`).
@Suite struct RevocationJudgeTests {
    /// Any certificate: the judgement reads the findings, not the chain.
    static let leaf: [Certificate] = {
        guard let pki = try? TestPKI(name: "revocation-judge"), let (pem, _) = try? pki.leaf("leaf", names: ["mail.lab.test"]),
            let text = try? String(contentsOf: pem, encoding: .utf8)
        else { return [] }
        return Certificate.parseAll(pem: text)
    }()

    static func node(_ revocation: [CertificateRevocation], stapled: Bool = false) -> TLSNodeReport {
        var node = TLSNodeReport(address: "127.0.0.1")
        node.chain = leaf
        node.revocation = revocation
        node.revocationChecked = true
        node.stapled = stapled
        return node
    }

    static func certificate(_ status: CertificateRevocation.Status, source: CertificateRevocation.Source? = .crl) -> CertificateRevocation {
        var certificate = CertificateRevocation(index: 0, subjectCN: "mail.lab.test")
        certificate.status = status
        certificate.source = source
        certificate.url = "http://crl.lab.test/int.crl"
        return certificate
    }

    @Test func revokedFailsInStrictAndWarnsInRelaxed() {
        var judge = RevocationJudge()
        let node = Self.node([Self.certificate(.revoked(at: 1_800_000_000, reason: "keyCompromise"))])
        let strict = judge.faults(node)
        #expect(strict.map(\.reason) == ["revoked"])
        #expect(strict[0].status == .fail)
        #expect(strict[0].message.contains("keyCompromise"))
        #expect(strict[0].message.contains("the CRL http://crl.lab.test/int.crl"))
        judge.mode = .relaxed
        #expect(judge.faults(node).map(\.status) == [.warn])
    }

    @Test func unknownWarnsWithEachCause() {
        let faults = RevocationJudge().faults(Self.node([Self.certificate(.unknown(["CRL a: HTTP 404", "OCSP b: timed out"]))]))
        #expect(faults.map(\.reason) == ["revocation_unknown"])
        #expect(faults[0].status == .warn)
        #expect(faults[0].message.contains("HTTP 404; OCSP b: timed out"))
    }

    @Test func staleStapleWarnsEvenWhenAnotherSourceAnswered() {
        var certificate = Self.certificate(.good)
        certificate.staleStaple = 1_700_000_000
        let faults = RevocationJudge().faults(Self.node([certificate], stapled: true))
        #expect(faults.map(\.reason) == ["ocsp_response_stale"])
    }

    @Test func staplingRequiredOnlyWhenSet() {
        #expect(!Self.leaf.isEmpty)
        var judge = RevocationJudge()
        let node = Self.node([Self.certificate(.good)])
        #expect(judge.faults(node).isEmpty)
        judge.requireStapling = true
        #expect(judge.faults(node).map(\.reason) == ["ocsp_stapling_missing"])
        #expect(judge.faults(Self.node([Self.certificate(.good)], stapled: true)).isEmpty)
    }

    @Test func goodAndNotCheckedAreSilent() {
        #expect(RevocationJudge().faults(Self.node([Self.certificate(.good), Self.certificate(.notChecked, source: nil)])).isEmpty)
    }

    @Test func metricsCarryTheWorstStatePerSource() {
        var intermediate = Self.certificate(.revoked(at: 1, reason: nil))
        intermediate.index = 1
        var leaf = Self.certificate(.good, source: .stapled)
        leaf.nextUpdate = 1_900_000_000
        let measurements = RevocationReport.measurements(Self.node([leaf, intermediate], stapled: true))
        let status = measurements.filter { $0.name == "ewsprobe_tls_revocation_status" }
        #expect(status.count == 2)
        #expect(status.first { $0.labels.contains { $0 == ("source", "crl") } }?.value == 1)
        #expect(status.first { $0.labels.contains { $0 == ("source", "stapled") } }?.value == 0)
        #expect(measurements.first { $0.name == "ewsprobe_tls_ocsp_stapled" }?.value == 1)
        #expect(measurements.first { $0.name == "ewsprobe_tls_revocation_next_update_timestamp_seconds" }?.value == 1_900_000_000)
    }
}
