/// The seam every check sends HTTP through. `Transport` is the real one; a test may give a
/// `ProbeContext` a fake to exercise a check's logic without a server.
public protocol HTTPTransport: Sendable {
    /// Runs one exchange under `policy` and waits for its answer.
    func exchange(_ request: HTTPRequest, policy: ConnectionPolicy) async throws(TransportError) -> HTTPResponse
    /// Starts one exchange that runs without a task waiting on it (see `PendingExchange`).
    func start(_ request: HTTPRequest, policy: ConnectionPolicy) -> PendingExchange
    /// A private connection pool for `ConnectionPolicy.pooled`.
    func makeScope() -> ConnectionScope
}
