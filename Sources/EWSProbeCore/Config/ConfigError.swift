/// A configuration problem, always located: file, line and the key path that is wrong.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var column: Int
    public var key: String
    public var message: String

    public init(file: String, line: Int, column: Int = 0, key: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String {
        let position = column > 0 ? "\(file):\(line):\(column)" : "\(file):\(line)"
        return key.isEmpty ? "\(position): \(message)" : "\(position): \(key): \(message)"
    }
}

/// A non-fatal finding about a configuration (printed by `check-config`, reported by checks).
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var key: String
    public var message: String

    public var description: String { "\(file):\(line): \(key): warning: \(message)" }
}
