/// What a target points at; a check declares the kinds it applies to.
public enum EndpointKind: String, Sendable, CaseIterable {
    /// Exchange Web Services over HTTPS.
    case ews
    /// An LDAP directory (LDAPS, or LDAP with StartTLS).
    case directory
    /// A Microsoft 365 tenant reached through Entra ID, Graph and Exchange Online (`m365:`).
    case m365
    /// A Google Workspace domain reached through a service account's delegation (`google_workspace:`).
    case googleWorkspace = "google_workspace"

    /// Targets named by a connector block rather than a URL.
    public var isCloud: Bool { self == .m365 || self == .googleWorkspace }
}
