/// How a byte stream to an address is secured before the protocol on it starts: the connector
/// part of the transport seam. HTTPS, LDAPS and a StartTLS directory judge their certificate
/// with the same handshake code; a CONNECT tunnel through a proxy is a preamble before TLS.
public enum StreamSecurity: Sendable {
    /// TCP only.
    case plain
    /// A TLS handshake at connect; `serverName` goes in SNI (not for IP literals).
    case tls(serverName: String, legacy: Bool)
    /// A plaintext exchange first (LDAP's StartTLS, SMTP's STARTTLS, an HTTP CONNECT tunnel),
    /// then the handshake on the same connection.
    case preambleThenTLS(any StreamPreamble, serverName: String, legacy: Bool)
    /// A plaintext exchange, then the protocol in clear (a CONNECT tunnel to plain http).
    case preamble(any StreamPreamble)

    var preamble: (any StreamPreamble)? {
        switch self {
        case .preambleThenTLS(let preamble, _, _), .preamble(let preamble): preamble
        case .plain, .tls: nil
        }
    }

    /// The handshake's server name and level, when there is a handshake.
    var handshake: (serverName: String, legacy: Bool)? {
        switch self {
        case .tls(let name, let legacy), .preambleThenTLS(_, let name, let legacy): (name, legacy)
        case .plain, .preamble: nil
        }
    }
}
