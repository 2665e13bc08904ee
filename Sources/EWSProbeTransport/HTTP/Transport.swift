/// The HTTP client every check uses: each exchange goes to libcurl or to the direct client, as
/// `HTTPClientRoute.choose` says.
public struct Transport: HTTPTransport {
    let curl: CurlEventLoop
    let direct: DirectLoop

    package init(curl: CurlEventLoop, direct: DirectLoop) {
        self.curl = curl
        self.direct = direct
    }

    public func makeScope() -> ConnectionScope { ConnectionScope(loop: curl) }

    public func exchange(_ request: HTTPRequest, policy: ConnectionPolicy) async throws(TransportError) -> HTTPResponse {
        try await exchange(request, policy: policy, route: HTTPClientRoute.choose(for: request, policy: policy))
    }

    /// `exchange` on a given client (tests compare the two on one request).
    public func exchange(_ request: HTTPRequest, policy: ConnectionPolicy, route: HTTPClientRoute) async throws(TransportError)
        -> HTTPResponse
    {
        if route == .direct, let address = request.proxy?.connectAddress ?? request.pinnedAddress,
            let url = request.endpoint ?? EndpointURL(request.url)
        {
            return try await direct.perform(
                request, url: url, address: address, security: Self.security(request, url), connectOnly: policy.isConnectOnly)
        }
        return try await curl.perform(request, policy: policy)
    }

    public func exchangeSequence(_ request: HTTPRequest, steps: [SequenceStep], proceed: @escaping @Sendable (HTTPResponse) -> Bool) async
        -> [Result<HTTPResponse, TransportError>]
    {
        await exchangeSequence(
            request, steps: steps, route: HTTPClientRoute.choose(for: request, policy: .oneShot), proceed: proceed)
    }

    /// `exchangeSequence` on a given client (tests compare the two on one server).
    public func exchangeSequence(
        _ request: HTTPRequest, steps: [SequenceStep], route: HTTPClientRoute, proceed: @escaping @Sendable (HTTPResponse) -> Bool
    ) async -> [Result<HTTPResponse, TransportError>] {
        guard route == .direct, let address = request.proxy?.connectAddress ?? request.pinnedAddress,
            let url = request.endpoint ?? EndpointURL(request.url)
        else {
            return await pooledSequence(request, steps: steps, proceed: proceed)
        }
        return await direct.performSequence(
            request, url: url, address: address, security: Self.security(request, url), steps: steps, proceed: proceed)
    }

    /// The direct client publishes the handshake the moment it is done; a libcurl exchange (a
    /// proxy, a zoned IPv6 pin) runs in a task of its own and publishes it with the answer.
    public func start(_ request: HTTPRequest, policy: ConnectionPolicy) -> PendingExchange {
        let pending = PendingExchange(isTLS: request.url.lowercased().hasPrefix("https:"))
        if HTTPClientRoute.choose(for: request, policy: policy) == .direct,
            let address = request.proxy?.connectAddress ?? request.pinnedAddress, let url = request.endpoint ?? EndpointURL(request.url)
        {
            direct.start(
                request, url: url, address: address, security: Self.security(request, url), connectOnly: policy.isConnectOnly,
                pending: pending)
            return pending
        }
        let task = Task {
            do throws(TransportError) {
                pending.finish(.success(try await curl.perform(request, policy: policy)))
            } catch {
                pending.finish(.failure(error))
            }
        }
        pending.onCancel { task.cancel() }
        return pending
    }

    /// Through a proxy, every connection is a CONNECT tunnel first (then TLS to the origin
    /// inside it): the one place the direct client's streams get the proxy.
    static func security(_ request: HTTPRequest, _ url: EndpointURL) -> StreamSecurity {
        guard let proxy = request.proxy else {
            return url.isTLS ? .tls(serverName: url.host, legacy: request.allowLegacyTLS) : .plain
        }
        let tunnel = ProxyTunnel(host: url.host, port: url.port, credentials: proxy.credentials)
        return url.isTLS ? .preambleThenTLS(tunnel, serverName: url.host, legacy: request.allowLegacyTLS) : .preamble(tunnel)
    }

    /// Opens a stream to `address`:`port` secured as `security` and closes it once open: what
    /// the `tls` check judges on any endpoint (HTTPS, LDAPS, StartTLS, through a tunnel).
    public func openStream(
        to address: String, port: Int, security: StreamSecurity, timeout: Duration, sourceAddress: String? = nil
    ) async throws(TransportError) -> SecuredConnection {
        let scheme = security.handshake == nil ? "http" : "https"
        let host = security.handshake?.serverName ?? address
        guard let url = EndpointURL("\(scheme)://\(IPAddress.bracketed(host)):\(port)/") else {
            throw TransportError(
                kind: .other, curlCode: nil, osErrno: 0, message: "no stream to \(host):\(port)", timings: PhaseTimings(),
                connection: ConnectionFacts(), tls: TLSFacts())
        }
        var request = HTTPRequest(url: url.description, timeout: timeout, pinnedAddress: address)
        request.sourceAddress = sourceAddress
        return SecuredConnection(
            try await direct.perform(request, url: url, address: address, security: security, connectOnly: true))
    }
}
