import Foundation
import Synchronization

/// The process's CRLs and OCSP responses, shared by every target: each kept until the time its
/// fetcher gave (the document's `nextUpdate`), each fetched once even when a thousand targets
/// need it at the same moment. The first to ask starts the fetch, which runs on its own (not in
/// that target's run, so the run's end does not cancel it); everyone waits for it within their
/// own deadline and goes on without it past that. A failed fetch is kept too, for a minute, so
/// a silent distribution point shared by a fleet costs one wait per minute, not one per target.
public final class RevocationCache: Sendable {
    /// What a fetch produced: a CRL, an OCSP response as judged for its one certificate, or
    /// why there is none.
    public enum Document: Sendable {
        case crl(CRLDocument)
        case ocsp(Result<RevocationAnswer, RevocationProblem>)
        case failed(RevocationProblem)

        var byteCount: Int {
            switch self {
            case .crl(let crl): crl.byteCount
            case .ocsp, .failed: 256
            }
        }
    }

    /// A fetch's result and until when (wall clock, seconds since 1970) it may be used.
    public struct Fetched: Sendable {
        public var document: Document
        public var expires: Double
        public init(_ document: Document, expires: Double) {
            self.document = document
            self.expires = expires
        }
    }

    /// For the exporter's own metrics.
    public enum Event: Sendable {
        case fetched(source: String, seconds: Double)
        case entries(Int)
    }

    /// How long a failed fetch stands before the next run tries again.
    public static let failureLifetime = 60.0
    /// Bounds that hold whatever the certificates name.
    static let maxEntries = 4096
    static let maxBytes = 64 * 1024 * 1024

    private struct State {
        var ready: [String: (fetched: Fetched, order: UInt64)] = [:]
        var pending: [String: Pending] = [:]
        var bytes = 0
        var order: UInt64 = 0
    }
    private let state = Mutex(State())
    private let observer = Mutex<(@Sendable (Event) -> Void)?>(nil)

    public init() {}

    /// Calls `handler` after each fetch and each change of the entry count.
    public func observe(_ handler: @escaping @Sendable (Event) -> Void) {
        observer.withLock { $0 = handler }
    }

    public var count: Int { state.withLock { $0.ready.count } }

    /// The cached document for `key`, or the one `fetch` produces: nil when it is not there by
    /// `deadline` (the fetch goes on and serves whoever asks next). `fresh` is false when the
    /// answer came from the cache.
    public func document(
        _ key: String, source: String, until deadline: ContinuousClock.Instant, now: Double,
        fetch: @escaping @Sendable () async -> Fetched
    ) async -> (fetched: Fetched, cached: Bool)? {
        enum Step {
            case hit(Fetched)
            case wait(Pending, start: Bool)
        }
        let step = state.withLock { state -> Step in
            if let entry = state.ready[key], entry.fetched.expires > now { return .hit(entry.fetched) }
            if let pending = state.pending[key] { return .wait(pending, start: false) }
            let pending = Pending()
            state.pending[key] = pending
            return .wait(pending, start: true)
        }
        switch step {
        case .hit(let fetched): return (fetched, true)
        case .wait(let pending, let start):
            if start {
                Task.detached {
                    let began = ContinuousClock.now
                    let fetched = await fetch()
                    self.finish(key, fetched, pending)
                    self.emit(.fetched(source: source, seconds: (ContinuousClock.now - began).seconds))
                }
            }
            return await pending.wait(until: deadline).map { ($0, false) }
        }
    }

    private func finish(_ key: String, _ fetched: Fetched, _ pending: Pending) {
        let count = state.withLock { state -> Int in
            state.pending[key] = nil
            if let old = state.ready.removeValue(forKey: key) { state.bytes -= old.fetched.document.byteCount }
            state.order += 1
            state.ready[key] = (fetched, state.order)
            state.bytes += fetched.document.byteCount
            evict(&state, now: Date().timeIntervalSince1970)
            return state.ready.count
        }
        pending.finish(fetched)
        emit(.entries(count))
    }

    /// Expired entries first, then the oldest, until both bounds hold.
    private func evict(_ state: inout State, now: Double) {
        guard state.ready.count > Self.maxEntries || state.bytes > Self.maxBytes else { return }
        for (key, entry) in state.ready where entry.fetched.expires <= now {
            state.ready[key] = nil
            state.bytes -= entry.fetched.document.byteCount
        }
        let oldest = state.ready.sorted { $0.value.order < $1.value.order }.map(\.key)
        for key in oldest where state.ready.count > Self.maxEntries || state.bytes > Self.maxBytes {
            state.bytes -= state.ready[key]?.fetched.document.byteCount ?? 0
            state.ready[key] = nil
        }
    }

    private func emit(_ event: Event) {
        observer.withLock { $0 }?(event)
    }

    /// One fetch in flight and the runs waiting for it, each with its own deadline.
    final class Pending: Sendable {
        private struct Waiting {
            var result: Fetched?
            var waiters: [UInt64: CheckedContinuation<Fetched?, Never>] = [:]
            var next: UInt64 = 0
            /// Given up before they began waiting (a deadline already past, a cancelled run).
            var abandoned: Set<UInt64> = []
        }
        private let waiting = Mutex(Waiting())

        func finish(_ fetched: Fetched) {
            let waiters = waiting.withLock { state in
                state.result = fetched
                defer { state.waiters = [:] }
                return Array(state.waiters.values)
            }
            for waiter in waiters { waiter.resume(returning: fetched) }
        }

        func wait(until deadline: ContinuousClock.Instant) async -> Fetched? {
            let id = waiting.withLock { state -> UInt64 in
                state.next += 1
                return state.next
            }
            // Resumed by the fetch, by the deadline or by cancellation, whichever comes first.
            let timer = Task {
                try? await Task.sleep(until: deadline, clock: .continuous)
                self.giveUp(id)
            }
            defer { timer.cancel() }
            return await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Fetched?, Never>) in
                    let early = waiting.withLock { state -> Fetched?? in
                        if let result = state.result { return .some(result) }
                        if state.abandoned.remove(id) != nil { return .some(nil) }
                        state.waiters[id] = continuation
                        return nil
                    }
                    if let early { continuation.resume(returning: early) }
                }
            } onCancel: {
                giveUp(id)
            }
        }

        private func giveUp(_ id: UInt64) {
            let waiter = waiting.withLock { state -> CheckedContinuation<Fetched?, Never>? in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    if state.result == nil { state.abandoned.insert(id) }
                    return nil
                }
                return waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
