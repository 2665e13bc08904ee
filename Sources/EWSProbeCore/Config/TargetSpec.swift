/// What one target says of itself, before its module and the globals fill in the rest: an
/// entry of the config file, a URL on the command line, or a URL given to `/probe`.
import EWSProbeTransport

public struct TargetSpec: Sendable {
    public var name: String
    public var url: EndpointURL
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
        self.url = url
    }
}
