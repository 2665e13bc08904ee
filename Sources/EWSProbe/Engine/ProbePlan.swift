/// What a target's checks need from its runs, worked out once from its module and URL: the
/// engine reads this instead of knowing which checks exist. Each check adds its own needs in
/// `Check.plan(_:for:)`.
public struct ProbePlan: Sendable, Equatable {
    /// Where the run's one lookup of the target's host goes (the `dns` check's `server`).
    public var resolverSource: Resolver.Source = .system
    /// Whether some check judges the anonymous SOAP POST to the first address: then one
    /// connection serves them all, and `tcp` reads its connect instead of opening its own.
    public var sharesAnonymousSOAP = false

    public init() {}

    public init(module: ModuleConfig, url: EndpointURL) {
        for check in module.checks { check.plan(&self, for: url) }
    }
}
