import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal stub resolver: asks one DNS server for A and AAAA over UDP and reads the answers.
/// Used when a module names its own DNS server; the parser is bounds-checked throughout because
/// the answer comes from the network.
struct DNSClient: Sendable {
    var server: String
    var port: Int

    /// Blocking: run on a worker thread.
    func lookup(_ host: String, timeout: Duration) -> Result<[String], ResolveFailure> {
        guard let questionName = DNSMessage.encodeName(host) else {
            return .failure(.resolverError("\"\(host)\" is not a valid DNS name"))
        }
        let family = IPAddress.isV6(server) ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return .failure(.resolverError("socket: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        guard connectSocket(fd, family: family) else {
            return .failure(
                .resolverError("cannot reach DNS server \(IPAddress.endpoint(server, port)): \(String(cString: strerror(errno)))"))
        }
        let baseID = UInt16.random(in: 0...0xFFFD)
        let queries: [(UInt16, UInt16)] = [(baseID, 1), (baseID &+ 1, 28)]
        for (id, type) in queries {
            let packet = DNSMessage.query(id: id, name: questionName, type: type)
            _ = packet.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        }
        var pending = Set(queries.map(\.0))
        var v4: [String] = []
        var v6: [String] = []
        var nxdomain = false
        var failure: String?
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !pending.isEmpty {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return .failure(.timeout) }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(max(1, remaining.milliseconds)))
            if ready == 0 { return .failure(.timeout) }
            if ready < 0 {
                if errno == EINTR { continue }
                return .failure(.resolverError("poll: \(String(cString: strerror(errno)))"))
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count < 0 {
                return .failure(.resolverError("DNS server \(IPAddress.endpoint(server, port)): \(String(cString: strerror(errno)))"))
            }
            guard let answer = DNSMessage.parseResponse(Array(buffer[0..<count])), pending.contains(answer.id) else {
                continue  // not ours or malformed: keep waiting until the deadline
            }
            pending.remove(answer.id)
            switch answer.rcode {
            case 0:
                for address in answer.addresses {
                    if address.contains(":") {
                        if !v6.contains(address) { v6.append(address) }
                    } else if !v4.contains(address) {
                        v4.append(address)
                    }
                }
            case 3: nxdomain = true
            default: failure = "DNS server answered \(DNSMessage.rcodeName(answer.rcode))"
            }
        }
        if nxdomain { return .failure(.nxdomain) }
        if let failure, v4.isEmpty, v6.isEmpty { return .failure(.resolverError(failure)) }
        let all = v4 + v6
        return all.isEmpty ? .failure(.noAddresses) : .success(all)
    }

    private func connectSocket(_ fd: Int32, family: Int32) -> Bool {
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, server, &address.sin6_addr) == 1 else { return false }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0 }
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, server, &address.sin_addr) == 1 else { return false }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

/// DNS wire format (RFC 1035), just what a stub needs.
enum DNSMessage {
    struct Response {
        var id: UInt16
        var rcode: Int
        var addresses: [String]
    }

    static func encodeName(_ host: String) -> [UInt8]? {
        var out: [UInt8] = []
        let trimmed = host.hasSuffix(".") ? String(host.dropLast()) : host
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count <= 63 else { return nil }
            out.append(UInt8(bytes.count))
            out += bytes
        }
        out.append(0)
        return out.count <= 255 ? out : nil
    }

    static func query(id: UInt16, name: [UInt8], type: UInt16) -> [UInt8] {
        var packet: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xFF), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        packet += name
        packet += [UInt8(type >> 8), UInt8(type & 0xFF), 0, 1]
        return packet
    }

    static func rcodeName(_ rcode: Int) -> String {
        switch rcode {
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        default: "rcode \(rcode)"
        }
    }

    /// Parses a response; nil when it is malformed or not a response.
    static func parseResponse(_ bytes: [UInt8]) -> Response? {
        guard bytes.count >= 12, bytes[2] & 0x80 != 0 else { return nil }
        let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let rcode = Int(bytes[3] & 0x0F)
        let questions = Int(bytes[4]) << 8 | Int(bytes[5])
        let answers = Int(bytes[6]) << 8 | Int(bytes[7])
        var offset = 12
        for _ in 0..<questions {
            guard let next = skipName(bytes, offset), next + 4 <= bytes.count else { return nil }
            offset = next + 4
        }
        var addresses: [String] = []
        for _ in 0..<answers {
            guard let next = skipName(bytes, offset), next + 10 <= bytes.count else { return nil }
            let type = Int(bytes[next]) << 8 | Int(bytes[next + 1])
            let length = Int(bytes[next + 8]) << 8 | Int(bytes[next + 9])
            let dataStart = next + 10
            guard dataStart + length <= bytes.count else { return nil }
            if type == 1, length == 4 {
                addresses.append(bytes[dataStart..<dataStart + 4].map(String.init).joined(separator: "."))
            } else if type == 28, length == 16 {
                var raw = in6_addr()
                withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes[dataStart..<dataStart + 16]) }
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                if inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count)) != nil {
                    addresses.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                }
            }
            offset = dataStart + length
        }
        return Response(id: id, rcode: rcode, addresses: addresses)
    }

    /// The offset after a (possibly compressed) name.
    static func skipName(_ bytes: [UInt8], _ start: Int) -> Int? {
        var offset = start
        var steps = 0
        while offset < bytes.count, steps < 128 {
            steps += 1
            let length = Int(bytes[offset])
            if length == 0 { return offset + 1 }
            if length & 0xC0 == 0xC0 { return offset + 2 <= bytes.count ? offset + 2 : nil }
            guard length & 0xC0 == 0 else { return nil }
            offset += 1 + length
        }
        return nil
    }
}
