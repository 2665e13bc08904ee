import Foundation
import Synchronization

/// The latest results of every target, the counters about them, their rendered `/metrics`
/// series and a short history for the status page. The scheduler writes; scrapes and pages only
/// read.
///
/// Memory is what limits a large fleet, so the store keeps only what is read back: the latest
/// report without its JSON details, measurements and traces (those live on in the rendered series
/// and the run's text), a one-line summary of the older runs, and their text reports within a
/// byte budget shared by all targets (the newest runs keep theirs first).
public final class ResultStore: Sendable {
    public static let historyLength = 10
    /// Bytes of older runs' traces kept over all targets.
    public static let defaultTraceBudget = 4 << 20

    /// One earlier run, as the status page shows it.
    /// 40 bytes: 10 per target at 10,000 targets is 100,000 of them.
    public struct RunRecord: Sendable {
        public var startedAt: Double
        /// Float precision (microseconds for a minute) and, beside the status, 8 bytes not 16.
        private var duration: Float
        public var status: CheckStatus
        /// The checks that did not pass, as `check=reason`.
        public var reasons: [String]
        /// The run's text report with its traces (one string: far smaller than the report's
        /// many small strings); nil when it fell out of the budget (never for the latest run).
        public var textReport: String?

        public var durationSeconds: Double { Double(duration) }

        init(startedAt: Double, durationSeconds: Double, status: CheckStatus, reasons: [String], textReport: String?) {
            self.startedAt = startedAt
            duration = Float(durationSeconds)
            self.status = status
            self.reasons = reasons
            self.textReport = textReport
        }
    }

    /// One target as the status page reads it: its configuration and its results.
    public struct TargetState: Sendable {
        public var target: TargetConfig
        public var latest: ProbeReport? { results.latest }
        /// Oldest first; the last record is the latest run.
        public var history: [RunRecord] { results.history }
        public var runs: Int { results.runs }
        public var failedRuns: Int { results.failedRuns }
        public var lastLagSeconds: Double { results.lastLagSeconds }
        var results: Results
    }

    /// What the store learnt about one target.
    struct Results: Sendable {
        var latest: ProbeReport?
        var history: [RunRecord] = []
        var runs: Int = 0
        var failedRuns: Int = 0
        var lastLagSeconds: Double = 0
        var series: RenderedSeries

        init(target: TargetConfig, renderer: any ResultRenderer) {
            series = renderer.series(target: target, report: nil, runs: 0, failedRuns: 0)
        }
    }

    // Targets in configuration order plus a name index: arrays are much smaller than a
    // dictionary of states at 10,000 targets. The configurations array is the caller's own
    // (copy-on-write shares its storage), so 10,000 configurations are not held twice.
    private struct State {
        var configs: [TargetConfig] = []
        var results: [Results] = []
        var index: [String: Int] = [:]

        subscript(name name: String) -> TargetState? {
            index[name].map { TargetState(target: configs[$0], results: results[$0]) }
        }
    }
    private let state = Mutex(State())
    private let traceBudget: Int
    /// Each distinct list of reasons once: a run's list is almost always the run before's (a
    /// skipped `ews_login` and `autodiscover` at every run of a fleet), and ten records a target
    /// each holding their own copy were 20 MB at 10,000 targets.
    private let reasonLists = Mutex(Set<[String]>())
    static let maxReasonLists = 4096
    /// What renders the stored series; its exposition reads them back with it.
    public let renderer: any ResultRenderer

    public init(renderer: any ResultRenderer, traceBudget: Int = ResultStore.defaultTraceBudget) {
        self.renderer = renderer
        self.traceBudget = traceBudget
    }

    /// Makes the store hold exactly these targets: new ones start empty, removed ones (and
    /// their series) go, kept ones keep their results.
    public func setTargets(_ targets: [TargetConfig]) {
        state.withLock { state in
            var next = State()
            next.configs = targets
            next.results.reserveCapacity(targets.count)
            for target in targets {
                var results = state.index[target.name].map { state.results[$0] } ?? Results(target: target, renderer: renderer)
                results.series = renderer.series(
                    target: target, report: results.latest, runs: results.runs, failedRuns: results.failedRuns)
                next.index[target.name] = next.results.count
                next.results.append(results)
            }
            state = next
        }
    }

    public func record(_ report: ProbeReport, lagSeconds: Double) {
        // Rendering and compacting happen outside the lock; only this target's loop writes it.
        let current = state.withLock { state in
            state.index[report.targetName].map {
                (target: state.configs[$0], runs: state.results[$0].runs, failedRuns: state.results[$0].failedRuns)
            }
        }
        guard let current else { return }
        let runs = current.runs + 1
        let failedRuns = current.failedRuns + (report.status == .fail ? 1 : 0)
        let series = renderer.series(target: current.target, report: report, runs: runs, failedRuns: failedRuns)
        let textReport = renderer.textReport(report)
        let compact = Self.compacted(report)
        let record = RunRecord(
            startedAt: report.startedAt, durationSeconds: report.durationSeconds, status: report.status,
            reasons: shared(report.checks.compactMap { check in check.reason.map { "\(check.check)=\($0)" } }), textReport: textReport)
        state.withLock { state in
            guard let position = state.index[report.targetName] else { return }
            let budget = traceBudget / max(1, state.results.count)
            // Each field in place: a copy of the entry would make every append copy the history.
            Self.append(record, to: &state.results[position].history, budget: budget)
            state.results[position].latest = compact
            state.results[position].runs = runs
            state.results[position].failedRuns = failedRuns
            state.results[position].lastLagSeconds = lagSeconds
            state.results[position].series = series
        }
    }

    /// `reasons` as stored before when it was, so records share one copy.
    private func shared(_ reasons: [String]) -> [String] {
        guard !reasons.isEmpty else { return [] }
        return reasonLists.withLock { lists in
            if let known = lists.firstIndex(of: reasons) { return lists[known] }
            // Reason codes are a small vocabulary; past the bound a list is simply kept alone.
            if lists.count < Self.maxReasonLists { lists.insert(reasons) }
            return reasons
        }
    }

    /// The status of the target's last run (the scheduler logs changes).
    public func latestStatus(named name: String) -> CheckStatus? {
        state.withLock { state in state.index[name].flatMap { state.results[$0].latest?.status } }
    }

    private static func append(_ record: RunRecord, to history: inout [RunRecord], budget: Int) {
        // Doubling up to the history's length, then exactly it (plain growth would reserve 16).
        if history.count == history.capacity, history.capacity < historyLength {
            history.reserveCapacity(min(historyLength, max(2, 2 * history.capacity)))
        }
        if history.count == historyLength { history.removeFirst() }
        history.append(record)
        trim(&history, to: budget)
    }

    /// Drops the oldest traces until the older runs' fit `budget` bytes; the latest keeps its own.
    static func trim(_ history: inout [RunRecord], to budget: Int) {
        var used = history.dropLast().reduce(0) { $0 + ($1.textReport?.utf8.count ?? 0) }
        for index in history.indices.dropLast() where used > budget {
            guard let text = history[index].textReport else { continue }
            used -= text.utf8.count
            history[index].textReport = nil
        }
    }

    /// The report as the store keeps it: what the status page's table reads. Details and
    /// measurements live on in the rendered series, traces and notes in the run's text.
    static func compacted(_ report: ProbeReport) -> ProbeReport {
        var report = report
        for index in report.checks.indices {
            report.checks[index].details = []
            report.checks[index].measurements = []
            report.checks[index].trace = []
            report.checks[index].notes = []
        }
        return report
    }

    /// Every target in configuration order.
    public func snapshot() -> [TargetState] {
        state.withLock { state in zip(state.configs, state.results).map { TargetState(target: $0, results: $1) } }
    }

    /// The rendered series of every target in configuration order (a scrape).
    public func renderedSeries() -> [RenderedSeries] {
        state.withLock { state in state.results.map(\.series) }
    }

    public func target(named name: String) -> TargetState? {
        state.withLock { $0[name: name] }
    }

    /// True once every target has a result.
    public var allRanOnce: Bool {
        state.withLock { $0.results.allSatisfy { $0.latest != nil } }
    }
}
