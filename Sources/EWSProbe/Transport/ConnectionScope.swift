import CCurl

/// A private connection pool: exchanges that name the same scope may reuse each other's
/// kept-alive connection, and no other probe can. A probe uses one scope so the TLS handshake
/// of one check serves the HTTP checks after it; NTLM legs use one to stay on one connection.
public final class ConnectionScope: @unchecked Sendable {
    let share: UnsafeMutableRawPointer

    public init() {
        _ = CurlEventLoop.shared
        guard let share = curl_share_init() else { fatalError("curl_share_init failed") }
        _ = ewscurl_share_setopt_long(share, CURLSHOPT_SHARE, Int(CURL_LOCK_DATA_CONNECT.rawValue))
        self.share = share
    }

    deinit {
        CurlEventLoop.shared.releaseShare(share)
    }
}

/// The HTTP client every check uses.
public struct Transport: Sendable {
    public init() {}

    public func exchange(_ request: HTTPRequest, scope: ConnectionScope? = nil) async throws(TransportError) -> HTTPResponse {
        if request.direct, let address = request.pinnedAddress, let url = request.endpoint ?? EndpointURL(request.url) {
            return try await DirectLoop.shared.perform(request, url: url, address: address)
        }
        var request = request
        // Without a scope a connection would linger in the shared pool where another probe could
        // pick it up; close it instead.
        if scope == nil { request.freshConnection = true }
        return try await CurlEventLoop.shared.perform(request, scope: scope)
    }

    /// Starts a standalone exchange that runs without a task waiting on it (see `PendingExchange`).
    /// The direct client publishes the handshake the moment it is done; a libcurl exchange (a
    /// proxy, a zoned IPv6 pin) runs in a task of its own and publishes it with the answer.
    func start(_ request: HTTPRequest, scope: ConnectionScope? = nil) -> PendingExchange {
        let pending = PendingExchange(isTLS: request.url.lowercased().hasPrefix("https:"))
        if request.direct, let address = request.pinnedAddress, let url = request.endpoint ?? EndpointURL(request.url) {
            DirectLoop.shared.start(request, url: url, address: address, pending: pending)
            return pending
        }
        let task = Task {
            do throws(TransportError) {
                pending.finish(.success(try await exchange(request, scope: scope)))
            } catch {
                pending.finish(.failure(error))
            }
        }
        pending.onCancel { task.cancel() }
        return pending
    }
}
