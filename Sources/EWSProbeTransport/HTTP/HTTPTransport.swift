/// The seam every check sends HTTP through. `Transport` is the real one; a test may give a
/// `ProbeContext` a fake to exercise a check's logic without a server.
public protocol HTTPTransport: Sendable {
    /// Runs one exchange under `policy` and waits for its answer.
    func exchange(_ request: HTTPRequest, policy: ConnectionPolicy) async throws(TransportError) -> HTTPResponse
    /// Starts one exchange that runs without a task waiting on it (see `PendingExchange`).
    func start(_ request: HTTPRequest, policy: ConnectionPolicy) -> PendingExchange
    /// `request` once per step, one after another, each on the connection its step says; it
    /// stops after a failure or an answer `proceed` refuses. The outcomes, in order. `proceed`
    /// may run on a transport thread that serves every probe: it must be quick and pure.
    func exchangeSequence(_ request: HTTPRequest, steps: [SequenceStep], proceed: @escaping @Sendable (HTTPResponse) -> Bool) async
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
    public func exchangeSequence(_ request: HTTPRequest, steps: [SequenceStep], proceed: @escaping @Sendable (HTTPResponse) -> Bool) async
        -> [Result<HTTPResponse, TransportError>]
    {
        await pooledSequence(request, steps: steps, proceed: proceed)
    }

    /// The sequence on pools: a fresh step starts a pool of its own, a reuse step takes the
    /// last one's connection where libcurl could keep it (and says when it opened another).
    func pooledSequence(_ request: HTTPRequest, steps: [SequenceStep], proceed: @Sendable (HTTPResponse) -> Bool) async
        -> [Result<HTTPResponse, TransportError>]
    {
        var scope = makeScope()
        var outcomes: [Result<HTTPResponse, TransportError>] = []
        for (index, step) in steps.enumerated() {
            if step == .fresh, index > 0 { scope = makeScope() }
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
