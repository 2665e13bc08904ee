/// What a target's checks need from its runs, worked out once from its module and URL: the
/// engine reads this instead of knowing which checks exist. Each check adds its own needs in
/// `Check.plan(_:for:)`.
import EWSProbeTransport

public struct ProbePlan: Sendable, Equatable {
    /// Where the run's one lookup of the target's host goes (the `dns` check's `server`).
    public var resolverSource: Resolver.Source = .system
    /// The body of the anonymous POST to the first address that several checks judge, set by
    /// those checks (EWS's GetFolder): then one connection serves them all, and `tcp` reads its
    /// connect instead of opening its own.
    public var sharedProbeBody: [UInt8]?

    public var sharesAnonymousSOAP: Bool { sharedProbeBody != nil }
    /// What the target is: an https URL is EWS only when the target is a URL, not a connector's.
    public var kind: EndpointKind = .ews

    public init() {}

    /// Per check of the module, in order: whether it applies to the URL's endpoint kind (the
    /// rest are `skip not_applicable`).
    public var applies: [Bool] = []

    public init(module: ModuleConfig, url: EndpointURL, kind: EndpointKind? = nil) {
        let kind = kind ?? url.kind
        self.kind = kind
        applies = module.checks.map { type(of: $0).endpointKinds.contains(kind) }
        for (check, applies) in zip(module.checks, applies) where applies { check.plan(&self, for: url) }
    }
}
