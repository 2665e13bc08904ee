import EWSProbeTransport
import Foundation

/// The demo's own DNS server on loopback (UDP), so the demo's Autodiscover can be found the way a
/// real one on another port is: by its SRV record. It knows the SRV records
/// `_autodiscover._tcp.DOMAIN` of the demo's mail domains (target `mail.demo.test`, the site's
/// port) and `mail.demo.test` itself; every other name is NXDOMAIN, at once.
final class DemoDNS: Sendable {
    let port: Int
    private let socket: Int32
    private let services: [String: (target: String, port: Int)]

    init(autodiscoverDomains: [String], sitePort: Int) throws {
        let (fd, boundPort) = LoopbackSocket.bind(type: Int32(SOCK_DGRAM.rawValue))
        guard fd >= 0 else { throw DemoError(message: "cannot bind the demo DNS server") }
        socket = fd
        port = boundPort
        var services: [String: (String, Int)] = [:]
        for domain in autodiscoverDomains { services["_autodiscover._tcp.\(domain)"] = ("mail.demo.test", sitePort) }
        self.services = services
        ServiceThread.start("demo-dns") { [self] in serve() }
    }

    private func serve() {
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            var peer = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(socket, &buffer, buffer.count, 0, $0, &length) }
            }
            guard count > 12, let answer = answer(Array(buffer[0..<count])) else { continue }
            _ = withUnsafePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(socket, answer, answer.count, 0, $0, length) }
            }
        }
    }

    /// The answer to one query: the question echoed, then its records (or NXDOMAIN).
    func answer(_ query: [UInt8]) -> [UInt8]? {
        var index = 12
        var labels: [String] = []
        while index < query.count, query[index] != 0 {
            let length = Int(query[index])
            guard length < 64, index + 1 + length < query.count else { return nil }
            labels.append(String(decoding: query[(index + 1)..<(index + 1 + length)], as: UTF8.self).lowercased())
            index += 1 + length
        }
        guard index + 5 <= query.count else { return nil }
        let questionEnd = index + 5
        let type = Int(query[index + 1]) << 8 | Int(query[index + 2])
        let name = labels.joined(separator: ".")
        var records: [[UInt8]] = []
        if type == 33, let service = services[name] {
            records.append(Self.record(type: 33, data: Self.u16(0) + Self.u16(0) + Self.u16(service.port) + Self.encoded(service.target)))
        } else if type == 1, name == "mail.demo.test" {
            records.append(Self.record(type: 1, data: [127, 0, 0, 1]))
        }
        let known = name == "mail.demo.test" || services[name] != nil
        var answer = Array(query[0..<2])
        answer += [0x84 | (query[2] & 0x01), known ? 0x00 : 0x03]  // QR, AA, RD copied; NOERROR or NXDOMAIN
        answer += Self.u16(1) + Self.u16(records.count) + Self.u16(0) + Self.u16(0)
        answer += query[12..<questionEnd]
        for record in records { answer += record }
        return answer
    }

    /// An answer record named by a pointer to the question's name.
    static func record(type: Int, data: [UInt8]) -> [UInt8] {
        [0xC0, 0x0C] + u16(type) + u16(1) + [0, 0, 0, 0] + u16(data.count) + data
    }

    static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }

    static func encoded(_ name: String) -> [UInt8] {
        name.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }
}
