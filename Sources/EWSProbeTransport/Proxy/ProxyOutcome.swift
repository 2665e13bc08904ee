/// What the proxy said to CONNECT, whichever client opened the tunnel: the facts the `tcp`
/// check judges (`proxy_*` reasons) and reports (`ewsprobe_proxy_*` metrics).
public struct ProxyOutcome: Sendable, Equatable {
    /// The proxy's final answer to CONNECT; nil when none came (closed, silent, not HTTP).
    public var status: Int?
    /// Seconds from the start until the tunnel was open (nil: it never opened).
    public var tunnelSeconds: Double?
    /// The distinct schemes of the proxy's `Proxy-Authenticate` headers, as it wrote them, at
    /// most `schemeLimit` (a proxy's words reach summaries and JSON: a hostile one could send
    /// thousands).
    public private(set) var offeredSchemes: [String] = []
    static let schemeLimit = 8
    /// The scheme whose credentials were sent ("Basic", "NTLM"); nil: none were.
    public var schemeUsed: String?

    public init(status: Int? = nil, tunnelSeconds: Double? = nil) {
        self.status = status
        self.tunnelSeconds = tunnelSeconds
    }

    public var tunnelOpen: Bool { tunnelSeconds != nil }

    /// Replaces the offered schemes with those of the proxy's latest answer.
    public mutating func offer(_ schemes: [String]) {
        offeredSchemes = []
        for scheme in schemes where offeredSchemes.count < Self.schemeLimit {
            if !offeredSchemes.contains(where: { $0.lowercased() == scheme.lowercased() }) { offeredSchemes.append(scheme) }
        }
    }

    /// The proxy asked only for schemes ewsprobe does not speak (so no credentials could go).
    public var offersNoKnownScheme: Bool {
        !offeredSchemes.isEmpty && !offeredSchemes.contains { ["ntlm", "negotiate", "basic"].contains($0.lowercased()) }
    }
}
