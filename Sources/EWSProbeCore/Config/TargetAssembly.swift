/// Builds a runnable target from what it says of itself, its module, the globals and the
/// caller's overrides: the one place these rules live, used by config loading, `probe` and
/// `/probe`.
public enum TargetAssembly {
    /// What the command line sets over a target's own settings.
    public struct Overrides: Sendable {
        /// `--resolve` pins, before the target's and the module's.
        public var pins: [ResolvePin] = []
        /// `--timeout`: a one-off run has no interval to keep within.
        public var timeout: Duration?
        public var caFile: String?
        public var credentials: Credentials?
        /// `--proxy` and its account, over the target's and the module's.
        public var proxy: ProxySettings?

        public struct Credentials: Sendable {
            public var username: String
            public var password: SecretReference
            public var mailboxCheck: String?

            public init(username: String, password: SecretReference, mailboxCheck: String?) {
                self.username = username
                self.password = password
                self.mailboxCheck = mailboxCheck
            }
        }

        public init() {}
    }

    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func build(
        _ spec: TargetSpec, module: ModuleConfig, global: GlobalConfig, overrides: Overrides = Overrides()
    ) throws(Problem) -> TargetConfig {
        var target = TargetConfig(name: spec.name, endpoint: spec.endpoint, module: module)
        target.labels = spec.labels
        target.interval = spec.interval ?? module.interval ?? global.interval
        target.timeout = try timeout(spec, module: module, global: global, interval: target.interval)
        if let timeout = overrides.timeout { target.timeout = timeout }
        target.caFile = overrides.caFile ?? spec.caFile ?? module.caFile
        target.sourceAddress = spec.sourceAddress ?? module.sourceAddress
        // The directory check speaks LDAP to its server directly: a proxy is for HTTP checks.
        let proxy = overrides.proxy ?? spec.proxy ?? module.proxy
        // A connector's hosts are judged one by one where they are reached (`no_proxy` per host).
        let hosts = spec.endpoint.hostURLs.map(\.host)
        if let proxy, spec.endpoint.kind != .directory, !hosts.allSatisfy(proxy.bypasses) { target.proxy = proxy }
        target.resolve = overrides.pins + spec.resolve + module.resolve
        if let credentials = overrides.credentials, !spec.endpoint.kind.isCloud {
            target.username = credentials.username
            target.password = credentials.password
            target.mailboxCheck = credentials.mailboxCheck
        } else {
            target.username = spec.username
            target.password = spec.password
            target.mailboxCheck = spec.mailboxCheck
        }
        return target
    }

    /// As Prometheus' scrape_timeout: an unset timeout never outlasts the interval; only an
    /// explicit one longer than the interval is an error.
    static func timeout(_ spec: TargetSpec, module: ModuleConfig, global: GlobalConfig, interval: Duration) throws(Problem)
        -> Duration
    {
        guard let explicit = spec.timeout ?? module.timeout else { return min(global.timeout, interval) }
        guard explicit <= interval else {
            throw Problem(
                description: "timeout \(DurationText.format(explicit)) is longer than interval \(DurationText.format(interval))")
        }
        return explicit
    }
}
