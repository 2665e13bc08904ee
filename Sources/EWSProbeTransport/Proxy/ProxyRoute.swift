/// Where an exchange goes when it leaves through an outbound HTTP proxy: the proxy's address to
/// connect to (resolved once by the run, like any endpoint's) and the credentials the proxy may
/// ask for. The origin is still the request's URL: its host is named in CONNECT, in SNI and in
/// the certificate check, and the proxy resolves it.
public struct ProxyRoute: Sendable, Equatable {
    /// The proxy's host as configured (for reports) and its port.
    public var host: String
    public var port: Int
    /// The address literal the connection goes to; nil: `host` itself (an IP literal).
    public var address: String?
    public var credentials: ProxyCredentials?

    public init(host: String, port: Int, address: String? = nil, credentials: ProxyCredentials? = nil) {
        self.host = host
        self.port = port
        self.address = address
        self.credentials = credentials
    }

    /// The address the connection is opened to.
    public var connectAddress: String { address ?? host }

    /// `http://ADDRESS:PORT` for libcurl: the resolved address, so curl connects exactly where the
    /// run resolved the proxy instead of looking it up again.
    var curlURL: String { "http://\(IPAddress.bracketed(connectAddress)):\(port)" }
}

/// A proxy account: `user`, `DOMAIN\user` or a UPN, and its password.
public struct ProxyCredentials: Sendable, Equatable {
    public var username: String
    public var password: Secret

    public init(username: String, password: Secret) {
        self.username = username
        self.password = password
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.username == b.username && a.password.reveal() == b.password.reveal()
    }
}
