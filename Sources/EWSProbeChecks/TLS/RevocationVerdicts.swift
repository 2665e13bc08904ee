import EWSProbeTransport
import Foundation
import Synchronization

/// The revocation findings on a chain, kept by the runtime for every target: a server presents
/// the same chain (and the same staple) run after run, and its certificates' states cannot
/// change before the documents they came from expire. Keyed like the chain verdicts
/// (`VerdictCache`): the chain's fingerprints, the staple's digest and the trust file. Only
/// findings that stand are kept (good, revoked, nothing to check), until the earliest
/// `nextUpdate` they rest on and ten minutes at most; an unknown state is looked up again.
final class RevocationVerdicts: Sendable {
    static let lifetime = 600.0
    static let maxEntries = 10_000

    private let entries = Mutex<[String: (findings: [CertificateRevocation], expires: Double)]>([:])

    static func key(_ chain: [Certificate], staple: [UInt8]?, caFile: String?) -> String {
        chain.map(\.sha256).joined(separator: ",") + " " + (staple.map(OCSPResponse.digest) ?? "-") + " " + (caFile ?? "")
    }

    func findings(for key: String, now: Double) -> [CertificateRevocation]? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return entry.findings
        }
    }

    func keep(_ findings: [CertificateRevocation], for key: String, now: Double) {
        var expires = now + Self.lifetime
        for finding in findings {
            switch finding.status {
            case .unknown: return
            case .good, .revoked, .notChecked: break
            }
            guard finding.staleStaple == nil else { return }
            if let next = finding.nextUpdate { expires = min(expires, next) }
        }
        guard expires > now else { return }
        entries.withLock { entries in
            if entries.count >= Self.maxEntries {
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= Self.maxEntries { entries.removeAll() }
            }
            entries[key] = (findings, expires)
        }
    }
}
