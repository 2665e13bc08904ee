import Foundation

/// The URL a target probes, split into the parts the checks use. The scheme decides the endpoint
/// kind: `https://` (`http://` for labs) is EWS, `ldaps://` and `ldap://` (StartTLS) a directory.
public struct EndpointURL: Sendable, Equatable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    public let port: Int
    public let path: String
    /// scheme://authority/path, built once: every run's report, request and series carry it.
    public let description: String

    public init?(_ text: String) {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), let defaultPort = Self.defaultPorts[scheme],
            // `host` would be the Unicode form of an A-label; DNS, SNI and pins need the A-label.
            var host = components.encodedHost, !host.isEmpty,
            components.user == nil, components.password == nil
        else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard IPAddress.isV6(host) else { return nil }
        } else {
            guard let ascii = HostName.asciiForm(host) else { return nil }
            host = ascii
        }
        self.scheme = scheme
        self.host = host.lowercased()
        if let port = components.port {
            guard (1...65535).contains(port) else { return nil }
            self.port = port
        } else {
            self.port = defaultPort
        }
        var path = components.percentEncodedPath
        if path.isEmpty { path = "/" }
        if let query = components.percentEncodedQuery { path += "?" + query }
        self.path = path
        description = "\(scheme)://\(Self.authority(host: self.host, port: self.port, defaultPort: defaultPort))\(path)"
    }

    static let defaultPorts = ["https": 443, "http": 80, "ldaps": 636, "ldap": 389]

    /// TLS from the first byte (`https`, `ldaps`).
    public var isTLS: Bool { scheme == "https" || scheme == "ldaps" }
    /// TLS after a plaintext StartTLS request (`ldap`): ewsprobe never speaks a directory in clear.
    public var startsTLS: Bool { scheme == "ldap" }
    public var kind: EndpointKind { scheme.hasPrefix("ldap") ? .directory : .ews }

    /// host[:port] as it belongs in a URL (IPv6 in brackets, default port omitted).
    public var authority: String { Self.authority(host: host, port: port, defaultPort: Self.defaultPorts[scheme] ?? 0) }

    private static func authority(host: String, port: Int, defaultPort: Int) -> String {
        let bracketed = IPAddress.bracketed(host)
        return port == defaultPort ? bracketed : "\(bracketed):\(port)"
    }
}
