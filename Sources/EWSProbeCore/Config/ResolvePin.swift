/// curl's `--resolve` syntax, `HOST:PORT:ADDR[,ADDR...]`: probe a given node behind a name
/// without DNS. IPv6 addresses go in brackets (`mail.example.com:443:[::1]`).
import EWSProbeTransport

public struct ResolvePin: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var addresses: [String]

    public init(host: String, port: Int, addresses: [String]) {
        self.host = host
        self.port = port
        self.addresses = addresses
    }

    /// Parses the curl syntax; returns a message naming the problem when the text is wrong.
    public static func parse(_ text: String) -> Result<ResolvePin, ResolvePinError> {
        let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty else {
            return .failure(ResolvePinError(text: text, problem: "expected HOST:PORT:ADDR[,ADDR...]"))
        }
        guard let port = Int(parts[1]), (1...65535).contains(port) else {
            return .failure(ResolvePinError(text: text, problem: "port \"\(parts[1])\" is not 1-65535"))
        }
        var addresses: [String] = []
        for raw in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
            var address = String(raw).trimmingCharacters(in: .whitespaces)
            if address.hasPrefix("[") && address.hasSuffix("]") {
                address = String(address.dropFirst().dropLast())
            }
            guard IPAddress.isLiteral(address) else {
                return .failure(ResolvePinError(text: text, problem: "\"\(raw)\" is not an IP address"))
            }
            addresses.append(address)
        }
        guard !addresses.isEmpty else {
            return .failure(ResolvePinError(text: text, problem: "no address given"))
        }
        guard let host = HostName.asciiForm(String(parts[0])) else {
            return .failure(ResolvePinError(text: text, problem: "\"\(parts[0])\" is not a host name"))
        }
        return .success(ResolvePin(host: host, port: port, addresses: addresses))
    }

    public func matches(host: String, port: Int) -> Bool {
        self.host == host.lowercased() && self.port == port
    }

    public var description: String {
        "\(host):\(port):" + addresses.map { IPAddress.bracketed($0) }.joined(separator: ",")
    }
}

public struct ResolvePinError: Error, CustomStringConvertible, Sendable {
    public var text: String
    public var problem: String
    public var description: String { "invalid resolve pin \"\(text)\": \(problem)" }
}
