import EWSProbeTransport
import Foundation
import Synchronization

/// Fires the action of a run that overran its hard limit: the scheduler's backstop. One thread
/// looks four times a second, so a run that ends in time costs a heap entry, not a timer, a
/// sleeping task and their wake-ups (the backstop fires within a quarter second of its limit).
public final class Watchdog: Sendable {
    static let resolution: Duration = .milliseconds(250)

    private struct State {
        var due = DueQueue()
        var actions: [Int: @Sendable () -> Void] = [:]
        var nextID = 0
    }
    private let state = Mutex(State())

    /// Starts the watchdog's thread; `ProbeRuntime` makes the process's one watchdog.
    init() {
        ServiceThread.start("ews-watchdog") { [self] in
            while true {
                Thread.sleep(forTimeInterval: Self.resolution.seconds)
                let now = ContinuousClock.now
                let expired = state.withLock { state -> [@Sendable () -> Void] in
                    var fired: [@Sendable () -> Void] = []
                    while let (due, id) = state.due.popFirst() {
                        if due > now {
                            state.due.push(due, id)
                            break
                        }
                        if let action = state.actions.removeValue(forKey: id) { fired.append(action) }
                    }
                    return fired
                }
                expired.forEach { $0() }
            }
        }
    }

    /// Calls `action` once `due` has passed, unless disarmed first.
    package func arm(at due: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> Int {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.actions[id] = action
            state.due.push(due, id)
            return id
        }
    }

    /// The heap entry stays until its time (then it is skipped): removal from a heap would cost more.
    package func disarm(_ id: Int) {
        _ = state.withLock { $0.actions.removeValue(forKey: id) }
    }
}
