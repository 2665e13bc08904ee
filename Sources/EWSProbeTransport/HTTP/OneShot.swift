import Synchronization

/// A value set once, from any thread, and awaited by any number of tasks: the loop threads
/// publish an exchange's milestones through it without a task of their own.
package final class OneShot<Value: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Value, Never>])
        case done(Value)
    }

    private let state = Mutex(State.waiting([]))

    init() {}

    var isDone: Bool {
        state.withLock { state in
            if case .done = state { return true }
            return false
        }
    }

    /// The first value wins; later ones are ignored.
    func fulfil(_ value: Value) {
        let waiting = state.withLock { state -> [CheckedContinuation<Value, Never>] in
            guard case .waiting(let waiting) = state else { return [] }
            state = .done(value)
            return waiting
        }
        waiting.forEach { $0.resume(returning: value) }
    }

    func value() async -> Value {
        if case .done(let value) = state.withLock({ $0 }) { return value }
        return await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value? in
                switch state {
                case .waiting(let waiting):
                    state = .waiting(waiting + [continuation])
                    return nil
                case .done(let value): return value
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
