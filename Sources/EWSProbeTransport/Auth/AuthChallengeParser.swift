/// One challenge of a `WWW-Authenticate` header (RFC 7235 §2.1).
public struct AuthChallenge: Sendable, Equatable {
    /// The scheme as the server wrote it; compare with `normalizedScheme`.
    public var scheme: String
    public var token68: String?
    public var parameters: [AuthParameter]

    public init(scheme: String, token68: String? = nil, parameters: [AuthParameter] = []) {
        self.scheme = scheme
        self.token68 = token68
        self.parameters = parameters
    }

    public var normalizedScheme: String { scheme.lowercased() }

    /// A parameter's value; names are case-insensitive.
    public func parameter(_ name: String) -> String? {
        parameters.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

public struct AuthParameter: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Parses `WWW-Authenticate` values per RFC 7235: several challenges per line separated by
/// commas, auth-params whose quoted-string values may hold commas and escapes, and token68.
/// Splitting on commas is what naive parsers do and where they go wrong. The parser is total:
/// malformed input yields the challenges it could read, never a trap.
public enum AuthChallengeParser {
    public static func parse(headers: [String]) -> [AuthChallenge] {
        headers.flatMap { parse($0) }
    }

    public static func parse(_ header: String) -> [AuthChallenge] {
        var scanner = Scanner(Array(header.utf8))
        var challenges: [AuthChallenge] = []
        while true {
            scanner.skipListSeparators()
            guard !scanner.atEnd else { break }
            guard let scheme = scanner.token() else {
                scanner.skipToNextComma()  // garbage: resynchronise at the next list element
                continue
            }
            var challenge = AuthChallenge(scheme: scheme)
            scanner.skipSpaces()
            if let token68 = scanner.token68() {
                challenge.token68 = token68
            } else {
                challenge.parameters = scanner.authParameters()
            }
            challenges.append(challenge)
        }
        return challenges
    }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        static let tokenExtras = Array("!#$%&'*+-.^_`|~".utf8)
        static let token68Extras = Array("-._~+/".utf8)

        static func isTokenChar(_ c: UInt8) -> Bool { isAlphanumeric(c) || tokenExtras.contains(c) }

        static func isToken68Char(_ c: UInt8) -> Bool { isAlphanumeric(c) || token68Extras.contains(c) }

        static func isAlphanumeric(_ c: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
        }

        mutating func skipSpaces() {
            while let c = current, c == 0x20 || c == 0x09 { index += 1 }
        }

        mutating func skipListSeparators() {
            while let c = current, c == 0x20 || c == 0x09 || c == UInt8(ascii: ",") { index += 1 }
        }

        mutating func skipToNextComma() {
            while let c = current, c != UInt8(ascii: ",") { index += 1 }
        }

        mutating func token() -> String? {
            let start = index
            while let c = current, Scanner.isTokenChar(c) { index += 1 }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }

        /// token68 only when it is the whole rest of the challenge (then end or a comma).
        mutating func token68() -> String? {
            let start = index
            var end = index
            while end < bytes.count, Scanner.isToken68Char(bytes[end]) { end += 1 }
            guard end > start else { return nil }
            while end < bytes.count, bytes[end] == UInt8(ascii: "=") { end += 1 }
            var after = end
            while after < bytes.count, bytes[after] == 0x20 || bytes[after] == 0x09 { after += 1 }
            guard after == bytes.count || bytes[after] == UInt8(ascii: ",") else { return nil }
            index = after
            return String(decoding: bytes[start..<end], as: UTF8.self)
        }

        /// Is the text at the cursor `token BWS "="` (a parameter rather than a new challenge)?
        func looksLikeParameter() -> Bool {
            var probe = self
            guard probe.token() != nil else { return false }
            probe.skipSpaces()
            guard probe.current == UInt8(ascii: "=") else { return false }
            // "scheme =..." never starts a challenge, but "token68==" would: check it is not padding.
            probe.index += 1
            return probe.current != UInt8(ascii: "=")
        }

        mutating func authParameters() -> [AuthParameter] {
            var parameters: [AuthParameter] = []
            while true {
                skipSpaces()
                guard looksLikeParameter(), let name = token() else { return parameters }
                skipSpaces()
                index += 1  // "="
                skipSpaces()
                let value: String
                if current == UInt8(ascii: "\"") {
                    value = quotedString()
                } else {
                    value = token() ?? ""
                }
                parameters.append(AuthParameter(name, value))
                skipSpaces()
                guard current == UInt8(ascii: ",") else {
                    if !atEnd { skipToNextComma() }
                    if atEnd { return parameters }
                    continue
                }
                // After a comma: another parameter of this challenge, or the next challenge.
                var probe = self
                probe.skipListSeparators()
                guard probe.looksLikeParameter() else { return parameters }
                self = probe
            }
        }

        /// A quoted-string with backslash escapes; an unterminated one runs to the end.
        mutating func quotedString() -> String {
            index += 1
            var out: [UInt8] = []
            while let c = current {
                index += 1
                if c == UInt8(ascii: "\"") { break }
                if c == UInt8(ascii: "\\"), let escaped = current {
                    out.append(escaped)
                    index += 1
                } else {
                    out.append(c)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
