import Foundation
import Logging
import Synchronization
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The scheduler's own bookkeeping: a run that overruns its hard limit, the runs skipped while
/// it is in flight, and a stop that waits for the runs in flight. Scheduling is pure logic, so a
/// stand-in check plays the server that never lets go.
@Suite(.serialized) struct SchedulerTests {
    /// Ignores its deadline and cancellation alike: what the watchdog backstop exists for.
    struct StuckCheck: Check {
        static let name = "stuck"
        init() {}
        init(settings: YAMLSection) throws {}

        func run(_ ctx: ProbeContext) async -> CheckResult {
            // Not Task.sleep: that would end at cancellation.
            await withCheckedContinuation { continuation in
                DispatchQueue.global().asyncAfter(deadline: .now() + 6) { continuation.resume() }
            }
            return CheckResult(check: Self.name, status: .pass, summary: "answered late")
        }
    }

    static func skippedRuns(_ metrics: ExporterMetrics) -> Double {
        let line = metrics.registry.emitToString().split(separator: "\n")
            .first { $0.hasPrefix("ewsprobe_scheduler_skipped_runs_total ") }
        return line.flatMap { Double($0.split(separator: " ")[1]) } ?? -1
    }

    @Test func anOverrunIsRecordedSkipsAreCountedAndAStopWaits() async throws {
        let url = try #require(EndpointURL("https://stuck.lab.test/EWS/Exchange.asmx"))
        let target = TargetConfig(
            name: "stuck", url: url, module: ModuleConfig(name: "stuck", checks: [StuckCheck()]), interval: .seconds(1),
            timeout: .seconds(1))
        let store = ResultStore()
        let metrics = ExporterMetrics()
        let scheduler = Scheduler(
            config: ProbeConfig(targets: [target]), store: store, runner: ProbeRunner(runtime: .test), metrics: metrics,
            logger: Logger(label: "test"))
        let running = Task { await scheduler.run() }

        // The first run starts within a second (its offset in the interval) and is cut off at
        // timeout + 1 s (the watchdog looks four times a second); the run due meanwhile is skipped.
        try await Task.sleep(for: .seconds(4.5))
        let latest = try #require(store.target(named: "stuck")?.latest)
        #expect(latest.timedOut)
        #expect(latest.checks.map(\.check) == ["probe"])
        #expect(latest.checks.map(\.reason) == ["probe_timeout"])
        #expect(Self.skippedRuns(metrics) >= 1)

        // A run is in flight and ignores cancellation: the stop waits for its backstop (at most
        // 2.25 s), not for the check (6 s), and the cancelled run is not recorded.
        let runs = try #require(store.target(named: "stuck")).runs
        let stop = ContinuousClock.now
        running.cancel()
        await running.value
        #expect(ContinuousClock.now - stop < .seconds(3.5))
        try await Task.sleep(for: .seconds(1))
        #expect(try #require(store.target(named: "stuck")).runs == runs, "nothing is recorded once stopping")
    }

    /// The dispatcher thread: each entry fires in turn, never before it is due, re-queued at its
    /// interval; a stop ends it at once (also one asked for before it started) and nothing fires after.
    @Test func dispatcherFiresOnScheduleAndStops() async throws {
        var queue = DueQueue()
        let start = ContinuousClock.now
        queue.push(start + .milliseconds(30), 0)
        queue.push(start + .milliseconds(10), 1)
        let fired = Mutex<[(index: Int, late: Duration)]>([])
        let dispatcher = Dispatcher()
        let running = Task {
            await dispatcher.run(queue, interval: { .milliseconds($0 == 0 ? 100 : 50) }) { due, index in
                fired.withLock { $0.append((index, ContinuousClock.now - due)) }
            }
        }
        try await Task.sleep(until: start + .milliseconds(480))
        let stop = ContinuousClock.now
        dispatcher.stop()
        await running.value
        #expect(ContinuousClock.now - stop < .seconds(1))
        let seen = fired.withLock { $0 }
        #expect(seen.allSatisfy { $0.late >= .zero }, "\(seen)")
        // Due at 10, 60, 110, ... ms and at 30, 130, ... ms, up to the stop (a late wake-up of
        // this task lets more come due): never more than came due, at most two fewer.
        let elapsed = (stop - start).seconds * 1000
        func due(first: Double, every: Double) -> Int { elapsed > first ? Int(((elapsed - first) / every).rounded(.up)) : 0 }
        let ones = seen.filter { $0.index == 1 }.count
        let zeros = seen.filter { $0.index == 0 }.count
        #expect((due(first: 10, every: 50) - 2...due(first: 10, every: 50)).contains(ones), "\(elapsed) ms: \(seen)")
        #expect((due(first: 30, every: 100) - 2...due(first: 30, every: 100)).contains(zeros), "\(elapsed) ms: \(seen)")
        try await Task.sleep(for: .milliseconds(150))
        #expect(fired.withLock { $0.count } == seen.count, "nothing fires after the stop")

        let early = Dispatcher()
        early.stop()
        await early.run(queue, interval: { _ in .milliseconds(1) }) { _, _ in Issue.record("fired after a stop") }
    }

    /// Waves: everything due within a wave fires together at the wave's end (the instant `fire`
    /// is given), never before it is due, and each entry keeps its own period.
    @Test func dispatcherFiresInWaves() async throws {
        var queue = DueQueue()
        let start = ContinuousClock.now
        queue.push(start + .milliseconds(10), 0)
        queue.push(start + .milliseconds(40), 1)
        queue.push(start + .milliseconds(130), 2)
        let fired = Mutex<[(index: Int, wave: Int, late: Duration)]>([])
        let dispatcher = Dispatcher()
        let running = Task {
            await dispatcher.run(queue, wave: .milliseconds(100), origin: start, interval: { _ in .milliseconds(300) }) { at, index in
                let wave = Int(((at - start).seconds * 1000).rounded())
                fired.withLock { $0.append((index, wave, ContinuousClock.now - at)) }
            }
        }
        try await Task.sleep(until: start + .milliseconds(560))
        dispatcher.stop()
        await running.value
        let seen = fired.withLock { $0 }
        // Due at 10, 310 (0); 40, 340 (1); 130, 430 (2): the waves ending at 100, 200, 400 and 500 ms.
        let expected = [(0, 100), (1, 100), (2, 200), (0, 400), (1, 400), (2, 500)]
        #expect(seen.count >= 4 && seen.count <= expected.count, "\(seen)")
        #expect(zip(seen, expected).allSatisfy { $0.index == $1.0 && $0.wave == $1.1 }, "\(seen)")
        #expect(seen.allSatisfy { $0.late >= .zero }, "\(seen)")
    }

    @Test func wavesAreOnTheGridAndNeverEarly() {
        let origin = ContinuousClock.now
        let wave = Duration.milliseconds(500)
        func end(_ ms: Int) -> Duration {
            Dispatcher.waveEnd(containing: origin + .milliseconds(ms), length: wave, origin: origin) - origin
        }
        #expect(end(1) == .milliseconds(500))
        #expect(end(500) == .milliseconds(500))
        #expect(end(501) == .seconds(1))
        #expect(end(60_250) == .milliseconds(60_500))
        #expect(Dispatcher.waveEnd(containing: origin + .milliseconds(7), length: .zero, origin: origin) == origin + .milliseconds(7))
        #expect(Dispatcher.waveEnd(containing: origin - .seconds(1), length: wave, origin: origin) == origin - .seconds(1))
    }

    /// 500 ms waves at most, at most half the shortest interval so a target never comes due twice
    /// in one, and about 32 runs in a wave.
    @Test func aWaveIsHalfTheShortestIntervalAtMost() throws {
        let url = try #require(EndpointURL("https://mail.lab.test/EWS/Exchange.asmx"))
        func target(_ interval: Duration) -> TargetConfig {
            TargetConfig(name: "t", url: url, module: ModuleConfig(name: "m", checks: []), interval: interval, timeout: .seconds(1))
        }
        #expect(Scheduler.wave(for: [target(.seconds(60)), target(.seconds(30))]) == .milliseconds(500))
        #expect(Scheduler.wave(for: [target(.seconds(60)), target(.milliseconds(400))]) == .milliseconds(200))
        #expect(Scheduler.wave(for: []) == .zero)
        // 10,000 targets at 60 s: 167 runs a second, 32 of them in 192 ms.
        let fleet = Array(repeating: target(.seconds(60)), count: 10_000)
        #expect(Scheduler.wave(for: fleet) == .milliseconds(192))
    }
}
