import Foundation
import Yams

/// A located view of one YAML node: every accessor that fails throws a `ConfigError` naming
/// the file, the line and the key path, which is the contract for configuration errors.
public struct YAMLSection: @unchecked Sendable {  // Node is an immutable value tree
    public let file: String
    public let path: String
    let node: Node

    init(file: String, path: String, node: Node) {
        self.file = file
        self.path = path
        self.node = node
    }

    var line: Int { node.mark?.line ?? 0 }
    var column: Int { node.mark?.column ?? 0 }

    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, column: column, key: path, message: message)
    }

    func child(_ key: String, _ node: Node) -> YAMLSection {
        YAMLSection(file: file, path: path.isEmpty ? key : "\(path).\(key)", node: node)
    }

    /// The entries of a mapping, in file order; any key outside `allowed` is an error.
    public func entries(allowed: Set<String>? = nil) throws -> [(String, YAMLSection)] {
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping")
        }
        var result: [(String, YAMLSection)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                throw YAMLSection(file: file, path: path, node: keyNode).error("keys must be strings")
            }
            let section = child(key, value)
            if let allowed, !allowed.contains(key) {
                let known = allowed.sorted().joined(separator: ", ")
                throw ConfigError(
                    file: file, line: keyNode.mark?.line ?? line, column: keyNode.mark?.column ?? 0,
                    key: section.path, message: "unknown key (known keys: \(known))")
            }
            result.append((key, section))
        }
        return result
    }

    /// The items of a sequence.
    public func items() throws -> [YAMLSection] {
        guard case .sequence(let sequence) = node else {
            throw error("expected a list")
        }
        return sequence.enumerated().map { index, item in
            YAMLSection(file: file, path: "\(path)[\(index)]", node: item)
        }
    }

    public var isNull: Bool {
        if node.null != nil { return true }
        return false
    }

    public func string() throws -> String {
        guard case .scalar(let scalar) = node else { throw error("expected a string") }
        return scalar.string
    }

    public func nonEmptyString() throws -> String {
        let value = try string()
        guard !value.isEmpty else { throw error("must not be empty") }
        return value
    }

    public func bool() throws -> Bool {
        guard let value = node.bool else { throw error("expected true or false") }
        return value
    }

    public func int(in range: ClosedRange<Int>) throws -> Int {
        guard let value = node.int else { throw error("expected an integer") }
        guard range.contains(value) else {
            throw error("must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    public func duration() throws -> Duration {
        let text = try string()
        guard let value = DurationText.parse(text) else {
            throw error("invalid duration \"\(text)\" (use e.g. 500ms, 10s, 1m30s, 2h)")
        }
        return value
    }

    public func stringList() throws -> [String] {
        if case .scalar = node { return [try string()] }
        return try items().map { try $0.string() }
    }

    /// One of a fixed set of words.
    public func choice<T: RawRepresentable & CaseIterable>(_ type: T.Type) throws -> T where T.RawValue == String {
        let text = try string()
        guard let value = T(rawValue: text) else {
            let options = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw error("invalid value \"\(text)\" (one of: \(options))")
        }
        return value
    }
}

/// Prometheus-style durations: 500ms, 10s, 1m30s, 2h, 1d.
public enum DurationText {
    public static func parse(_ text: String) -> Duration? {
        var total: Double = 0
        var digits = ""
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        while let c = rest.first {
            if c.isNumber || c == "." {
                digits.append(c)
                rest = rest.dropFirst()
                continue
            }
            guard let number = Double(digits) else { return nil }
            let unit: Double
            if rest.hasPrefix("ms") {
                unit = 0.001
                rest = rest.dropFirst(2)
            } else {
                switch c {
                case "s": unit = 1
                case "m": unit = 60
                case "h": unit = 3600
                case "d": unit = 86400
                default: return nil
                }
                rest = rest.dropFirst()
            }
            total += number * unit
            digits = ""
        }
        guard digits.isEmpty, total > 0, total < 366 * 86400 else { return nil }
        return .milliseconds(Int64((total * 1000).rounded()))
    }

    public static func format(_ d: Duration) -> String {
        let ms = d.milliseconds
        if ms % 1000 != 0 { return "\(ms)ms" }
        let s = ms / 1000
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}

extension Duration {
    public var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    public var milliseconds: Int64 {
        let c = components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }
}
