/// How an exchange may use connections: checks say which they need, the transport keeps to it.
public enum ConnectionPolicy: Sendable {
    /// Open the connection (TCP, plus TLS for https) on its own, send nothing, close it.
    case connectOnly
    /// One exchange on a new connection of its own, closed afterwards: no later exchange can
    /// reuse it and it reuses none (the probe's SOAP POST, a login, one NTLM leg).
    case oneShot
    /// May reuse a kept-alive connection of the scope and leaves its own for the scope's later
    /// exchanges (NTLM legs on one connection, the redirects a browser would follow).
    case pooled(ConnectionScope)

    var scope: ConnectionScope? {
        if case .pooled(let scope) = self { return scope }
        return nil
    }

    var isConnectOnly: Bool {
        if case .connectOnly = self { return true }
        return false
    }
}
