import CCurl

/// A private connection pool: exchanges that name the same scope may reuse each other's
/// kept-alive connection, and no other probe can. A probe uses one scope so the TLS handshake
/// of one check serves the HTTP checks after it; NTLM legs use one to stay on one connection.
/// A scope without a loop (a test's fake transport) pools nothing.
public final class ConnectionScope: @unchecked Sendable {
    let share: UnsafeMutableRawPointer?
    private let loop: CurlEventLoop?

    init(loop: CurlEventLoop?) {
        self.loop = loop
        guard loop != nil else {
            share = nil
            return
        }
        guard let share = curl_share_init() else { fatalError("curl_share_init failed") }
        _ = ewscurl_share_setopt_long(share, CURLSHOPT_SHARE, Int(CURL_LOCK_DATA_CONNECT.rawValue))
        self.share = share
    }

    /// A scope that pools nothing, for transports without libcurl (tests' fakes).
    public static func unpooled() -> ConnectionScope { ConnectionScope(loop: nil) }

    deinit {
        if let share, let loop { loop.releaseShare(share) }
    }
}
