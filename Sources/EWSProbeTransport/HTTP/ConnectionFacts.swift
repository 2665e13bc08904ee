/// Facts about the connection an exchange used.
public struct ConnectionFacts: Sendable, Equatable {
    public var peerAddress: String = ""
    public var peerPort: Int = 0
    public var localAddress: String = ""
    public var localPort: Int = 0
    /// New connections this exchange opened: 0 means it ran on a reused connection.
    public var newConnections: Int = 0
    /// The proxy's answers to CONNECT, when the connection went through one.
    public var proxy: ProxyOutcome?

    public init() {}

    public var reused: Bool { newConnections == 0 && localPort != 0 }
}
