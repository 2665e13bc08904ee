/// RFC 6125 name checking, as the cloud service's client does it: SAN dNSName when any SAN is
/// present (the CN only without SANs), a wildcard only as the whole left-most label matching
/// exactly one label, IP literals only against iPAddress SANs, case-insensitive, trailing dot ignored.
public enum HostnameMatcher {
    public static func matches(host: String, certificate: Certificate) -> Bool {
        let name = normalize(host)
        if IPAddress.isLiteral(name) {
            return certificate.ipAddresses.contains { normalizeIP($0) == normalizeIP(name) }
        }
        let candidates =
            certificate.dnsNames.isEmpty && certificate.ipAddresses.isEmpty ? [certificate.subjectCN] : certificate.dnsNames
        return candidates.contains { matches(name, pattern: normalize($0)) }
    }

    static func matches(_ host: String, pattern: String) -> Bool {
        guard !pattern.isEmpty else { return false }
        if !pattern.contains("*") { return host == pattern }
        let patternLabels = pattern.split(separator: ".", omittingEmptySubsequences: false)
        let hostLabels = host.split(separator: ".", omittingEmptySubsequences: false)
        // "*" must be the whole left-most label, with at least two labels after it, and match one label.
        guard patternLabels.count >= 3, patternLabels[0] == "*", !patternLabels.dropFirst().contains(where: { $0.contains("*") }),
            hostLabels.count == patternLabels.count, !hostLabels[0].isEmpty
        else { return false }
        return hostLabels.dropFirst().elementsEqual(patternLabels.dropFirst())
    }

    static func normalize(_ name: String) -> String {
        var text = name.lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func normalizeIP(_ text: String) -> String {
        text.lowercased()
    }
}
