/// What a target's URL points at; a check declares the kinds it applies to.
public enum EndpointKind: String, Sendable, CaseIterable {
    /// Exchange Web Services over HTTPS.
    case ews
    /// An LDAP directory (LDAPS, or LDAP with StartTLS).
    case directory
}
