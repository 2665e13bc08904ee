/// The shape every check has: built from its module settings, run against one probe context.
/// Adding a check means adding a folder with a type like this and listing it in `CheckRegistry`.
import EWSProbeTransport

public protocol Check: Sendable {
    /// The stable name in configs, reports and metrics (`dns`, `tcp`, ...).
    static var name: String { get }
    /// The check with its default settings.
    init()
    /// The check with the settings block of the same name in a module.
    init(settings: YAMLSection) throws
    func run(_ ctx: ProbeContext) async -> CheckResult
    /// Adds what this check needs from every run of a target at `url` (see `ProbePlan`).
    func plan(_ plan: inout ProbePlan, for url: EndpointURL)
    /// The endpoint kinds this check judges; on any other it is `skip not_applicable`.
    static var endpointKinds: Set<EndpointKind> { get }
    /// Whether a connector's run repeats this check on each of its hosts (authority, APIs):
    /// the checks of one connection (`dns`, `tcp`, `tls`).
    static var judgesEachHost: Bool { get }
}

extension Check {
    public func plan(_ plan: inout ProbePlan, for url: EndpointURL) {}
    public static var endpointKinds: Set<EndpointKind> { [.ews] }
    public static var judgesEachHost: Bool { false }
}
