import Synchronization

/// The scheduler's runs in progress, one slot per target. A target whose run is still going
/// skips its next; when the scheduler stops, every run is cancelled and awaited briefly.
final class RunsInFlight: Sendable {
    private struct State {
        var runs: [GuardedRun?]
        var count = 0
        var stopping = false
        var drained: CheckedContinuation<Void, Never>?
    }
    private let state: Mutex<State>
    private let watchdog: Watchdog

    init(count: Int, watchdog: Watchdog) {
        state = Mutex(State(runs: [GuardedRun?](repeating: nil, count: count)))
        self.watchdog = watchdog
    }

    /// A new run of the target; nil while one is in flight or once stopping.
    func start(_ index: Int) -> GuardedRun? {
        state.withLock { state in
            guard state.runs[index] == nil, !state.stopping else { return nil }
            let run = GuardedRun(watchdog: watchdog)
            state.runs[index] = run
            state.count += 1
            return run
        }
    }

    var stopping: Bool { state.withLock { $0.stopping } }

    func finish(_ index: Int) {
        let drained = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.runs[index] != nil else { return nil }
            state.runs[index] = nil
            state.count -= 1
            guard state.count == 0 else { return nil }
            defer { state.drained = nil }
            return state.drained
        }
        drained?.resume()
    }

    /// Cancels every run in flight and returns when all have finished, or after `grace`: a
    /// stop cancels, it does not wait for work that ignores cancellation (nothing it would
    /// still record is kept: `stopping` is set).
    func cancelAll(grace: Duration = .milliseconds(500)) async {
        await withCheckedContinuation { continuation in
            let runs = state.withLock { state -> [GuardedRun]? in
                state.stopping = true
                guard state.count > 0 else { return nil }
                state.drained = continuation
                return state.runs.compactMap { $0 }
            }
            guard let runs else { return continuation.resume() }
            runs.forEach { $0.cancel() }
            Task {
                try? await Task.sleep(for: grace)
                self.abandonWaiting()
            }
        }
    }

    private func abandonWaiting() {
        state.withLock { state in
            defer { state.drained = nil }
            return state.drained
        }?.resume()
    }
}
