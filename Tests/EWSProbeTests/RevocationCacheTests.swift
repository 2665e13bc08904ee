import Foundation
import Synchronization
import Testing

@testable import EWSProbeTransport

/// The revocation cache's sharing rules alone, with fetches that are closures (pure logic: the
/// fetches against real servers are in `RevocationTests`).
@Suite struct RevocationCacheTests {
    static let problem = RevocationProblem("test")

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func add() { value.add(1, ordering: .relaxed) }
        var count: Int { value.load(ordering: .relaxed) }
    }

    /// A thousand runs asking for one document at the same moment: one fetch, everyone served.
    @Test func oneFetchForManyWaiters() async {
        let cache = RevocationCache()
        let fetches = Counter()
        let now = Date().timeIntervalSince1970
        let served = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<1000 {
                group.addTask {
                    let found = await cache.document("crl http://x/a.crl", source: "crl", until: .now + .seconds(10), now: now) {
                        fetches.add()
                        try? await Task.sleep(for: .milliseconds(200))
                        return RevocationCache.Fetched(.failed(Self.problem), expires: now + 60)
                    }
                    return found != nil
                }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
        #expect(fetches.count == 1)
        #expect(served == 1000)
        #expect(cache.count == 1)
    }

    /// A waiter whose deadline passes goes on without the document; the fetch finishes and
    /// serves the next asker from the cache.
    @Test func waitersGiveUpAtTheirOwnDeadline() async throws {
        let cache = RevocationCache()
        let now = Date().timeIntervalSince1970
        let started = ContinuousClock.now
        let early = await cache.document("k", source: "crl", until: .now + .milliseconds(100), now: now) {
            try? await Task.sleep(for: .milliseconds(600))
            return RevocationCache.Fetched(.failed(Self.problem), expires: now + 60)
        }
        #expect(early == nil)
        #expect(ContinuousClock.now - started < .milliseconds(550))
        try await Task.sleep(for: .milliseconds(800))
        let later = await cache.document("k", source: "crl", until: .now + .milliseconds(100), now: now) {
            Issue.record("fetched again while a fresh entry was kept")
            return RevocationCache.Fetched(.failed(Self.problem), expires: now + 60)
        }
        #expect(later?.cached == true)
    }

    /// A deadline already past returns at once, and cancellation of the waiting run too.
    @Test func pastDeadlineAndCancellation() async {
        let cache = RevocationCache()
        let now = Date().timeIntervalSince1970
        let past = await cache.document("p", source: "ocsp", until: .now - .seconds(1), now: now) {
            try? await Task.sleep(for: .seconds(5))
            return RevocationCache.Fetched(.failed(Self.problem), expires: now + 60)
        }
        #expect(past == nil)
        let task = Task {
            await cache.document("c", source: "ocsp", until: .now + .seconds(30), now: now) {
                try? await Task.sleep(for: .seconds(5))
                return RevocationCache.Fetched(.failed(Self.problem), expires: now + 60)
            }
        }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value == nil)
    }

    /// An expired entry is fetched again.
    @Test func expiredEntriesAreFetchedAgain() async {
        let cache = RevocationCache()
        let fetches = Counter()
        let now = Date().timeIntervalSince1970
        for step in 0..<3 {
            _ = await cache.document("e", source: "crl", until: .now + .seconds(5), now: now + Double(step) * 100) {
                fetches.add()
                return RevocationCache.Fetched(.failed(Self.problem), expires: now + Double(step) * 100 + 50)
            }
        }
        #expect(fetches.count == 3)
    }
}
