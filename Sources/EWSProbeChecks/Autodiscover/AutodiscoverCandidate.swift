/// Where Autodiscover is looked for, in the documented client order (without the Active
/// Directory SCP lookup that only domain members can do). The raw value is the metric label.
public enum AutodiscoverCandidate: String, Sendable, CaseIterable {
    /// `https://DOMAIN/autodiscover/autodiscover.xml`
    case domain
    /// `https://autodiscover.DOMAIN/autodiscover/autodiscover.xml`
    case autodiscoverHost = "autodiscover_host"
    /// `http://autodiscover.DOMAIN/autodiscover/autodiscover.xml`, which must redirect to https
    case httpRedirect = "http_redirect"
    /// DNS SRV `_autodiscover._tcp.DOMAIN`, its target at `/autodiscover/autodiscover.xml`
    case srv
    /// A URL an answer redirected to (`redirectUrl`, or an HTTP redirect of a POST)
    case redirect

    static let path = "/autodiscover/autodiscover.xml"

    /// The candidate's URL for `domain`; nil for those that come from elsewhere (SRV, redirects).
    func url(domain: String) -> String? {
        switch self {
        case .domain: "https://\(domain)\(Self.path)"
        case .autodiscoverHost: "https://autodiscover.\(domain)\(Self.path)"
        case .httpRedirect: "http://autodiscover.\(domain)\(Self.path)"
        case .srv, .redirect: nil
        }
    }
}
