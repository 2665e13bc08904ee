import EWSProbeTransport
import Foundation

/// Replaces every known secret, in every form a server or a mistake could reflect it, with a
/// placeholder. A hostile or careless server may echo the `Authorization` header (or the password
/// it decoded) in any text it returns, so text that came from outside passes through here before
/// it is stored, rendered or logged.
public struct SecretRedactor: Sendable {
    public static let placeholder = "<redacted>"
    public static let none = SecretRedactor(forms: [])

    /// Every form of every secret, longest first so a long form is never cut by a shorter one.
    let forms: [String]

    init(forms: Set<String>) {
        self.forms = forms.filter { !$0.isEmpty }.sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    /// The forms of `password`, with `username` for the Basic header's `user:password`.
    public init(password: Secret, username: String?) {
        self.init(forms: Self.forms(of: password.reveal(), username: username))
    }

    /// Client secrets, assertions and tokens: each as sent (plain, base64, percent-encoded) and,
    /// for a JWS, its signature on its own (a server that echoes part of a token echoes that).
    public init(tokens: [Secret]) {
        var forms: Set<String> = []
        for token in tokens {
            let text = token.reveal()
            forms.formUnion(Self.forms(of: text, username: nil))
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            if parts.count == 3, parts[2].count >= 16 { forms.insert(String(parts[2])) }
        }
        self.init(forms: forms)
    }

    public var isEmpty: Bool { forms.isEmpty }

    /// This redactor and `other` together.
    public func merged(with other: SecretRedactor) -> SecretRedactor {
        SecretRedactor(forms: Set(forms).union(other.forms))
    }

    /// The password as sent or reflected: plain, base64 of the Basic pair and of the password
    /// alone (with and without padding), percent-encoded as the common encoders do (`+` for a
    /// space too). NTLM sends only hashes, so it adds no form.
    static func forms(of password: String, username: String?) -> Set<String> {
        var plain: Set<String> = [password]
        if let username { plain.insert("\(username):\(password)") }
        var forms = plain
        for text in plain {
            let base64 = Data(text.utf8).base64EncodedString()
            forms.insert(base64)
            forms.insert(base64.replacingOccurrences(of: "=", with: ""))  // '=' is only ever padding
        }
        forms.formUnion(percentEncodings(of: password))
        return forms
    }

    static func percentEncodings(of text: String) -> Set<String> {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        var encodings: Set<String> = []
        for allowed in [unreserved, .urlQueryAllowed, .urlPathAllowed, .urlUserAllowed, .urlPasswordAllowed] {
            guard let encoded = text.addingPercentEncoding(withAllowedCharacters: allowed), encoded != text else { continue }
            encodings.insert(encoded)
            encodings.insert(encoded.replacingOccurrences(of: "%20", with: "+"))
        }
        return encodings
    }

    /// Case-insensitive: parsers lower-case what they read (an auth scheme becomes a label in
    /// lower case) and percent-encoders differ in the case of their hex digits.
    public func redact(_ text: String) -> String {
        guard !forms.isEmpty else { return text }
        var out = text
        for form in forms where out.range(of: form, options: .caseInsensitive) != nil {
            out = out.replacingOccurrences(of: form, with: Self.placeholder, options: .caseInsensitive)
        }
        return out
    }

    /// Every string of a result: summary, trace, notes, details (keys and values) and the
    /// measurements' label values.
    public func redact(_ result: CheckResult) -> CheckResult {
        guard !forms.isEmpty else { return result }
        var out = result
        out.summary = redact(result.summary)
        out.trace = result.trace.map(redact)
        out.notes = result.notes.map(redact)
        out.details = result.details.map { (key: String, value: JSONValue) in (redact(key), redact(value)) }
        for index in out.measurements.indices {
            out.measurements[index].labels = out.measurements[index].labels.map { ($0.0, redact($0.1)) }
        }
        return out
    }

    public func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): .string(redact(text))
        case .array(let items): .array(items.map(redact))
        case .object(let pairs): .object(pairs.map { (redact($0.0), redact($0.1)) })
        case .number, .int, .bool, .null: value
        }
    }
}
