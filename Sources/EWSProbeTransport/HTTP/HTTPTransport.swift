/// The seam every check sends HTTP through. `Transport` is the real one; a test may give a
/// `ProbeContext` a fake to exercise a check's logic without a server.
public protocol HTTPTransport: Sendable {
    /// Runs one exchange under `policy` and waits for its answer.
    func exchange(_ request: HTTPRequest, policy: ConnectionPolicy) async throws(TransportError) -> HTTPResponse
    /// Starts one exchange that runs without a task waiting on it (see `PendingExchange`).
    func start(_ request: HTTPRequest, policy: ConnectionPolicy) -> PendingExchange
    /// A private connection pool for `ConnectionPolicy.pooled`.
    func makeScope() -> ConnectionScope
    /// Opens a byte stream to `address`, secures it as `security` says and reports what the
    /// handshake showed (LDAPS, StartTLS and tunnels judged without HTTP).
    func openStream(
        to address: String, port: Int, security: StreamSecurity, timeout: Duration, sourceAddress: String?
    ) async throws(TransportError) -> SecuredConnection
}
