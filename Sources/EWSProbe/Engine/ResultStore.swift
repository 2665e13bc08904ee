import Foundation
import Synchronization

/// The latest results of every target, the counters about them, and a short history for the
/// status page. The scheduler writes; scrapes and pages only read.
public final class ResultStore: Sendable {
    public static let historyLength = 10

    public struct TargetState: Sendable {
        public var target: TargetConfig
        public var latest: ProbeReport?
        public var history: [ProbeReport] = []
        public var runs: Int = 0
        public var failedRuns: Int = 0
        public var lastLagSeconds: Double = 0
    }

    private let state = Mutex<[String: TargetState]>([:])
    private let order = Mutex<[String]>([])

    public init() {}

    /// Makes the store hold exactly these targets: new ones start empty, removed ones (and
    /// their series) go, kept ones keep their results.
    public func setTargets(_ targets: [TargetConfig]) {
        state.withLock { current in
            var next: [String: TargetState] = [:]
            for target in targets {
                var entry = current[target.name] ?? TargetState(target: target)
                entry.target = target
                next[target.name] = entry
            }
            current = next
        }
        order.withLock { $0 = targets.map(\.name) }
    }

    public func record(_ report: ProbeReport, lagSeconds: Double) {
        state.withLock { current in
            guard var entry = current[report.targetName] else { return }
            entry.latest = report
            entry.history.append(report)
            if entry.history.count > ResultStore.historyLength { entry.history.removeFirst() }
            entry.runs += 1
            if report.status == .fail { entry.failedRuns += 1 }
            entry.lastLagSeconds = lagSeconds
            current[report.targetName] = entry
        }
    }

    /// Every target in configuration order.
    public func snapshot() -> [TargetState] {
        let names = order.withLock { $0 }
        return state.withLock { current in names.compactMap { current[$0] } }
    }

    public func target(named name: String) -> TargetState? {
        state.withLock { $0[name] }
    }

    /// True once every target has a result.
    public var allRanOnce: Bool {
        state.withLock { $0.values.allSatisfy { $0.latest != nil } }
    }
}
