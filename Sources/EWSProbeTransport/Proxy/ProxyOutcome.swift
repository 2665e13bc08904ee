/// What the proxy said to CONNECT, whichever client opened the tunnel: the facts the `tcp`
/// check judges (`proxy_*` reasons) and reports (`ewsprobe_proxy_*` metrics).
public struct ProxyOutcome: Sendable, Equatable {
    /// The proxy's final answer to CONNECT; nil when none came (closed, silent, not HTTP).
    public var status: Int?
    /// Seconds from the start until the tunnel was open (nil: it never opened).
    public var tunnelSeconds: Double?
    /// The schemes of every `Proxy-Authenticate` the proxy sent, as it wrote them.
    public var offeredSchemes: [String] = []
    /// The scheme whose credentials were sent ("Basic", "NTLM"); nil: none were.
    public var schemeUsed: String?
    /// Why the tunnel did not open, when the answer alone does not say (garbage, a loop).
    public var problem: String?

    public init(status: Int? = nil, tunnelSeconds: Double? = nil) {
        self.status = status
        self.tunnelSeconds = tunnelSeconds
    }

    public var tunnelOpen: Bool { tunnelSeconds != nil }
}
