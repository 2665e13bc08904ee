#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small helpers for textual IP addresses.
public enum IPAddress {
    public static func isV4(_ text: String) -> Bool {
        var addr = in_addr()
        return inet_pton(AF_INET, text, &addr) == 1
    }

    public static func isV6(_ text: String) -> Bool {
        var addr = in6_addr()
        return inet_pton(AF_INET6, text, &addr) == 1
    }

    public static func isLiteral(_ text: String) -> Bool { isV4(text) || isV6(text) }

    /// IPv6 in brackets, as URLs and curl's pins want it.
    public static func bracketed(_ text: String) -> String { isV6(text) ? "[\(text)]" : text }

    /// `address:port` with brackets for IPv6, as metrics and reports show an endpoint.
    public static func endpoint(_ address: String, _ port: Int) -> String { "\(bracketed(address)):\(port)" }

    /// The numeric text of a socket address (getnameinfo with NI_NUMERICHOST).
    static func numericHost(_ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t) -> String? {
        guard let address else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(address, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 else {
            return nil
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
