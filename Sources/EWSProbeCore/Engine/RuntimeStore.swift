import Synchronization

/// State a check keeps for the life of the process (a TLS context per trust file, say), owned by
/// the runtime rather than by a global, one value per type, made on first use.
public final class RuntimeStore: Sendable {
    private let values = Mutex<[ObjectIdentifier: any Sendable]>([:])

    public init() {}

    public func value<T: Sendable>(_ type: T.Type, make: () -> T) -> T {
        values.withLock { values in
            if let value = values[ObjectIdentifier(type)] as? T { return value }
            let value = make()
            values[ObjectIdentifier(type)] = value
            return value
        }
    }
}
