import Foundation

/// Host names in the one form DNS, SNI, `resolve` pins and certificate names use: the
/// A-label (IDNA, `xn--mller-kva.example`), lowercased, without a trailing dot. A U-label
/// (`müller.example`) in the configuration is converted once, at load.
public enum HostName {
    /// The A-label form of `text`, or nil when it is not a host name.
    public static func asciiForm(_ text: String) -> String? {
        var host = text
        if host.hasSuffix(".") { host = String(host.dropLast()) }
        guard !host.isEmpty else { return nil }
        if host.allSatisfy({ $0.isASCII }) {
            host = host.lowercased()
        } else {
            // Foundation's IDNA (UTS 46) mapping: the encoded host of a URL with this authority.
            guard let encoded = URLComponents(string: "https://\(host)/")?.encodedHost else { return nil }
            host = encoded.lowercased()
        }
        guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }) else { return nil }
        return host
    }
}
