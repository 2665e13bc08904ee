import Foundation

/// The EWS URL a target probes, split into the parts the checks use.
public struct EndpointURL: Sendable, Equatable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int
    public var path: String

    public init?(_ text: String) {
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "https" || scheme == "http",
            var host = components.host, !host.isEmpty,
            components.user == nil, components.password == nil
        else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasSuffix(".") { host = String(host.dropLast()) }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-._:".contains($0) }) else { return nil }
        self.scheme = scheme
        self.host = host.lowercased()
        if let port = components.port {
            guard (1...65535).contains(port) else { return nil }
            self.port = port
        } else {
            self.port = scheme == "https" ? 443 : 80
        }
        var path = components.percentEncodedPath
        if path.isEmpty { path = "/" }
        if let query = components.percentEncodedQuery { path += "?" + query }
        self.path = path
    }

    public var isTLS: Bool { scheme == "https" }

    /// host[:port] as it belongs in a URL (IPv6 in brackets, default port omitted).
    public var authority: String {
        let h = IPAddress.bracketed(host)
        let defaultPort = isTLS ? 443 : 80
        return port == defaultPort ? h : "\(h):\(port)"
    }

    public var description: String { "\(scheme)://\(authority)\(path)" }
}
