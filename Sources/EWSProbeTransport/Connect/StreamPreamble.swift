/// A plaintext request and its answer before the stream's real protocol starts. Pure logic,
/// fed by the connector: it never touches a socket.
public protocol StreamPreamble: Sendable {
    /// What the client sends first.
    var request: [UInt8] { get }
    /// Judges the bytes received so far (a preamble of several rounds keeps its state).
    mutating func verdict(_ received: [UInt8]) -> PreambleVerdict
    /// What a proxy said to CONNECT, for a proxy tunnel.
    var proxyOutcome: ProxyOutcome? { get }
}

extension StreamPreamble {
    public var proxyOutcome: ProxyOutcome? { nil }
}

public enum PreambleVerdict: Sendable, Equatable {
    /// The answer is not complete yet.
    case needMore
    /// The peer agreed: the protocol (or the handshake) starts after `consumed` bytes.
    case proceed(consumed: Int)
    /// The peer said no, or said something else; the reason names what it said.
    case refused(String)
    /// Another round (a proxy's authentication): send `request`, on a new connection when the
    /// peer closes this one.
    case again(request: [UInt8], reconnect: Bool)
}
