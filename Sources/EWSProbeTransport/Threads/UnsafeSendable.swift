/// Wraps a C pointer that is only ever used from one thread or under a lock (a loop's handles,
/// a trust store built once and then only read).
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
