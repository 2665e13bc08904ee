import EWSProbeTransport

extension YAMLSection {
    /// `source_address`: the local IP address outgoing connections bind to (blackbox_exporter's
    /// `source_ip_address`), for a prober on a multi-homed host. Only a literal: no interface
    /// name, no host name to look up.
    func sourceAddress() throws -> String {
        let text = try nonEmptyString()
        guard IPAddress.isLiteral(text) else {
            throw error("\"\(text)\" is not an IP address (source_address is a local IPv4 or IPv6 literal)")
        }
        return text
    }
}
