/// The seam every check sends HTTP through. `Transport` is the real one; a test may give a
/// `ProbeContext` a fake to exercise a check's logic without a server.
public protocol HTTPTransport: Sendable {
    /// Runs one exchange under `policy` and waits for its answer.
    func exchange(_ request: HTTPRequest, policy: ConnectionPolicy) async throws(TransportError) -> HTTPResponse
    /// Starts one exchange that runs without a task waiting on it (see `PendingExchange`).
    func start(_ request: HTTPRequest, policy: ConnectionPolicy) -> PendingExchange
    /// `count` exchanges of `request` one after another on one kept-alive connection, each on a
    /// new connection (marked so in its facts) only where the server did not keep the last one
    /// open; it stops after a failure or an answer `proceed` refuses. The outcomes, in order.
    func exchangeSequence(_ request: HTTPRequest, count: Int, proceed: @escaping @Sendable (HTTPResponse) -> Bool) async
        -> [Result<HTTPResponse, TransportError>]
    /// A private connection pool for `ConnectionPolicy.pooled`.
    func makeScope() -> ConnectionScope
    /// Opens a byte stream to `address`, secures it as `security` says and reports what the
    /// handshake showed (LDAPS, StartTLS and tunnels judged without HTTP).
    func openStream(
        to address: String, port: Int, security: StreamSecurity, timeout: Duration, sourceAddress: String?
    ) async throws(TransportError) -> SecuredConnection
}

extension HTTPTransport {
    public func exchangeSequence(_ request: HTTPRequest, count: Int, proceed: @escaping @Sendable (HTTPResponse) -> Bool) async
        -> [Result<HTTPResponse, TransportError>]
    {
        await pooledSequence(request, count: count, proceed: proceed)
    }

    /// The sequence on a pool of its own: libcurl keeps the connection alive and says when it opened another.
    func pooledSequence(_ request: HTTPRequest, count: Int, proceed: @Sendable (HTTPResponse) -> Bool) async
        -> [Result<HTTPResponse, TransportError>]
    {
        let scope = makeScope()
        var outcomes: [Result<HTTPResponse, TransportError>] = []
        for _ in 0..<count {
            do throws(TransportError) {
                let response = try await exchange(request, policy: .pooled(scope))
                outcomes.append(.success(response))
                if !proceed(response) { break }
            } catch {
                outcomes.append(.failure(error))
                break
            }
        }
        return outcomes
    }
}
