/// The checks a configuration may name, in the order the built-in default module runs them.
/// A new check is one folder and one line here; a test adds its own with `adding(_:)`.
public struct CheckRegistry: Sendable {
    public let types: [any Check.Type]

    public static let builtin = CheckRegistry(types: [
        DNSCheck.self,
        TCPCheck.self,
        TLSCheck.self,
        AuthMethodsCheck.self,
        FormsAuthCheck.self,
        LBAffinityCheck.self,
        EWSLoginCheck.self,
    ])

    public init(types: [any Check.Type]) {
        self.types = types
    }

    /// This registry and `type` after it.
    public func adding(_ type: any Check.Type) -> CheckRegistry {
        CheckRegistry(types: types + [type])
    }

    public func type(named name: String) -> (any Check.Type)? {
        types.first { $0.name == name }
    }

    public var names: [String] { types.map { $0.name } }
}
