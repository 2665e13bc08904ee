import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The `tls` fault judgement alone: certificates with fixed dates (a root and an intermediate
/// valid 2020–2040, leaves around mid-2030), verified by OpenSSL at a fixed time and judged at
/// that same time, so every verdict is the same whenever the tests run. Every `tls` reason the
/// judgement gives is produced here; `openssl verify -attime` is the oracle for the trust ones.
@Suite(.serialized) struct TLSFaultJudgeTests {
    /// 2030-06-01T00:00:00Z: the fixed clock of every case.
    static let now: Double = 1_906_502_400
    static let host = "mail.lab.test"

    final class FixedPKI: @unchecked Sendable {
        let pki: TestPKI
        let root: (URL, URL)
        let intermediate: (URL, URL)

        init() throws {
            pki = try TestPKI(name: "fixed-tls")
            root = try pki.issue(
                "fixed-root", names: ["ewsprobe fixed root"], validFrom: Self.date("20200101000000Z"),
                validUntil: Self.date("20400101000000Z"), isCA: true, selfSign: true)
            intermediate = try pki.issue(
                "fixed-inter", names: ["ewsprobe fixed intermediate"], issuer: root, validFrom: Self.date("20200101000000Z"),
                validUntil: Self.date("20400101000000Z"), isCA: true)
        }

        static func date(_ text: String) -> Date {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = "yyyyMMddHHmmss'Z'"
            return formatter.date(from: text)!
        }

        /// A leaf under the intermediate, valid `from`–`until` (days from the fixed clock).
        func leaf(
            _ label: String, names: [String] = [TLSFaultJudgeTests.host], from: Double = -365, until: Double = 365,
            digest: String = "sha256", key: TestPKI.KeySpec = .ec256
        ) throws -> URL {
            let start = Date(timeIntervalSince1970: TLSFaultJudgeTests.now + from * 86400)
            let end = Date(timeIntervalSince1970: TLSFaultJudgeTests.now + until * 86400)
            return try pki.issue(
                label, names: names, issuer: intermediate, validFrom: start, validUntil: end, digest: digest, key: key
            ).0
        }

        func certificate(_ file: URL) throws -> Certificate {
            try #require(Certificate(pem: String(contentsOf: file, encoding: .utf8)))
        }

        /// The node as a handshake would report it, verified by OpenSSL at the fixed time
        /// against the system roots plus `trusting` (nil: the system roots alone).
        func judged(
            _ chain: [URL], trusting: URL?, judge: TLSFaultJudge = TLSFaultJudge(), version: String = "TLSv1.3"
        ) throws -> [TLSFault] {
            var node = TLSNodeReport(address: "127.0.0.1")
            node.chain = try chain.map(certificate)
            node.version = version
            let verifier = ChainVerifier(stores: TrustStores(), caFile: trusting?.path, time: TLSFaultJudgeTests.now)
            let outcome = verifier.verify(node.chain)
            node.anchor = outcome.builtChain.count > node.chain.count ? outcome.builtChain.last : nil
            return judge.faults(of: node, outcome: outcome, host: TLSFaultJudgeTests.host, now: TLSFaultJudgeTests.now)
        }

        /// `openssl verify` at the fixed time: the independent trust verdict.
        func opensslVerify(_ leaf: URL, untrusted: URL?, trusting: URL?) -> String {
            var arguments = ["verify", "-attime", String(Int(TLSFaultJudgeTests.now))]
            if let trusting { arguments += ["-CAfile", trusting.path] } else { arguments += ["-no-CAfile", "-no-CApath"] }
            if let untrusted { arguments += ["-untrusted", untrusted.path] }
            // A refused chain makes openssl exit non-zero; its words are in the error.
            do { return try TestPKI.openssl(arguments + [leaf.path]) } catch { return "\(error)" }
        }
    }

    static let lab = Result { try FixedPKI() }

    func reasons(_ faults: [TLSFault]) -> [String] { faults.map(\.reason) }

    @Test func goodChainHasNoFault() throws {
        let lab = try Self.lab.get()
        let leaf = try lab.leaf("good")
        #expect(try lab.judged([leaf, lab.intermediate.0], trusting: lab.root.0).isEmpty)
        #expect(lab.opensslVerify(leaf, untrusted: lab.intermediate.0, trusting: lab.root.0).contains("OK"))
    }

    @Test func datesAtTheFixedClock() throws {
        let lab = try Self.lab.get()
        let chain = { (leaf: URL) in [leaf, lab.intermediate.0] }
        let expired = try lab.leaf("expired", from: -400, until: -1)
        #expect(reasons(try lab.judged(chain(expired), trusting: lab.root.0)) == ["expired"])
        #expect(lab.opensslVerify(expired, untrusted: lab.intermediate.0, trusting: lab.root.0).contains("certificate has expired"))
        let early = try lab.leaf("early", from: 2, until: 400)
        #expect(reasons(try lab.judged(chain(early), trusting: lab.root.0)) == ["not_yet_valid"])
        #expect(lab.opensslVerify(early, untrusted: lab.intermediate.0, trusting: lab.root.0).contains("not yet valid"))

        // Below fail_days (7) fails when strict and warns when relaxed; below warn_days (21) warns.
        let soon = try lab.leaf("soon", until: 3.5)
        let strict = try lab.judged(chain(soon), trusting: lab.root.0)
        #expect(strict.map(\.reason) == ["expiring_soon"] && strict[0].status == .fail)
        #expect(strict[0].message.contains("expires in 3 day(s) (2030-06-04T12:00:00Z)"))
        var relaxed = TLSFaultJudge()
        relaxed.mode = .relaxed
        #expect(try lab.judged(chain(soon), trusting: lab.root.0, judge: relaxed).map(\.status) == [.warn])
        let later = try lab.leaf("later", until: 14)
        let warned = try lab.judged(chain(later), trusting: lab.root.0)
        #expect(warned.map(\.reason) == ["expiring_soon"] && warned[0].status == .warn)
        #expect(try lab.judged(chain(try lab.leaf("fine", until: 22)), trusting: lab.root.0).isEmpty)
    }

    @Test func trustFaults() throws {
        let lab = try Self.lab.get()
        let leaf = try lab.leaf("trust")
        // The intermediate sent, its root unknown: the chain ends in an untrusted root.
        let untrusted = try lab.judged([leaf, lab.intermediate.0], trusting: nil)
        #expect(reasons(untrusted) == ["untrusted_root"])
        #expect(untrusted[0].status == .fail)
        #expect(!lab.opensslVerify(leaf, untrusted: lab.intermediate.0, trusting: nil).contains(": OK"))
        // The leaf alone, the root trusted: the intermediate is missing.
        #expect(reasons(try lab.judged([leaf], trusting: lab.root.0)) == ["incomplete_chain"])
        #expect(lab.opensslVerify(leaf, untrusted: nil, trusting: lab.root.0).contains("unable to get local issuer certificate"))
        // A self-signed leaf.
        let selfSigned = try lab.pki.issue(
            "self", names: [Self.host], validFrom: Date(timeIntervalSince1970: Self.now - 86400),
            validUntil: Date(timeIntervalSince1970: Self.now + 86400 * 90), selfSign: true
        ).0
        #expect(reasons(try lab.judged([selfSigned], trusting: nil)) == ["self_signed"])
        #expect(lab.opensslVerify(selfSigned, untrusted: nil, trusting: nil).contains("self-signed"))
        var relaxed = TLSFaultJudge()
        relaxed.mode = .relaxed
        #expect(try lab.judged([selfSigned], trusting: nil, judge: relaxed).map(\.status) == [.warn])
    }

    @Test func anyOtherVerificationErrorIsChainInvalid() throws {
        let lab = try Self.lab.get()
        var node = TLSNodeReport(address: "127.0.0.1")
        node.chain = [try lab.certificate(try lab.leaf("invalid")), try lab.certificate(lab.intermediate.0)]
        // X509_V_ERR_CERT_SIGNATURE_FAILURE (7), as OpenSSL reports a tampered signature.
        let outcome = ChainVerifier.Outcome(
            faults: [ChainVerifier.Fault(code: 7, depth: 0, text: "certificate signature failure")], builtChain: node.chain)
        let faults = TLSFaultJudge().faults(of: node, outcome: outcome, host: Self.host, now: Self.now)
        #expect(reasons(faults) == ["chain_invalid"])
        #expect(faults[0].message.contains("certificate signature failure"))
    }

    @Test func namesAndChainLength() throws {
        let lab = try Self.lab.get()
        let other = try lab.leaf("other", names: ["other.lab.test"])
        let mismatch = try lab.judged([other, lab.intermediate.0], trusting: lab.root.0)
        #expect(reasons(mismatch) == ["hostname_mismatch"])
        #expect(mismatch[0].message.contains("other.lab.test"))
        // Eleven certificates: more than Java accepts; a warning even in strict mode.
        let long = try lab.judged([try lab.leaf("long")] + Array(repeating: lab.intermediate.0, count: 10), trusting: lab.root.0)
        #expect(long.map(\.reason).contains("chain_too_long"))
        #expect(long.first { $0.reason == "chain_too_long" }?.status == .warn)
    }

    @Test func strengthFaults() throws {
        let lab = try Self.lab.get()
        let sha1 = try lab.leaf("sha1", digest: "sha1")
        #expect(reasons(try lab.judged([sha1, lab.intermediate.0], trusting: lab.root.0)).contains("weak_signature"))
        let small = try lab.leaf("rsa1024", key: .rsa(1024))
        #expect(reasons(try lab.judged([small, lab.intermediate.0], trusting: lab.root.0)).contains("weak_key"))
        let legacy = try lab.judged([try lab.leaf("legacy"), lab.intermediate.0], trusting: lab.root.0, version: "TLSv1")
        #expect(reasons(legacy) == ["legacy_protocol"])
        var tls10 = TLSFaultJudge()
        tls10.minVersion = .tls10
        #expect(
            try lab.judged([try lab.leaf("legacy-ok"), lab.intermediate.0], trusting: lab.root.0, judge: tls10, version: "TLSv1").isEmpty)
    }

    @Test func handshakeAndAcrossNodes() throws {
        let lab = try Self.lab.get()
        let judge = TLSFaultJudge()
        #expect(judge.handshakeFailed("127.0.0.1", "timed out").reason == "handshake_failed")
        #expect(judge.noCertificate("127.0.0.1").reason == "handshake_failed")
        var a = TLSNodeReport(address: "127.0.0.1")
        a.chain = [try lab.certificate(try lab.leaf("node-a"))]
        var b = TLSNodeReport(address: "127.0.0.2")
        b.chain = [try lab.certificate(try lab.leaf("node-b"))]
        #expect(judge.acrossNodes([a, b], host: Self.host)?.reason == "cert_mismatch_across_nodes")
        #expect(judge.acrossNodes([a, a], host: Self.host) == nil)
        // The report takes the clock too: the summary's days are counted from it.
        let result = TLSReport(judge: judge).render([a], host: Self.host, includeDetails: false, now: Self.now)
        #expect(result.status == .pass)
        #expect(result.summary.contains("expires in 365 days"))
    }
}
