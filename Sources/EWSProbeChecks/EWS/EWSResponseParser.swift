import Foundation

/// What an EWS SOAP answer says, read with a small bounded tag scanner: no DTDs, no entity
/// expansion, linear in the body, so a hostile or huge answer cannot hurt the prober.
public struct EWSAnswer: Sendable, Equatable {
    /// A SOAP envelope was found.
    public var isSOAP = false
    public var responseClass: String?
    public var responseCode: String?
    public var messageText: String?
    public var faultCode: String?
    public var faultString: String?
    /// Attributes of `ServerVersionInfo` (MajorVersion, MinorVersion, MajorBuildNumber, ...).
    public var serverVersion: [String: String] = [:]

    public init() {}

    /// The first error code the answer carries, whichever way it was reported.
    public var errorCode: String? {
        if let code = responseCode, code != "NoError" { return code }
        if let fault = faultCode {
            let local = fault.split(separator: ":").last.map(String.init) ?? fault
            return local.hasPrefix("Error") ? local : (responseCode ?? local)
        }
        if responseClass == "Error" { return responseCode ?? "Error" }
        return nil
    }

    public var versionText: String? {
        guard let major = serverVersion["MajorVersion"] else { return nil }
        return [major, serverVersion["MinorVersion"], serverVersion["MajorBuildNumber"], serverVersion["MinorBuildNumber"]]
            .compactMap { $0 }.joined(separator: ".")
    }
}

public enum EWSResponseParser {
    public static func parse(_ text: String) -> EWSAnswer {
        var answer = EWSAnswer()
        let bytes = Array(text.utf8)
        var index = 0
        var openElement: String?  // the element whose text we want next
        var steps = 0
        while index < bytes.count, steps < 100_000 {
            steps += 1
            guard bytes[index] == UInt8(ascii: "<") else {
                let start = index
                while index < bytes.count, bytes[index] != UInt8(ascii: "<") { index += 1 }
                if let element = openElement {
                    let value = decodeEntities(String(decoding: bytes[start..<index], as: UTF8.self)).trimmingCharacters(
                        in: .whitespacesAndNewlines)
                    assign(element, value, to: &answer)
                    openElement = nil
                }
                continue
            }
            guard let end = tagEnd(bytes, from: index + 1) else { break }
            let tag = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
            index = end + 1
            if tag.hasPrefix("/") || tag.hasPrefix("?") || tag.hasPrefix("!") { continue }
            let name = localName(of: tag)
            let attributes = attributesOf(tag)
            switch name {
            case "Envelope": answer.isSOAP = true
            case "ServerVersionInfo": answer.serverVersion = attributes
            default:
                if name.hasSuffix("ResponseMessage"), answer.responseClass == nil, let cls = attributes["ResponseClass"] {
                    answer.responseClass = cls
                }
            }
            if ["ResponseCode", "MessageText", "faultcode", "faultstring"].contains(name), !tag.hasSuffix("/") {
                openElement = name
            }
        }
        return answer
    }

    /// The `>` that ends the tag starting before `start`, quoted attribute values skipped.
    static func tagEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var end = start
        var quote: UInt8?
        while end < bytes.count {
            let c = bytes[end]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
                quote = c
            } else if c == UInt8(ascii: ">") {
                return end
            }
            end += 1
        }
        return nil
    }

    static func assign(_ element: String, _ value: String, to answer: inout EWSAnswer) {
        switch element {
        case "ResponseCode": if answer.responseCode == nil || answer.responseCode == "NoError" { answer.responseCode = value }
        case "MessageText": if answer.messageText == nil { answer.messageText = value }
        case "faultcode": answer.faultCode = value
        case "faultstring": answer.faultString = value
        default: break
        }
    }

    static func localName(of tag: String) -> String {
        let name = tag.prefix { !$0.isWhitespace && $0 != "/" }
        return String(name.split(separator: ":").last ?? name[...])
    }

    static func attributesOf(_ tag: String) -> [String: String] {
        var result: [String: String] = [:]
        var rest = Substring(tag.drop { !$0.isWhitespace })
        while let eq = rest.firstIndex(of: "=") {
            let name = rest[..<eq].trimmingCharacters(in: .whitespaces)
            var after = rest[rest.index(after: eq)...].drop { $0.isWhitespace }
            guard let quote = after.first, quote == "\"" || quote == "'" else { break }
            after = after.dropFirst()
            guard let close = after.firstIndex(of: quote) else { break }
            let local = String(name.split(separator: ":").last ?? Substring(name))
            if result.count < 64 { result[local] = decodeEntities(String(after[..<close])) }
            rest = after[after.index(after: close)...]
        }
        return result
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Escapes text for an XML element or attribute value.
    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&apos;")
    }
}
