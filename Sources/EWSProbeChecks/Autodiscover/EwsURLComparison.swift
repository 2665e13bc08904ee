import EWSProbeTransport

/// Whether Autodiscover's EWS URL is the one the target is configured with, compared as the
/// contract says: scheme and host case-insensitive, the default port equal to none, the path
/// case-insensitive (IIS paths are), query and fragment ignored.
enum EwsURLComparison {
    static func same(_ found: String, _ configured: EndpointURL) -> Bool {
        guard let url = EndpointURL(found) else { return false }
        return url.scheme == configured.scheme && url.host.lowercased() == configured.host.lowercased() && url.port == configured.port
            && normalized(url.path) == normalized(configured.path)
    }

    static func normalized(_ path: String) -> String {
        var path = path.lowercased()
        if let cut = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = String(path[..<cut]) }
        while path.hasSuffix("/") && path.count > 1 { path.removeLast() }
        return path.isEmpty ? "/" : path
    }
}
