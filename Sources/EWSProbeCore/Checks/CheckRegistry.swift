import EWSProbeTransport

/// The checks a configuration may name, in the order the default module runs them. The
/// built-in set lives with the checks (`CheckRegistry.builtin`); a test adds its own with
/// `adding(_:)`.
public struct CheckRegistry: Sendable {
    public let types: [any Check.Type]

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

    /// The `default` module of `kind`: every registered check that applies to it.
    public func defaultModule(for kind: EndpointKind) -> ModuleConfig {
        ModuleConfig(name: "default", checks: types.filter { $0.endpointKinds.contains(kind) }.map { ModuleConfig.makeDefault($0) })
    }
}
