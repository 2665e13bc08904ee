import Synchronization

/// The last passing result of each check that runs less often than its target
/// (`check_intervals`), kept by the runtime so the scheduler's runs in between carry it with its
/// age instead of measuring again. Keyed by target, URL, module and check, and forgotten when a
/// configuration is applied, so a changed one measures afresh. Bounded: an entry older than a day is dropped when the memory
/// is full, and a full memory of fresh entries is cleared.
public final class CheckMemory: Sendable {
    static let maxEntries = 50_000

    public init() {}

    private let entries = Mutex<[String: (result: CheckResult, at: Double, share: Double)]>([:])

    static func key(_ target: TargetConfig, check: String) -> String {
        target.name + "\n" + target.endpoint.description + "\n" + target.module.name + "\n" + check
    }

    /// The result kept for `key` when it is younger than `every` (the first verdict of a key: its
    /// share of `every`), with its age.
    func recent(_ key: String, every: Duration, now: Double) -> (result: CheckResult, age: Double)? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            let age = now - entry.at
            guard age >= 0, age < every.seconds * entry.share else { return nil }
            return (entry.result, age)
        }
    }

    /// Keeps what a carried verdict shows (status, reason, summary, measurements), not its JSON
    /// details, notes or trace: `carried` writes its own trace line, and the store drops a run's
    /// details and notes anyway. `lb_affinity`'s census and legs are most of a result, and
    /// 10,000 of them were 90 MB.
    func keep(_ result: CheckResult, for key: String, now: Double) {
        var result = result
        result.details = []
        result.trace = []
        result.notes = []
        entries.withLock { entries in
            if entries.count >= Self.maxEntries {
                entries = entries.filter { now - $0.value.at < 86400 }
                if entries.count >= Self.maxEntries { entries.removeAll() }
            }
            // The first verdict of a key (after a start, a reload or a failure) is carried for a
            // share of the interval fixed per key: a fleet that measured together at its first
            // runs then measures again spread over the interval, not all together at its end.
            entries[key] = (result, now, entries[key] == nil ? Self.firstShare(key) : 1)
        }
    }

    /// Between 0.001 and 1, the same for a key on every start.
    static func firstShare(_ key: String) -> Double {
        Double(StableHash.fnv1a(key) % 1000 + 1) / 1000
    }

    /// A new configuration measures every carried check afresh (its settings, credentials or
    /// routes may have changed under the same names).
    public func forgetAll() {
        entries.withLock { $0.removeAll() }
    }

    func forget(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }
}
