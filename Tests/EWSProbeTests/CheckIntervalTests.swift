import Foundation
import Synchronization
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// `check_intervals`: a check that runs less often than its target carries its last passing
/// verdict, with its age, between its own runs — in the scheduler's runs only.
@Suite struct CheckIntervalTests {
    /// Counts its runs; passes or fails as told.
    struct CountingCheck: Check {
        static let name = "counting"
        static let runs = Mutex(0)
        static let failing = Mutex(false)
        init() {}
        init(settings: YAMLSection) throws {}
        func run(_ ctx: ProbeContext) async -> CheckResult {
            Self.runs.withLock { $0 += 1 }
            let fail = Self.failing.withLock { $0 }
            var result = CheckResult(
                check: Self.name, status: fail ? .fail : .pass, reason: fail ? "broken" : nil, summary: fail ? "broken" : "fine")
            result.measurements.append(Measurement("ewsprobe_counting_value", 7, help: "A value."))
            return result
        }
    }

    static func target(every: Duration?) -> TargetConfig {
        var module = ModuleConfig(name: "m", checks: [CountingCheck()])
        module.checkIntervals = every.map { [CountingCheck.name: $0] } ?? [:]
        var target = TargetConfig(
            name: "t-\(UUID().uuidString.prefix(6))", url: EndpointURL("https://192.0.2.1/EWS/Exchange.asmx")!, module: module)
        target.interval = .seconds(60)
        return target
    }

    @Test func aPassingVerdictIsCarriedWithItsAge() async {
        CountingCheck.failing.withLock { $0 = false }
        let runtime = ProbeRuntime()
        let scheduled = ProbeRunner(runtime: runtime, includeDetails: false, reuseRecentResults: true)
        let target = Self.target(every: .seconds(600))
        let before = CountingCheck.runs.withLock { $0 }
        let first = await scheduled.run(target)
        let second = await scheduled.run(target)
        #expect(CountingCheck.runs.withLock { $0 } == before + 1, "the second run carried the verdict")
        let carried = second.checks[0]
        #expect(carried.status == .pass)
        #expect(carried.summary.contains("measured under a minute ago; every 10m"), "\(carried.summary)")
        #expect(carried.measurements.contains { $0.name == "ewsprobe_counting_value" && $0.value == 7 })
        let age = carried.measurements.first { $0.name == "ewsprobe_check_result_age_seconds" }
        #expect(age != nil && age!.value >= 0 && age!.value < 5)
        #expect(first.checks[0].measurements.first { $0.name == "ewsprobe_check_result_age_seconds" }?.value == 0)
        // probe and /probe always measure.
        _ = await ProbeRunner(runtime: runtime).run(target)
        #expect(CountingCheck.runs.withLock { $0 } == before + 2)
    }

    /// What probe and /probe measured is never carried by the scheduler (it may hold details, or
    /// come from an ad-hoc URL's target of the same name).
    @Test func onDemandRunsLeaveTheMemoryAlone() async {
        CountingCheck.failing.withLock { $0 = false }
        let runtime = ProbeRuntime()
        let target = Self.target(every: .seconds(600))
        let before = CountingCheck.runs.withLock { $0 }
        let onDemand = await ProbeRunner(runtime: runtime).run(target)
        #expect(!onDemand.checks[0].measurements.contains { $0.name == "ewsprobe_check_result_age_seconds" })
        _ = await ProbeRunner(runtime: runtime, includeDetails: false, reuseRecentResults: true).run(target)
        #expect(CountingCheck.runs.withLock { $0 } == before + 2, "the scheduled run measured")
        // And a new configuration forgets what the scheduler kept.
        runtime.store.value(CheckMemory.self) { CheckMemory() }.forgetAll()
        _ = await ProbeRunner(runtime: runtime, includeDetails: false, reuseRecentResults: true).run(target)
        #expect(CountingCheck.runs.withLock { $0 } == before + 3)
    }

    @Test func aFailureIsMeasuredAgainEachRun() async {
        let runtime = ProbeRuntime()
        let scheduled = ProbeRunner(runtime: runtime, includeDetails: false, reuseRecentResults: true)
        let target = Self.target(every: .seconds(600))
        CountingCheck.failing.withLock { $0 = true }
        defer { CountingCheck.failing.withLock { $0 = false } }
        let before = CountingCheck.runs.withLock { $0 }
        _ = await scheduled.run(target)
        let second = await scheduled.run(target)
        #expect(CountingCheck.runs.withLock { $0 } == before + 2)
        #expect(second.checks[0].reason == "broken")
    }

    @Test func anIntervalNoLongerThanTheTargetsRunsEveryTime() async {
        CountingCheck.failing.withLock { $0 = false }
        let scheduled = ProbeRunner(runtime: ProbeRuntime(), includeDetails: false, reuseRecentResults: true)
        let target = Self.target(every: .seconds(60))
        let before = CountingCheck.runs.withLock { $0 }
        _ = await scheduled.run(target)
        let second = await scheduled.run(target)
        #expect(CountingCheck.runs.withLock { $0 } == before + 2)
        #expect(!second.checks[0].measurements.contains { $0.name == "ewsprobe_check_result_age_seconds" })
    }

    @Test func configurationSetsAndChecksThem() throws {
        let config = try ConfigLoader.load(
            yaml: """
                modules:
                  everyRun: {checks: [dns, lb_affinity], check_intervals: {lb_affinity: 1m}}
                  often: {checks: [dns, lb_affinity, tls], check_intervals: {tls: 5m}}
                targets:
                  - {url: "https://a.example.com/EWS/Exchange.asmx", module: everyRun}
                """, name: "ci.yml", registry: .builtin)
        #expect(config.modules["everyRun"]?.checkIntervals["lb_affinity"] == .seconds(60))
        #expect(config.modules["often"]?.checkIntervals == ["lb_affinity": .seconds(600), "tls": .seconds(300)])
        #expect(CheckRegistry.builtin.defaultModule(for: .ews).checkIntervals["lb_affinity"] == .seconds(600))
        let error = #expect(throws: ConfigError.self) {
            try ConfigLoader.load(yaml: "modules:\n  m:\n    check_intervals: {teleport: 5m}\n", name: "bad.yml", registry: .builtin)
        }
        #expect(error?.line == 3 && error?.description.contains("unknown check") == true, "\(String(describing: error))")
    }

    /// The first verdict of a key is carried for its share of the interval, later ones for the
    /// whole: a fleet's re-measurements spread over the interval instead of coming due together.
    @Test func theFirstVerdictIsCarriedForItsShareOfTheInterval() {
        let memory = CheckMemory()
        let every = Duration.seconds(600)
        let keys = (0..<200).map { "t\($0)\nhttps://mail.example.com/EWS/Exchange.asmx\nm\nlb_affinity" }
        let result = CheckResult(check: "lb_affinity", status: .pass, summary: "sticky")
        for key in keys { memory.keep(result, for: key, now: 1000) }
        for key in keys {
            let share = CheckMemory.firstShare(key)
            #expect(share > 0 && share <= 1)
            #expect(memory.recent(key, every: every, now: 1000 + 600 * share - 0.5) != nil || share * 600 < 0.5)
            #expect(memory.recent(key, every: every, now: 1000 + 600 * share + 0.5) == nil)
        }
        // Spread: each tenth of the interval holds some of the 200 first re-measurements.
        let tenths = Set(keys.map { Int(CheckMemory.firstShare($0) * 10 - 1e-9) })
        #expect(tenths.count == 10, "\(tenths.sorted())")
        // Measured again: the whole interval from then on.
        memory.keep(result, for: keys[0], now: 2000)
        #expect(memory.recent(keys[0], every: every, now: 2599) != nil)
        #expect(memory.recent(keys[0], every: every, now: 2601) == nil)
    }
}
