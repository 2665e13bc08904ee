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

    /// A duration (`10s`, `1m30s`, a bare number of seconds) within the bounds of `rule`.
    public func duration(_ rule: DurationText.Rule = .any) throws -> Duration {
        let text = try string()
        switch DurationText.parse(text, rule) {
        case .success(let value): return value
        case .failure(let problem): throw error(problem.message)
        }
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
