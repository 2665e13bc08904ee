/// A finished HTTP exchange.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var httpVersion: String
    /// Every header line of the final response, in order; repeated names are kept.
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var bodyTruncated: Bool
    public var timings: PhaseTimings
    public var connection: ConnectionFacts
    public var tls: TLSFacts

    /// All values of a header, case-insensitively, in order.
    public func headerValues(_ name: String) -> [String] {
        headers.filter { ResponseHead.sameName($0.0, name) }.map(\.1)
    }

    public func header(_ name: String) -> String? { headerValues(name).first }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}
