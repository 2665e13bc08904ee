import COpenSSL
import Foundation
import Synchronization

/// The process's trust stores by extra CA file, and the verdicts reached with them. Loading the
/// system bundle parses every public root, so each store is built once and shared:
/// X509_STORE is safe to use from several threads once built. A changed CA file is picked up
/// when its modification time changes, looked at no more than once a second.
public final class TrustStores: Sendable {
    let verdicts = VerdictCache()

    package init() {}

    private let stores = Mutex<[String: StoreEntry]>([:])

    private struct StoreEntry {
        var modified: Int?
        var checked: ContinuousClock.Instant
        var store: UnsafeSendable<OpaquePointer>
        /// Tells stores apart in the verdict cache (an address could be reused after a free).
        var generation: Int
    }
    private let generations = Atomic<Int>(0)

    /// The shared store for `caFile` (one reference for the caller to free) and its generation.
    func makeStore(caFile: String?) -> (OpaquePointer, Int)? {
        let key = caFile ?? ""
        let now = ContinuousClock.now
        return stores.withLock { cache -> (OpaquePointer, Int)? in
            // Within a second of the last look (or without a CA file) the store is taken as is.
            let recent = caFile == nil || cache[key].map { now - $0.checked < .seconds(1) } == true
            // stat, not FileManager: this runs on the probes' path.
            var info = stat()
            let modified =
                recent
                ? cache[key]?.modified
                : caFile.flatMap { stat($0, &info) == 0 ? info.st_mtim.tv_sec * 1_000_000_000 + info.st_mtim.tv_nsec : nil }
            if let entry = cache[key], entry.modified == modified {
                if !recent { cache[key]?.checked = now }
                X509_STORE_up_ref(entry.store.value)
                return (entry.store.value, entry.generation)
            }
            guard let store = X509_STORE_new() else { return nil }
            X509_STORE_set_default_paths(store)
            if let caFile, !ChainVerifier.addCertificates(from: caFile, to: store) {
                X509_STORE_free(store)
                return nil
            }
            if let old = cache[key] { X509_STORE_free(old.store.value) }
            let generation = generations.add(1, ordering: .relaxed).newValue
            cache[key] = StoreEntry(modified: modified, checked: now, store: UnsafeSendable(store), generation: generation)
            X509_STORE_up_ref(store)
            return (store, generation)
        }
    }
}
