import EWSProbeTransport

/// An `m365:` target: an application registered in a Microsoft 365 tenant, which gets its tokens
/// from Entra ID (client credentials) and reads mail through Graph and EWS on Exchange Online.
public struct M365Connector: Sendable, Equatable {
    /// How the application proves itself to the authority.
    public enum Credential: Sendable, Equatable {
        case secret(SecretReference)
        /// A certificate registered on the application and its private key: the client assertion.
        case certificate(certificateFile: String, keyFile: String)
    }

    /// The tenant's domain or id, as it goes into the authority's paths.
    public var tenant: String
    public var clientID: String
    public var credential: Credential
    public var authority: EndpointURL
    public var graph: EndpointURL
    public var exchange: EndpointURL
    /// Application roles the Graph token must carry.
    public var requiredRoles: [String]

    public static let defaultAuthority = EndpointURL("https://login.microsoftonline.com")!
    public static let defaultGraph = EndpointURL("https://graph.microsoft.com")!
    public static let defaultExchange = EndpointURL("https://outlook.office365.com")!
    public static let defaultRequiredRoles = ["Mail.ReadWrite"]
    /// The role Exchange Online's token must carry for EWS with impersonation.
    public static let exchangeRole = "full_access_as_app"

    public init(tenant: String, clientID: String, credential: Credential) {
        self.tenant = tenant
        self.clientID = clientID
        self.credential = credential
        authority = Self.defaultAuthority
        graph = Self.defaultGraph
        exchange = Self.defaultExchange
        requiredRoles = Self.defaultRequiredRoles
    }

    /// `AUTHORITY/TENANT`, where discovery and the token endpoint live.
    public var tenantAuthority: String { CloudURL.base(authority) + "/" + tenant }
    /// The OpenID configuration that names the tenant's token endpoint.
    public var discoveryURL: String { tenantAuthority + "/v2.0/.well-known/openid-configuration" }
    /// The scope of the Graph token (`GRAPH/.default`).
    public var graphScope: String { CloudURL.base(graph) + "/.default" }
    /// The scope of the Exchange Online token (`EXCHANGE/.default`).
    public var exchangeScope: String { CloudURL.base(exchange) + "/.default" }
}
