import EWSProbeCore
import EWSProbeExposition
import EWSProbeTransport
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// `ewsprobe serve`: the scheduler plus the HTTP endpoints that read its results.
public struct ExporterServer: Sendable {
    /// Where the configuration comes from: a file can be reloaded, embedded text cannot.
    public enum ConfigSource: Sendable {
        case file(String)
        case embedded(ProbeConfig)
    }

    public var source: ConfigSource
    public var assignment: ShardAssignment
    /// The shard in force: a StatefulSet pod's count changes with its peers (`ShardWatcher`);
    /// count 0 (not known yet) probes nothing.
    let shard: CurrentShard

    final class CurrentShard: Sendable {
        private let value: Mutex<(index: Int, count: Int)>
        init(_ shard: (index: Int, count: Int)) { value = Mutex(shard) }
        func withLock<T>(_ body: (inout (index: Int, count: Int)) -> T) -> T { value.withLock { body(&$0) } }
    }
    public var host: String
    public var port: Int
    public var logger: Logger
    public var web: WebOptions
    public let runtime: ProbeRuntime
    public let store = ResultStore()
    public let metrics = ExporterMetrics()
    let state: ServerState
    /// The whole configuration last loaded, before the shard: a StatefulSet pod re-splits it when
    /// its peers change, without reading the file (which may be mid-edit).
    let unsharded: ServerState
    /// Reloads run one at a time on a thread of their own: parsing a large (or hostile) file
    /// must never hold an event loop, so scrapes go on while it runs.
    let reloadPool = BoundedWorkerPool(name: "ews-reload", threads: 1, queueLimit: 2)
    /// Two threads and a short queue for bcrypt: a flood of wrong passwords costs two cores'
    /// worth at most and is refused beyond that, while probing goes on untouched.
    let bcryptPool = BoundedWorkerPool(name: "ews-bcrypt", threads: 2, queueLimit: 32)

    /// How the endpoints themselves are served and protected.
    public struct WebOptions: Sendable {
        public var config = WebConfig()
        /// `/probe?target=URL` for URLs that are not configured targets: off by default so the
        /// exporter cannot be used to reach internal hosts.
        public var allowProbeURLs = false
        /// On-demand probes running at once through `/probe`; more get 429.
        public var maxOnDemandProbes = 8
        public init() {}
    }

    public init(
        source: ConfigSource, initial: ProbeConfig, runtime: ProbeRuntime, shard assignment: ShardAssignment = .single, host: String,
        port: Int, web: WebOptions = WebOptions(), logger: Logger
    ) {
        self.source = source
        self.runtime = runtime
        self.web = web
        self.assignment = assignment
        let shard: (index: Int, count: Int)
        switch assignment.count {
        case .fixed(let count): shard = (assignment.index, count)
        case .peers: shard = (assignment.index, 0)
        }
        self.shard = CurrentShard(shard)
        self.host = host
        self.port = port
        self.logger = logger
        state = ServerState(config: Self.serving(initial, shard: shard))
        unsharded = ServerState(config: Self.withoutSpecs(initial))
    }

    /// Runs until SIGTERM/SIGINT; `onRunning` receives the bound port (useful with port 0).
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        metrics.configLoaded(success: true)
        metrics.watch(runtime.revocation)
        let scheduler = ReloadableScheduler(runtime: runtime, store: store, metrics: metrics, logger: logger)
        scheduler.apply(state.config)
        let current = shard.withLock { $0 }
        metrics.shardAssigned(index: current.index, count: current.count)
        var services: [any Service] = [scheduler]
        if case .peers(let peers, let refresh) = assignment.count {
            services.append(
                ShardWatcher(host: peers, refresh: refresh, resolver: runtime.resolver(), logger: logger) { count in
                    await self.reshard(count: count, scheduler)
                })
        }
        let reload: @Sendable () async -> Result<ProbeConfig, any Error> = { await self.reload(scheduler) }
        // SIGHUP reloads, like every Prometheus exporter.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP)
        hangup.setEventHandler { Task { _ = await reload() } }
        hangup.resume()
        defer { hangup.cancel() }
        // Tight HTTP limits: no endpoint needs more than a short request line and a few headers.
        let http = HTTP1Channel.Configuration(
            idleTimeout: .seconds(120),
            httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 64 * 1024, maxHeaderFieldCount: 100))
        let server: HTTPServerBuilder =
            try web.config.tls.map { try .tls(.http1(configuration: http), tlsConfiguration: $0) } ?? .http1(configuration: http)
        let app = Application(
            router: router(reload: reload),
            server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "ewsprobe"),
            services: services,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        // SIGTERM stops within about 2 s whatever is in flight: a second of graceful shutdown
        // (the scheduler cancels its runs), then the group cancels what is left.
        var group = ServiceGroupConfiguration(
            services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(1)
        try await ServiceGroup(configuration: group).run()
    }

    /// Loads the file again; a valid config swaps in atomically, an invalid one is refused and
    /// the running one stays.
    func reload(_ scheduler: ReloadableScheduler) async -> Result<ProbeConfig, any Error> {
        guard case .file = source else {
            return .failure(ReloadError(message: "the configuration is embedded, not read from a file"))
        }
        let outcome = await reloadPool.run { self.reloadNow(scheduler) }
        return outcome ?? .failure(ReloadError(message: "reloads are already queued; try again when they are done"))
    }

    /// A StatefulSet pod's peers changed in number: the new share of the configuration last
    /// loaded (one at a time with reloads, on their thread).
    func reshard(count: Int, _ scheduler: ReloadableScheduler) async {
        _ = await reloadPool.run {
            let shard = self.shard.withLock { shard in
                shard.count = count
                return shard
            }
            let config = Self.serving(self.unsharded.config, shard: shard)
            self.state.config = config
            scheduler.apply(config)
            self.metrics.shardAssigned(index: shard.index, count: shard.count)
            self.logger.info("re-sharded: shard \(shard.index) of \(shard.count), \(config.targets.count) target(s)")
        }
    }

    private func reloadNow(_ scheduler: ReloadableScheduler) -> Result<ProbeConfig, any Error> {
        guard case .file(let path) = source else {
            return .failure(ReloadError(message: "the configuration is embedded, not read from a file"))
        }
        do {
            let loaded = try ConfigLoader.load(file: path, registry: state.config.registry)
            unsharded.config = Self.withoutSpecs(loaded)
            let config = Self.serving(loaded, shard: shard.withLock { $0 })
            KnownSecrets.process.learn(config)
            state.config = config
            scheduler.apply(config)
            metrics.configLoaded(success: true)
            logger.info("configuration reloaded: \(config.targets.count) target(s)")
            return .success(config)
        } catch {
            metrics.configLoaded(success: false)
            logger.error("configuration reload refused, keeping the running one: \(error)")
            return .failure(error)
        }
    }

    func router(reload: @escaping @Sendable () async -> Result<ProbeConfig, any Error>) -> Router<BasicRequestContext> {
        let router = Router()
        let store = self.store
        let metrics = self.metrics
        let state = self.state
        let runtime = self.runtime
        let startedAt = ContinuousClock.now
        let onDemand = OnDemandLimit(limit: web.maxOnDemandProbes)
        let allowProbeURLs = web.allowProbeURLs
        router.add(middleware: WebGuard(web.config, pool: bcryptPool))
        router.get("/metrics") { _, _ -> Response in
            let chunks = MetricsRenderer.chunks(store: store, metrics: metrics)
            return Response(
                status: .ok, headers: [.contentType: Self.exposition],
                body: ResponseBody { writer in
                    for chunk in chunks { try await writer.write(ByteBuffer(bytes: chunk)) }
                    try await writer.finish(nil)
                    HeapPolicy.release()
                })
        }
        router.get("/probe") { request, _ -> Response in
            guard let name = request.uri.queryParameters.get("target"), !name.isEmpty, name.utf8.count <= 2048 else {
                return Self.text("target parameter missing or too long\n", status: .badRequest)
            }
            let config = state.config
            let target: TargetConfig
            if !config.targets.contains(where: { $0.name == name }), unsharded.config.targets.contains(where: { $0.name == name }) {
                let (index, count) = shard.withLock { ($0.index, $0.count) }
                return Self.text(
                    "\(name) is probed by another shard (this is shard \(index) of \(count)): ask the instance that has it in /metrics\n",
                    status: .notFound)
            }
            switch Self.onDemandTarget(name, module: request.uri.queryParameters.get("module"), config: config, allowURLs: allowProbeURLs) {
            case .success(let found): target = found
            case .failure(let refusal): return Self.text(refusal.message + "\n", status: refusal.status)
            }
            // An on-demand run answers this request only: it is not recorded, so an ad-hoc URL
            // never becomes a /metrics series.
            let json = request.uri.queryParameters.get("format") == "json"
            let probe = GuardedProbe(runner: ProbeRunner(runtime: runtime, includeDetails: json))
            guard let report = await onDemand.run({ await probe.run(target) }) else {
                return Self.text("too many on-demand probes running (limit \(onDemand.limit)); retry later\n", status: .tooManyRequests)
            }
            let debug = request.uri.queryParameters.get("debug") == "true"
            if json {
                return Self.text(JSONReport.line(report, includeTrace: debug) + "\n", type: "application/json")
            }
            if debug { return Self.text(HumanReport.render(report, verbose: true)) }
            return Self.bytes(
                MetricsRenderer.render(report: report, target: target, families: MetricsRenderer.families(of: store)), type: Self.exposition
            )
        }
        router.post("/-/reload") { _, _ -> Response in
            switch await reload() {
            case .success(let config): return Self.text("reloaded: \(config.targets.count) target(s)\n")
            case .failure(let error):
                let message = KnownSecrets.process.redact("\(error)")
                return Self.text("reload refused, the running configuration stays: \(message)\n", status: .badRequest)
            }
        }
        router.get("/-/healthy") { _, _ in "OK\n" }
        router.get("/-/ready") { _, _ -> Response in
            let longest = state.config.targets.map(\.interval).max() ?? .zero
            let ready = store.allRanOnce || ContinuousClock.now - startedAt > longest
            return Self.text(ready ? "ready\n" : "waiting for first runs\n", status: ready ? .ok : .serviceUnavailable)
        }
        router.get("/") { _, _ -> Response in
            Self.text(StatusPage.render(store.snapshot()), type: "text/html; charset=utf-8")
        }
        router.get("/status") { request, _ -> Response in
            guard let name = request.uri.queryParameters.get("target"), let target = store.target(named: name) else {
                return Self.text("no configured target by that name\n", status: .notFound)
            }
            return Self.text(StatusPage.renderTarget(target), type: "text/html; charset=utf-8")
        }
        return router
    }

    struct Refusal: Error {
        var status: HTTPResponse.Status
        var message: String
    }

    /// The target `/probe` runs: a configured one by name, or — only when allowed — a URL with
    /// a configured module.
    static func onDemandTarget(_ name: String, module: String?, config: ProbeConfig, allowURLs: Bool) -> Result<TargetConfig, Refusal> {
        if let target = config.targets.first(where: { $0.name == name }) { return .success(target) }
        guard let url = EndpointURL(name), name.contains("://") else {
            // A refused URL may hold a password in its user information: never echoed.
            let message =
                EndpointURLRefusal.carriesUserinfo(name) ? EndpointURLRefusal.message(for: name) : "no configured target named \(name)"
            return .failure(Refusal(status: .notFound, message: message))
        }
        guard allowURLs else {
            return .failure(
                Refusal(
                    status: .forbidden,
                    message: "\(name) is not a configured target; probing arbitrary URLs is off (serve --web.allow-probe-urls turns it on)")
            )
        }
        let moduleName = module ?? "default"
        guard let moduleConfig = config.module(named: moduleName, for: url.kind) else {
            return .failure(Refusal(status: .badRequest, message: "unknown module \(moduleName)"))
        }
        do throws(TargetAssembly.Problem) {
            return .success(try TargetAssembly.build(TargetSpec(name: url.host, url: url), module: moduleConfig, global: config.global))
        } catch {
            return .failure(Refusal(status: .badRequest, message: "module \(moduleName): \(error)"))
        }
    }

    /// `config` without the targets' specs: only the CLI reads them, and 10,000 of them cost memory.
    static func withoutSpecs(_ config: ProbeConfig) -> ProbeConfig {
        var config = config
        config.specs = []
        return config
    }

    /// This instance's shard of `config`, without the targets' specs: only the CLI reads them.
    static func serving(_ config: ProbeConfig, shard: (index: Int, count: Int)) -> ProbeConfig {
        var config = config.shard(shard.index, of: shard.count)
        // Not known yet, or a pod beyond its peers' count (being scaled away): nothing to probe.
        if shard.count == 0 || shard.index >= shard.count { config.targets = [] }
        config.specs = []
        return config
    }

    static let exposition = "text/plain; version=0.0.4; charset=utf-8"

    static func bytes(_ body: [UInt8], type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func text(_ body: String, status: HTTPResponse.Status = .ok, type: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

struct ReloadError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// The configuration in force, swapped whole on reload.
final class ServerState: Sendable {
    private let current: Mutex<ProbeConfig>
    init(config: ProbeConfig) { current = Mutex(config) }
    var config: ProbeConfig {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}

/// Runs the scheduler for the configuration in force; a new configuration cancels the running
/// scheduler (in-flight probes are cancelled with it) and starts one for the new targets.
final class ReloadableScheduler: Service, Sendable {
    private let store: ResultStore
    private let metrics: ExporterMetrics
    private let logger: Logger
    private let configs: AsyncStream<ProbeConfig>
    private let runtime: ProbeRuntime
    private let continuation: AsyncStream<ProbeConfig>.Continuation

    init(runtime: ProbeRuntime, store: ResultStore, metrics: ExporterMetrics, logger: Logger) {
        self.runtime = runtime
        self.store = store
        self.metrics = metrics
        self.logger = logger
        (configs, continuation) = AsyncStream<ProbeConfig>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func apply(_ config: ProbeConfig) {
        continuation.yield(config)
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var running: Task<Void, Never>?
            for await config in self.configs {
                running?.cancel()
                await running?.value
                // A new configuration (or share of it) measures every carried check afresh.
                self.runtime.store.value(CheckMemory.self) { CheckMemory() }.forgetAll()
                let scheduler = Scheduler(
                    config: config, store: self.store, runner: ProbeRunner(runtime: self.runtime), metrics: self.metrics,
                    logger: self.logger)
                running = Task { await scheduler.run() }
            }
            running?.cancel()
            await running?.value
        }
        continuation.finish()
    }
}
