import EWSProbe
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `ewsprobe serve`: the scheduler plus the HTTP endpoints that read its results.
public struct ExporterServer: Sendable {
    public var config: ProbeConfig
    public var host: String
    public var port: Int
    public var logger: Logger
    public var store = ResultStore()
    public var metrics = ExporterMetrics()
    public var startedAt = ContinuousClock.now

    public init(config: ProbeConfig, host: String, port: Int, logger: Logger) {
        self.config = config
        self.host = host
        self.port = port
        self.logger = logger
    }

    /// Runs until SIGTERM/SIGINT; `onRunning` receives the bound port (useful with port 0).
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        metrics.configLoaded(success: true)
        store.setTargets(config.targets)
        let scheduler = Scheduler(config: config, store: store, metrics: metrics, logger: logger)
        var app = Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "ewsprobe"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        app.addServices(SchedulerService(scheduler: scheduler))
        try await app.runService()
    }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        let store = self.store
        let metrics = self.metrics
        let config = self.config
        let startedAt = self.startedAt
        router.get("/metrics") { _, _ -> Response in
            let text = MetricsRenderer.render(store: store, metrics: metrics)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/probe") { request, _ -> Response in
            guard let name = request.uri.queryParameters.get("target") else {
                return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "target parameter missing\n")))
            }
            // Only configured targets: the exporter must not become a way to reach arbitrary hosts.
            guard let target = config.targets.first(where: { $0.name == name }) else {
                return Response(
                    status: .notFound, body: .init(byteBuffer: ByteBuffer(string: "no configured target named \(name)\n")))
            }
            let report = await Scheduler(config: config, store: store, metrics: metrics, logger: Logger(label: "probe"))
                .runWithTimeout(target)
            let format = request.uri.queryParameters.get("format")
            if format == "json" {
                let debug = request.uri.queryParameters.get("debug") == "true"
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(string: JSONReport.line(report, includeTrace: debug) + "\n")))
            }
            if request.uri.queryParameters.get("debug") == "true" {
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(string: HumanReport.render(report, verbose: true))))
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: MetricsRenderer.render(report: report, target: target))))
        }
        router.get("/-/healthy") { _, _ in "OK\n" }
        router.get("/-/ready") { _, _ -> Response in
            let longest = config.targets.map(\.interval).max() ?? .zero
            let ready = store.allRanOnce || ContinuousClock.now - startedAt > longest
            return Response(
                status: ready ? .ok : .serviceUnavailable,
                body: .init(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "waiting for first runs\n")))
        }
        router.get("/") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: StatusPage.render(store.snapshot()))))
        }
        return router
    }
}

/// The scheduler as a lifecycle service: it stops when the process shuts down gracefully.
struct SchedulerService: Service {
    let scheduler: Scheduler

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await scheduler.run()
        }
    }
}
