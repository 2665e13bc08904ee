import Synchronization

/// Verification verdicts already reached, by presented chain and trust store. A server presents
/// the same chain run after run, and verifying it again costs a signature check per certificate
/// per certificate, so a verdict is reused for up to ten minutes, as browsers' verifier
/// caches do. It is never reused past a moment that could change it: the first `notAfter` in the
/// chain OpenSSL built, a `notBefore` still ahead, or a new trust store (the CA file changed).
final class VerdictCache: Sendable {
    static let lifetime = 600.0
    /// Past this many verdicts the expired ones go, and all of them if none had expired.
    static let capacity = 50_000

    /// One certificate of the built chain: a presented one by position, or one from the store.
    private enum Link {
        case presented(Int)
        case stored(Certificate)
    }

    private struct Verdict {
        var faults: [ChainVerifier.Fault]
        var built: [Link]
        var expires: Double
    }

    private struct State {
        var verdicts: [String: Verdict] = [:]
        /// Store certificates (roots, mostly) once, however many verdicts name them.
        var stored: [String: Certificate] = [:]
    }
    private let state = Mutex(State())

    /// The presented chain's fingerprints and the store's generation.
    static func key(_ chain: [Certificate], storeGeneration: Int) -> String {
        var key = String(storeGeneration)
        for certificate in chain {
            key += ":"
            key += certificate.sha256
        }
        return key
    }

    func outcome(for key: String, chain: [Certificate], now: Double) -> ChainVerifier.Outcome? {
        guard let verdict = state.withLock({ $0.verdicts[key] }), verdict.expires > now else { return nil }
        var built: [Certificate] = []
        for link in verdict.built {
            switch link {
            case .presented(let index):
                guard index < chain.count else { return nil }
                built.append(chain[index])
            case .stored(let certificate):
                built.append(certificate)
            }
        }
        return ChainVerifier.Outcome(faults: verdict.faults, builtChain: built)
    }

    func keep(_ outcome: ChainVerifier.Outcome, for key: String, chain: [Certificate], now: Double) {
        var expires = now + Self.lifetime
        for certificate in outcome.builtChain + chain {
            expires = min(expires, certificate.notAfter)
            if certificate.notBefore > now { expires = min(expires, certificate.notBefore) }
        }
        guard expires > now else { return }
        state.withLock { state in
            if state.verdicts.count >= Self.capacity {
                state.verdicts = state.verdicts.filter { $0.value.expires > now }
                if state.verdicts.count >= Self.capacity { state.verdicts.removeAll() }
                state.stored.removeAll()
            }
            // Presented certificates by position: a verdict holds no copy of the handshake's.
            let built = outcome.builtChain.map { certificate -> Link in
                if let index = chain.firstIndex(where: { $0.sha256 == certificate.sha256 }) { return .presented(index) }
                if let known = state.stored[certificate.sha256] { return .stored(known) }
                state.stored[certificate.sha256] = certificate
                return .stored(certificate)
            }
            state.verdicts[key] = Verdict(faults: outcome.faults, built: built, expires: expires)
        }
    }
}
