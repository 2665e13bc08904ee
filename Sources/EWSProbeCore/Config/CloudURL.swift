import EWSProbeTransport

/// The base URLs a connector is configured with (`authority`, `graph`, `exchange`, `api`):
/// https only, since the credentials and tokens travel to them, and no query.
public enum CloudURL {
    /// scheme://authority and the path without its trailing slash.
    public static func base(_ url: EndpointURL) -> String {
        var text = url.description
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }

    /// The URL of `text`, or why it cannot be one.
    public static func parse(_ text: String) -> Result<EndpointURL, ConfigProblem> {
        guard let url = EndpointURL(text), url.scheme == "https", !url.path.contains("?") else {
            return .failure(ConfigProblem("expected an https:// URL without a query, got \"\(text)\""))
        }
        return .success(url)
    }

    public struct ConfigProblem: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}
