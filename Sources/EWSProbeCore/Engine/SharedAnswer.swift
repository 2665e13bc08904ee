import Synchronization

/// A value computed once and shared by every caller: the first caller computes it in its own
/// task (no extra task, no extra thread hop, which a memoizing `Task` would cost on every probe),
/// callers arriving meanwhile wait for it, later callers get it at once.
final class SharedAnswer<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case pending([CheckedContinuation<Value, Never>])
        case ready(Value)
    }

    private let state = Mutex(State.empty)

    init() {}

    private enum Role {
        case compute, wait
        case ready(Value)
    }

    func value(computing compute: () async -> Value) async -> Value {
        let role = state.withLock { state -> Role in
            switch state {
            case .empty:
                state = .pending([])
                return .compute
            case .pending: return .wait
            case .ready(let value): return .ready(value)
            }
        }
        switch role {
        case .ready(let value):
            return value
        case .wait:
            return await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Value? in
                    switch state {
                    case .pending(let waiting):
                        state = .pending(waiting + [continuation])
                        return nil
                    case .ready(let value): return value
                    case .empty: return nil
                    }
                }
                if let ready { continuation.resume(returning: ready) }
            }
        case .compute:
            let value = await compute()
            let waiting = state.withLock { state -> [CheckedContinuation<Value, Never>] in
                defer { state = .ready(value) }
                if case .pending(let waiting) = state { return waiting }
                return []
            }
            waiting.forEach { $0.resume(returning: value) }
            return value
        }
    }
}
