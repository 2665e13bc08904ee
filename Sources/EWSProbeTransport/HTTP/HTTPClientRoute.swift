/// Which of the two HTTP clients serves an exchange. libcurl serves everything; the direct
/// client serves the single-connection exchanges it can do exactly as libcurl would, because
/// its shared SSL_CTX saves a fifth of a scheduled probe's CPU (libcurl builds one per
/// connection; Benchmarks/clients.sh, README "Design").
public enum HTTPClientRoute: Sendable, Equatable {
    /// `DirectExchange` on the direct loop: one connection of its own to a pinned address.
    case direct
    /// `CurlTransfer` on the curl loop: pools, verified TLS, zoned IPv6, other methods (through a
    /// proxy too: both clients tunnel).
    case curl

    /// The one place the choice is made.
    public static func choose(for request: HTTPRequest, policy: ConnectionPolicy) -> HTTPClientRoute {
        #if EWSPROBE_CURL_ONLY
            // A build for Benchmarks/clients.sh only: what the direct client saves is measured
            // against this build, where libcurl runs every exchange.
            return .curl
        #endif
        if case .pooled = policy { return .curl }
        // An IPv6 pin with a zone (`fe80::1%eth0`) stays with libcurl, which resolves the zone.
        guard let pin = request.proxy?.connectAddress ?? request.pinnedAddress, !pin.contains("%"), request.http11 else {
            return .curl
        }
        // The direct client never verifies: it serves verified exchanges only over plain http.
        guard !request.verifyPeer || !request.url.lowercased().hasPrefix("https:") else { return .curl }
        return ["GET", "POST", "HEAD"].contains(request.method) ? .direct : .curl
    }
}
