/// Reads an Autodiscover POX answer with a small bounded tag scanner, like `EWSResponseParser`:
/// a document type declaration (where entity bombs and external references live) refuses the
/// answer unread, entities other than XML's five and character references are left as they are,
/// and depth and element count are capped, so a hostile answer costs at most one pass over the
/// bytes the transport let through (256 KiB).
public enum AutodiscoverResponseParser {
    static let maxDepth = 32
    static let maxElements = 20_000

    public static func parse(_ bytes: [UInt8]) -> AutodiscoverAnswer {
        var answer = AutodiscoverAnswer()
        var stack: [String] = []
        var text: [UInt8] = []
        var protocolType: String?
        var protocolEwsURL: String?
        var action: String?
        var redirect: String?
        var index = 0
        var elements = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "<") else {
                let start = index
                while index < bytes.count, bytes[index] != UInt8(ascii: "<") { index += 1 }
                if text.count < 8192 { text += bytes[start..<min(index, start + 8192)] }
                continue
            }
            // Comments and CDATA sections end at their own terminators, not at the first '>'.
            if starts(bytes, index, "<!--") {
                guard let end = find(bytes, "-->", from: index + 4) else { break }
                index = end + 3
                continue
            }
            if starts(bytes, index, "<![CDATA[") {
                guard let end = find(bytes, "]]>", from: index + 9) else { break }
                if text.count < 8192 { text += bytes[(index + 9)..<min(end, index + 9 + 8192)] }
                index = end + 3
                continue
            }
            if starts(bytes, index, "<!") {
                answer.refusal = "the answer declares a document type (entities are not expanded)"
                return answer
            }
            guard let end = EWSResponseParser.tagEnd(bytes, from: index + 1) else {
                answer.refusal = "the XML ends inside a tag"
                return answer
            }
            let tag = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
            index = end + 1
            if tag.hasPrefix("?") { continue }
            if tag.hasPrefix("/") {
                let name = EWSResponseParser.localName(of: String(tag.dropFirst()))
                guard stack.last == name else {
                    answer.refusal = "the XML is not well formed (</\(name.prefix(40))> closes <\(stack.last?.prefix(40) ?? "nothing")>)"
                    return answer
                }
                let value = EWSResponseParser.decodeEntities(String(decoding: text, as: UTF8.self))
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                text.removeAll(keepingCapacity: true)
                stack.removeLast()
                let parent = stack.last
                switch name {
                case "Action" where parent == "Account": action = value
                case "RedirectAddr" where parent == "Account", "RedirectUrl" where parent == "Account": redirect = value
                case "Type" where parent == "Protocol": protocolType = value
                case "EwsUrl" where parent == "Protocol": protocolEwsURL = value
                case "Protocol":
                    if protocolType == "EXPR", answer.externalEwsURL == nil { answer.externalEwsURL = protocolEwsURL }
                    if protocolType == "EXCH", answer.internalEwsURL == nil { answer.internalEwsURL = protocolEwsURL }
                    (protocolType, protocolEwsURL) = (nil, nil)
                case "ErrorCode" where parent == "Error": answer.errorCode = value
                case "Message" where parent == "Error": answer.errorMessage = value
                default: break
                }
                continue
            }
            text.removeAll(keepingCapacity: true)
            elements += 1
            let name = EWSResponseParser.localName(of: tag)
            if stack.isEmpty {
                guard name == "Autodiscover" else {
                    answer.refusal = "the answer's root element is <\(name.prefix(40))>, not <Autodiscover>"
                    return answer
                }
                answer.isAutodiscover = true
            }
            // `<Protocol Type="EXPR">`: the type as an attribute (some servers) counts too.
            if name == "Protocol", let type = EWSResponseParser.attributesOf(tag)["Type"] { protocolType = type }
            if !tag.hasSuffix("/") { stack.append(name) }
            guard stack.count <= maxDepth, elements <= maxElements else {
                answer.refusal = "the answer nests deeper than \(maxDepth) or has more than \(maxElements) elements"
                return answer
            }
        }
        guard answer.isAutodiscover else {
            answer.refusal = "the answer is not XML"
            return answer
        }
        guard stack.isEmpty else {
            answer.refusal = "the XML ends before <\(stack.last ?? "")> is closed"
            return answer
        }
        switch action?.lowercased() {
        case "settings": answer.action = .settings
        case "redirectaddr": answer.action = redirect.map { .redirectAddress($0) }
        case "redirecturl": answer.action = redirect.map { .redirectURL($0) }
        default: break
        }
        return answer
    }

    static func starts(_ bytes: [UInt8], _ index: Int, _ prefix: String) -> Bool {
        let p = Array(prefix.utf8)
        return index + p.count <= bytes.count && bytes[index..<(index + p.count)].elementsEqual(p)
    }

    static func find(_ bytes: [UInt8], _ needle: String, from start: Int) -> Int? {
        let n = Array(needle.utf8)
        guard start + n.count <= bytes.count else { return nil }
        var index = start
        while index + n.count <= bytes.count {
            if bytes[index] == n[0], bytes[index..<(index + n.count)].elementsEqual(n) { return index }
            index += 1
        }
        return nil
    }
}
