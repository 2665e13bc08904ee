/// What one target says of itself, before its module and the globals fill in the rest: an
/// entry of the config file (a URL or a cloud connector), a URL on the command line, or a URL
/// given to `/probe`.
import EWSProbeTransport

public struct TargetSpec: Sendable {
    public var name: String
    public var endpoint: TargetEndpoint
    /// The URL of a URL target; a connector's authority.
    public var url: EndpointURL {
        get { endpoint.primaryURL }
        set { endpoint = .url(newValue) }
    }
    public var moduleName: String?
    public var interval: Duration?
    public var timeout: Duration?
    public var labels: [(String, String)] = []
    public var resolve: [ResolvePin] = []
    public var caFile: String?
    public var username: String?
    public var password: SecretReference?
    public var mailboxCheck: String?
    public var sourceAddress: String?
    public var proxy: ProxySettings?

    public init(name: String, url: EndpointURL) {
        self.name = name
        endpoint = .url(url)
    }

    public init(name: String, endpoint: TargetEndpoint) {
        self.name = name
        self.endpoint = endpoint
    }
}
