/// Why an exchange did not produce a response.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case timeout, refused, unreachable, resolve, tls, tooLarge, cancelled, protocolError, other
    }

    public var kind: Kind
    /// libcurl's CURLcode, when libcurl ran the exchange.
    public var curlCode: Int?
    /// errno of the failing socket call, when there was one.
    public var osErrno: Int
    /// libcurl's own error text.
    public var message: String
    public var timings: PhaseTimings
    public var connection: ConnectionFacts
    public var tls: TLSFacts

    public var description: String { "\(kind.rawValue): \(message)" }
}
