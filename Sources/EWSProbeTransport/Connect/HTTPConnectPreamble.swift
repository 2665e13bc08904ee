/// `CONNECT host:port` to an HTTP proxy: a 2xx answer opens the tunnel (RFC 9110 §9.3.6).
public struct HTTPConnectPreamble: StreamPreamble {
    public let authority: String
    public let headers: [(String, String)]
    /// A proxy's answer head larger than this is not one.
    static let answerLimit = 16 * 1024

    public init(host: String, port: Int, headers: [(String, String)] = []) {
        authority = "\(IPAddress.bracketed(host)):\(port)"
        self.headers = headers
    }

    public var request: [UInt8] {
        var text = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    public func verdict(_ received: [UInt8]) -> PreambleVerdict {
        guard let end = Self.headEnd(received) else {
            return received.count > Self.answerLimit ? .refused("the proxy's answer has no end of header") : .needMore
        }
        let statusLine = String(decoding: received.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            return .refused("not an HTTP proxy answer")
        }
        guard (200..<300).contains(status) else { return .refused("the proxy answered CONNECT with status \(status)") }
        return .proceed(consumed: end)
    }

    /// The offset just past the blank line ending the head, if it has arrived.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count where bytes[index] == 0x0A {
            if bytes[index - 1] == 0x0A { return index + 1 }
            if bytes[index - 1] == 0x0D, bytes[index - 2] == 0x0A { return index + 1 }
        }
        return nil
    }
}
