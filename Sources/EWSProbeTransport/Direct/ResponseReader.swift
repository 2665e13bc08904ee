/// Reads one HTTP/1.1 response as its bytes arrive: the head (interim 1xx responses skipped),
/// then the body by Content-Length, by chunked coding or until the connection closes.
/// Pure logic: the direct client feeds it, the unit tests and the fuzzer call it directly.
struct ResponseReader {
    enum Failure: Error, Equatable {
        case tooLarge(String)
        case malformed(String)
        /// The connection ended before any response byte.
        case empty
    }

    private enum Phase {
        case head
        case length(Int)
        case chunkSize
        case chunkData(Int)
        case chunkEnd
        case trailer
        case untilClose
        case done
    }

    let headerLimit: Int
    let bodyLimit: Int
    /// False for HEAD: the head is the whole response.
    let bodyExpected: Bool
    private(set) var head = ResponseHead()
    private(set) var body: [UInt8] = []
    private(set) var bodyTruncated = false
    private var phase = Phase.head
    private var pending: [UInt8] = []
    private var headBytes = 0
    private var receivedAny = false

    /// Bytes of response head either client accepts before calling the answer too large.
    static let headerByteLimit = 256 * 1024
    /// A chunk-size or trailer line longer than this is not HTTP.
    static let controlLineLimit = 4096

    init(headerLimit: Int, bodyLimit: Int, bodyExpected: Bool) {
        self.headerLimit = headerLimit
        self.bodyLimit = bodyLimit
        self.bodyExpected = bodyExpected
    }

    var isDone: Bool {
        if case .done = phase { return true }
        return false
    }

    /// Takes the next bytes from the connection; true once the response is complete (bytes
    /// that came after it in the same read are dropped, as libcurl drops "excess found in a read").
    mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Bool {
        guard !bytes.isEmpty, !isDone else { return isDone }
        receivedAny = true
        pending.append(contentsOf: bytes)
        var offset = 0
        defer { pending.removeFirst(offset) }
        while !isDone {
            switch phase {
            case .head:
                guard let line = try nextLine(&offset, limit: headerLimit - headBytes) else { return false }
                headBytes += line.count + 1
                try headLine(line)
            case .length(let remaining):
                let taken = takeBody(&offset, upTo: remaining)
                if taken == 0 { return false }
                phase = remaining - taken == 0 ? .done : .length(remaining - taken)
            case .chunkSize:
                guard let line = try nextLine(&offset, limit: Self.controlLineLimit) else { return false }
                let digits = line.prefix { $0 != 0x3B }.filter { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }
                guard !digits.isEmpty, digits.count <= 15, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16) else {
                    throw .malformed("invalid chunk size line")
                }
                phase = size == 0 ? .trailer : .chunkData(size)
            case .chunkData(let remaining):
                let taken = takeBody(&offset, upTo: remaining)
                if taken == 0 { return false }
                phase = remaining - taken == 0 ? .chunkEnd : .chunkData(remaining - taken)
            case .chunkEnd:
                guard let line = try nextLine(&offset, limit: Self.controlLineLimit) else { return false }
                guard line.allSatisfy({ $0 == 0x0D }) else { throw .malformed("chunk data longer than its size") }
                phase = .chunkSize
            case .trailer:
                guard let line = try nextLine(&offset, limit: Self.controlLineLimit) else { return false }
                if line.allSatisfy({ $0 == 0x0D }) { phase = .done }
            case .untilClose:
                _ = takeBody(&offset, upTo: Int.max)
                // Past the body limit the response ends, as libcurl's transfer does: a body
                // without end costs the limit, not the timeout.
                guard bodyTruncated else { return false }
                phase = .done
            case .done:
                return true
            }
            if bodyTruncated { phase = .done }
        }
        return true
    }

    /// The connection closed: complete when the body runs until close, else an error.
    mutating func endOfStream() throws(Failure) {
        switch phase {
        case .done: return
        case .untilClose: phase = .done
        case .head: throw receivedAny ? .malformed("connection closed inside the response head") : .empty
        default: throw .malformed("connection closed before the end of the response body")
        }
    }

    /// The next complete line (without LF) from `offset`, or nil when more bytes are needed.
    private func nextLine(_ offset: inout Int, limit: Int) throws(Failure) -> ArraySlice<UInt8>? {
        guard let newline = pending[offset...].firstIndex(of: 0x0A) else {
            if pending.count - offset > limit { throw lineTooLong }
            return nil
        }
        if newline - offset > limit { throw lineTooLong }
        let line = pending[offset..<newline]
        offset = newline + 1
        return line
    }

    private var lineTooLong: Failure {
        if case .head = phase { return .tooLarge("response headers exceed \(headerLimit) bytes") }
        return .malformed("a chunk line exceeds \(Self.controlLineLimit) bytes")
    }

    private mutating func headLine(_ line: ArraySlice<UInt8>) throws(Failure) {
        line.withUnsafeBytes { head.add(line: ResponseHead.stripped($0)) }
        if !head.started {
            // Only a status line may open a response (blank lines before it are tolerated).
            if !line.allSatisfy({ $0 == 0x0D }) { throw .malformed("the reply is not HTTP/1.x") }
            return
        }
        guard line.allSatisfy({ $0 == 0x0D }) else { return }
        guard head.httpVersion.hasPrefix("1."), (100...999).contains(head.status) else {
            throw .malformed("invalid status line (HTTP/\(head.httpVersion) \(head.status))")
        }
        if (100...199).contains(head.status) && head.status != 101 {
            head = ResponseHead()  // interim response: the final one follows
            return
        }
        phase = try bodyPhase()
    }

    private func bodyPhase() throws(Failure) -> Phase {
        if !bodyExpected || head.status == 204 || head.status == 304 || head.status == 101 { return .done }
        if head.values("transfer-encoding").contains(where: { $0.lowercased().contains("chunked") }) { return .chunkSize }
        let lengths = Set(head.values("content-length").flatMap { $0.split(separator: ",").map { $0.trimmingSpaces } })
        guard let text = lengths.first else { return .untilClose }
        guard lengths.count == 1, let length = Int(text), length >= 0 else {
            throw .malformed("invalid Content-Length")
        }
        return length == 0 ? .done : .length(length)
    }

    /// Moves up to `limit` pending bytes into the body (keeping at most `bodyLimit`).
    private mutating func takeBody(_ offset: inout Int, upTo limit: Int) -> Int {
        let count = min(limit, pending.count - offset)
        guard count > 0 else { return 0 }
        let room = bodyLimit - body.count
        if count > room {
            body.append(contentsOf: pending[offset..<(offset + max(0, room))])
            bodyTruncated = true
        } else {
            body.append(contentsOf: pending[offset..<(offset + count)])
        }
        offset += count
        return count
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
