import Foundation

/// Refuses the YAML shapes whose cost is not bounded by the size of the text, before Yams sees
/// it: an alias used as a mapping key (Yams hashes every key to find duplicates, and an alias
/// of nested aliases expands exponentially: 300 bytes took 15 s), and more aliases than any
/// real configuration writes. Aliases as values stay allowed: the schema reads them as flat
/// scalars and lists, so their expansion is never walked.
enum YAMLAliasGuard {
    static let maxAliases = 1000

    /// The line and message of the first problem, or nil.
    static func problem(in yaml: String) -> (line: Int, message: String)? {
        var aliases = 0
        for (index, raw) in yaml.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = unquoted(raw)
            aliases += line.filter { $0 == "*" }.count
            if aliases > maxAliases {
                return (index + 1, "more than \(maxAliases) YAML aliases")
            }
            if line.range(of: #"(^|[\s,{\[?])\*[^\s,\[\]{}:]+\s*:(\s|$)"#, options: .regularExpression) != nil
                || line.range(of: #"(^|\s)\?\s+\*"#, options: .regularExpression) != nil
            {
                return (index + 1, "a YAML alias cannot be a mapping key")
            }
        }
        return nil
    }

    /// The line without quoted strings and its comment, so a `*` inside text is not an alias.
    private static func unquoted(_ line: Substring) -> String {
        var out = ""
        var quote: Character?
        var previous: Character = " "
        for c in line {
            if let open = quote {
                if c == open { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "#" && previous.isWhitespace {
                break
            } else {
                out.append(c)
            }
            previous = c
        }
        return out
    }
}
