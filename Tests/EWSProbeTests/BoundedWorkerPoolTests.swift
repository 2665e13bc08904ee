import Foundation
import Synchronization
import Testing

@testable import EWSProbeCore

/// The blocking pool: as many threads as jobs in flight (up to its limit), a refusal past the
/// queue limit, and threads that end once idle and start again when work comes back.
@Suite(.serialized) struct BoundedWorkerPoolTests {
    final class Shared<Value: Sendable>: Sendable {
        let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        var current: Value { value.withLock { $0 } }
    }

    /// The names of this process's threads that begin with `prefix` (/proc/self/task/*/comm).
    static func threads(named prefix: String) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let comm = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
            return comm.hasPrefix(prefix)
        }.count
    }

    /// Eight jobs that each wait until all eight run: they finish only if eight threads hold
    /// them at once (no job waits for another's thread).
    static func runTogether(_ pool: BoundedWorkerPool, count: Int) async -> [Int?] {
        let arrived = Shared(0)
        return await withTaskGroup(of: Int?.self) { group in
            for index in 0..<count {
                group.addTask {
                    await pool.run {
                        arrived.value.withLock { $0 += 1 }
                        for _ in 0..<2000 where arrived.current < count { usleep(5000) }
                        return arrived.current >= count ? index : -1
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func aThreadPerJobInFlightThenNone() async throws {
        let pool = BoundedWorkerPool(name: "ews-ptest", threads: 8, queueLimit: 64, idleExit: .milliseconds(200))
        #expect(Self.threads(named: "ews-ptest") == 0)
        let first = await Self.runTogether(pool, count: 8)
        #expect(first.compactMap { $0 }.sorted() == Array(0..<8), "a job waited for another's thread")
        for _ in 0..<200 where Self.threads(named: "ews-ptest") > 0 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(Self.threads(named: "ews-ptest") == 0, "idle threads outlived their minute")
        // Work after the threads ended starts new ones.
        let again = await Self.runTogether(pool, count: 8)
        #expect(again.compactMap { $0 }.filter { $0 >= 0 }.count == 8)
    }

    @Test func aFullQueueRefusesAtOnce() async throws {
        let pool = BoundedWorkerPool(name: "ews-qtest", threads: 1, queueLimit: 2)
        let release = Shared(false)
        let results = await withTaskGroup(of: Int?.self) { group in
            for index in 0..<6 {
                group.addTask {
                    await pool.run {
                        for _ in 0..<2000 where !release.current { usleep(1000) }
                        return index
                    }
                }
            }
            // The refusals come back while the first job still holds the only thread.
            var refused = 0
            var done: [Int?] = []
            for await result in group {
                done.append(result)
                if result == nil { refused += 1 }
                if refused == 3 { release.value.withLock { $0 = true } }
            }
            return done
        }
        // Two wait in the queue, and the one the thread took if it took it before the rest came.
        let refused = results.filter { $0 == nil }.count
        #expect((3...4).contains(refused))
        #expect(results.compactMap { $0 }.count == 6 - refused)
    }
}
