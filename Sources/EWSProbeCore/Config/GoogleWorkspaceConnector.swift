import EWSProbeTransport

/// A `google_workspace:` target: a service account with domain-wide delegation, which gets its
/// tokens with the JWT bearer grant (RFC 7523) as the mailbox and reads it through the Gmail API.
public struct GoogleWorkspaceConnector: Sendable, Equatable {
    /// The service account's JSON key file; read again on every grant, so a rotated key is used.
    public var serviceAccountFile: String
    /// The key file's `token_uri` when the configuration was loaded: the host `dns`, `tcp` and
    /// `tls` judge.
    public var tokenURI: EndpointURL
    /// The key file's `client_email`, which names the target in reports.
    public var clientEmail: String
    public var api: EndpointURL
    public var scopes: [String]

    public static let defaultAPI = EndpointURL("https://gmail.googleapis.com")!
    public static let defaultScopes = ["https://mail.google.com/"]

    public init(serviceAccountFile: String, tokenURI: EndpointURL, clientEmail: String) {
        self.serviceAccountFile = serviceAccountFile
        self.tokenURI = tokenURI
        self.clientEmail = clientEmail
        api = Self.defaultAPI
        scopes = Self.defaultScopes
    }
}
