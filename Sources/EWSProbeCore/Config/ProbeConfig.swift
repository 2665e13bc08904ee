/// A named set of checks with their settings (blackbox_exporter's "module").
import EWSProbeTransport

public struct ModuleConfig: Sendable {
    public var name: String
    public var checks: [any Check]
    public var timeout: Duration?
    public var interval: Duration?
    public var caFile: String?
    public var resolve: [ResolvePin]
    /// Local address to bind outgoing connections to (`source_address`).
    public var sourceAddress: String?
    /// The outbound proxy of the module's HTTP checks (`proxy`).
    public var proxy: ProxySettings?
    /// Checks that run less often than their target (`check_intervals`): between their runs the
    /// scheduler carries their last passing verdict with its age. A balancer's persistence does
    /// not change from one minute to the next, and `lb_affinity`'s census costs several TLS
    /// handshakes: by default it is measured every ten minutes.
    public var checkIntervals: [String: Duration] = ModuleConfig.defaultCheckIntervals

    public static let defaultCheckIntervals: [String: Duration] = ["lb_affinity": .seconds(600)]

    public init(
        name: String, checks: [any Check], timeout: Duration? = nil, interval: Duration? = nil,
        caFile: String? = nil, resolve: [ResolvePin] = []
    ) {
        self.name = name
        self.checks = checks
        self.timeout = timeout
        self.interval = interval
        self.caFile = caFile
        self.resolve = resolve
    }

    static func makeDefault<C: Check>(_ type: C.Type) -> any Check { C() }

    public var checkNames: [String] { checks.map { type(of: $0).name } }

    public struct SelectionError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The module cut down to `names` (`--checks`), in the registry's order: a check the module
    /// configures keeps its settings, any other runs with its defaults.
    public func selecting(_ names: [String], registry: CheckRegistry) throws(SelectionError) -> ModuleConfig {
        var wanted: Set<String> = []
        for name in names {
            guard registry.type(named: name) != nil else {
                let known = registry.names.joined(separator: ", ")
                throw SelectionError(description: "unknown check \"\(name)\" (known checks: \(known))")
            }
            wanted.insert(name)
        }
        guard !wanted.isEmpty else { throw SelectionError(description: "name at least one check") }
        var selected = self
        selected.checks = registry.types.filter { wanted.contains($0.name) }.map { type in
            checks.first { Swift.type(of: $0).name == type.name } ?? Self.makeDefault(type)
        }
        return selected
    }
}

/// One endpoint to watch.
public struct TargetConfig: Sendable {
    public var name: String
    /// The URL whose host this target's runs connect to first: its own URL, or a connector's
    /// authority (a run that judges each of a connector's hosts makes copies with each).
    public var url: EndpointURL {
        didSet {
            if case .url(let old) = endpoint, old != url { endpoint = .url(url) }
            plan = ProbePlan(module: module, url: url, kind: endpoint.kind)
        }
    }
    /// What the target is: a URL, a Microsoft 365 tenant, a Google Workspace account.
    public var endpoint: TargetEndpoint { didSet { plan = ProbePlan(module: module, url: url, kind: endpoint.kind) } }
    public var module: ModuleConfig { didSet { plan = ProbePlan(module: module, url: url, kind: endpoint.kind) } }
    /// What the module's checks need from each run, kept in step with `module` and `url`.
    public private(set) var plan: ProbePlan
    public var interval: Duration
    public var timeout: Duration
    public var labels: [(String, String)]
    /// Target pins first, then the module's.
    public var resolve: [ResolvePin]
    public var caFile: String?
    public var username: String?
    public var password: SecretReference?
    public var mailboxCheck: String?
    /// Local address to bind outgoing connections to: the target's, else the module's.
    public var sourceAddress: String?
    /// The outbound proxy: the target's, else the module's; nil for a directory, for a host in
    /// its `no_proxy`, or with none configured.
    public var proxy: ProxySettings?

    public init(
        name: String, url: EndpointURL, module: ModuleConfig,
        interval: Duration = GlobalConfig.defaultInterval, timeout: Duration = GlobalConfig.defaultTimeout,
        labels: [(String, String)] = [], resolve: [ResolvePin] = [], caFile: String? = nil,
        username: String? = nil, password: SecretReference? = nil, mailboxCheck: String? = nil
    ) {
        self.name = name
        self.url = url
        endpoint = .url(url)
        self.module = module
        self.interval = interval
        self.timeout = timeout
        self.labels = labels
        self.resolve = resolve
        self.caFile = caFile
        self.username = username
        self.password = password
        self.mailboxCheck = mailboxCheck
        plan = ProbePlan(module: module, url: url, kind: url.kind)
    }

    /// A target of a cloud connector (or any endpoint), with the same defaults.
    public init(name: String, endpoint: TargetEndpoint, module: ModuleConfig, timeout: Duration = GlobalConfig.defaultTimeout) {
        self.init(name: name, url: endpoint.primaryURL, module: module, timeout: timeout)
        self.endpoint = endpoint
        // Observers do not run in an initializer.
        plan = ProbePlan(module: module, url: url, kind: endpoint.kind)
    }

    /// The pin that applies to the URL's host and port, if any.
    public var pin: ResolvePin? {
        resolve.first { $0.matches(host: url.host, port: url.port) }
    }
}

/// Settings that apply to the whole process.
public struct GlobalConfig: Sendable {
    public static let defaultInterval: Duration = .seconds(60)
    public static let defaultTimeout: Duration = .seconds(15)
    public static let defaultMaxConcurrency = 64

    public var interval: Duration = defaultInterval
    public var timeout: Duration = defaultTimeout
    public var maxConcurrency: Int = defaultMaxConcurrency

    public init() {}
}

/// A loaded, validated configuration.
public struct ProbeConfig: Sendable {
    public var global: GlobalConfig
    public var modules: [String: ModuleConfig]
    public var targets: [TargetConfig]
    /// What each target said of itself, in the same order (the CLI assembles a configured
    /// target again with another module or overrides).
    public var specs: [TargetSpec] = []
    public var warnings: [ConfigWarning]
    /// The checks this configuration could name; its `default` module is the registry's.
    public var registry: CheckRegistry

    public init(
        global: GlobalConfig = GlobalConfig(), modules: [String: ModuleConfig] = [:], targets: [TargetConfig] = [],
        warnings: [ConfigWarning] = [], registry: CheckRegistry
    ) {
        self.registry = registry
        self.global = global
        self.modules = modules
        self.targets = targets
        self.warnings = warnings
    }
}

extension ProbeConfig {
    /// A module by name: one the configuration defines, or the built-in `default` of `kind`.
    public static func module(
        named name: String, in modules: [String: ModuleConfig], registry: CheckRegistry, for kind: EndpointKind = .ews
    ) -> ModuleConfig? {
        modules[name] ?? (name == "default" ? registry.defaultModule(for: kind) : nil)
    }

    public func module(named name: String, for kind: EndpointKind = .ews) -> ModuleConfig? {
        Self.module(named: name, in: modules, registry: registry, for: kind)
    }

    /// Keeps the targets whose stable hash falls in shard `index` of `count`, so N instances of
    /// `serve --shard I/N` split one fleet without overlap.
    public func shard(_ index: Int, of count: Int) -> ProbeConfig {
        guard count > 1 else { return self }
        var copy = self
        let kept = targets.indices.filter { Int(StableHash.fnv1a(targets[$0].name) % UInt64(count)) == index }
        copy.targets = kept.map { targets[$0] }
        copy.specs = specs.count == targets.count ? kept.map { specs[$0] } : []
        return copy
    }
}
