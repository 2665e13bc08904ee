import COpenSSL
import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// Reused verification verdicts: the same answer as a fresh verification, never one that a
/// changed CA file or a passed expiry date could have changed. `openssl verify` is the oracle.
@Suite(.serialized) struct VerdictCacheTests {
    func chain(_ files: [URL]) throws -> [Certificate] {
        try files.flatMap { Certificate.parseAll(pem: try String(contentsOf: $0, encoding: .utf8)) }
    }

    /// The verdict the cache holds for `chain` against `caFile`'s current store, if any.
    func cached(_ chain: [Certificate], caFile: String) throws -> ChainVerifier.Outcome? {
        let (store, generation) = try #require(ProbeRuntime.test.trust.makeStore(caFile: caFile))
        X509_STORE_free(store)
        let key = VerdictCache.key(chain, storeGeneration: generation)
        return ProbeRuntime.test.trust.verdicts.outcome(for: key, chain: chain, now: Date().timeIntervalSince1970)
    }

    @Test func aReusedVerdictIsTheFreshOne() throws {
        let pki = try TestPKI(name: "verdict")
        let (leaf, _) = try pki.leaf("reused", names: ["mail.lab.test"])
        let chain = try chain([leaf])
        let first = ProbeRuntime.test.verifier(caFile: pki.caPEM.path).verify(chain)
        let kept = try #require(try cached(chain, caFile: pki.caPEM.path))
        let again = ProbeRuntime.test.verifier(caFile: pki.caPEM.path).verify(chain)
        // A pinned time never goes through the cache.
        let fresh = ProbeRuntime.test.verifier(caFile: pki.caPEM.path, time: Date().timeIntervalSince1970).verify(chain)
        for outcome in [first, kept, again, fresh] {
            #expect(outcome.trusted)
            #expect(outcome.builtChain.map(\.sha256) == fresh.builtChain.map(\.sha256))
            #expect(outcome.builtChain.last?.subjectCN == "ewsprobe test root")
        }
        #expect(try TestPKI.openssl(["verify", "-CAfile", pki.caPEM.path, leaf.path]).contains("OK"))
    }

    @Test func aChangedCAFileGetsAFreshVerdict() async throws {
        let trusted = try TestPKI(name: "verdict-a")
        let other = try TestPKI(name: "verdict-b")
        let (leaf, _) = try trusted.leaf("moved", names: ["mail.lab.test"])
        let chain = try chain([leaf])
        let caFile = trusted.directory.appendingPathComponent("watched-ca.pem")
        try Data(contentsOf: trusted.caPEM).write(to: caFile)
        #expect(ProbeRuntime.test.verifier(caFile: caFile.path).verify(chain).trusted)
        #expect(try cached(chain, caFile: caFile.path) != nil)

        try Data(contentsOf: other.caPEM).write(to: caFile)
        // The CA file is looked at again at most once a second.
        try await Task.sleep(for: .milliseconds(1100))
        let after = ProbeRuntime.test.verifier(caFile: caFile.path).verify(chain)
        #expect(!after.trusted)
        #expect(after.faults.contains { $0.code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY })
        #expect(throws: (any Error).self) { try TestPKI.openssl(["verify", "-CAfile", caFile.path, leaf.path]) }
    }

    @Test func anExpiredChainIsNotKept() throws {
        let pki = try TestPKI(name: "verdict-x")
        let (leaf, _) = try pki.issue(
            "expired", names: ["mail.lab.test"], validFrom: Date().addingTimeInterval(-2 * 86400),
            validUntil: Date().addingTimeInterval(-3600))
        let chain = try chain([leaf])
        let outcome = ProbeRuntime.test.verifier(caFile: pki.caPEM.path).verify(chain)
        #expect(outcome.faults.contains { $0.code == X509_V_ERR_CERT_HAS_EXPIRED })
        #expect(try cached(chain, caFile: pki.caPEM.path) == nil)
        #expect(throws: (any Error).self) { try TestPKI.openssl(["verify", "-CAfile", pki.caPEM.path, leaf.path]) }
    }

    @Test func aVerdictEndsAtTheFirstExpiryInTheChain() throws {
        let pki = try TestPKI(name: "verdict-soon")
        // Valid for another five seconds: the verdict may live that long, not ten minutes.
        let (leaf, _) = try pki.issue("soon", names: ["mail.lab.test"], validUntil: Date().addingTimeInterval(5))
        let chain = try chain([leaf])
        #expect(ProbeRuntime.test.verifier(caFile: pki.caPEM.path).verify(chain).trusted)
        let (store, generation) = try #require(ProbeRuntime.test.trust.makeStore(caFile: pki.caPEM.path))
        X509_STORE_free(store)
        let key = VerdictCache.key(chain, storeGeneration: generation)
        let now = Date().timeIntervalSince1970
        #expect(ProbeRuntime.test.trust.verdicts.outcome(for: key, chain: chain, now: now) != nil)
        #expect(ProbeRuntime.test.trust.verdicts.outcome(for: key, chain: chain, now: now + 10) == nil)
    }
}
