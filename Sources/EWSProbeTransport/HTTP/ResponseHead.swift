/// The status line and header lines of an HTTP/1.x response, fed one line at a time (without
/// its line ending). A new status line starts over: interim responses (100 Continue) and earlier
/// NTLM legs are forgotten, the final response's head stays.
struct ResponseHead {
    var status = 0
    var httpVersion = ""
    var headers: [(String, String)] = []
    /// Whether any status line was seen.
    var started = false

    /// Byte-level parsing: this runs for every header line of every exchange.
    mutating func add(line: UnsafeRawBufferPointer) {
        if line.starts(with: "HTTP/".utf8) {
            let parts = String(decoding: line, as: UTF8.self).split(separator: " ", maxSplits: 2)
            httpVersion = parts.first.map { String($0.dropFirst(5)) } ?? ""
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers.removeAll()
            started = true
        } else if line.isEmpty {
            return
        } else if line[0] == 0x20 || line[0] == 0x09, !headers.isEmpty {
            headers[headers.count - 1].1 += " " + Self.trimmed(line[...])
        } else if let colon = line.firstIndex(of: 0x3A) {
            headers.append((String(decoding: line[..<colon], as: UTF8.self), Self.trimmed(line[(colon + 1)...])))
        }
    }

    /// The line without its trailing CR/LF.
    static func stripped(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[0..<end])
    }

    /// All values of a header, case-insensitively.
    func values(_ name: String) -> [String] {
        headers.filter { Self.sameName($0.0, name) }.map(\.1)
    }

    /// ASCII case-insensitive equality of header names, without building lowercased copies.
    static func sameName(_ a: String, _ b: String) -> Bool {
        func lower(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }
        return a.utf8.count == b.utf8.count && zip(a.utf8, b.utf8).allSatisfy { lower($0) == lower($1) }
    }

    /// The bytes as text without surrounding spaces and tabs.
    static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}
