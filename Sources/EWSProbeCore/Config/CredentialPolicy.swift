/// Where credentials may go: only over TLS, whose certificate the login requests then verify.
/// A plain-http target with credentials is a configuration error, never a silent downgrade.
import EWSProbeTransport

public enum CredentialPolicy {
    public static let plainHTTPRefusal =
        "credentials are only sent over TLS that verified: a plain http:// URL cannot have a username and password (use https://)"

    /// Nil when `url` may carry credentials; else why not. An `ldap://` directory may: its
    /// password goes only after StartTLS verified.
    public static func refusal(for url: EndpointURL) -> String? {
        url.isTLS || url.startsTLS ? nil : plainHTTPRefusal
    }
}
