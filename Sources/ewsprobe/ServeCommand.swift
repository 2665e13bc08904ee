import ArgumentParser
import EWSProbeCore
import EWSProbeServer
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Probe every configured target on its interval and serve /metrics for Prometheus.")

    @Option(help: "Configuration file.")
    var config: String

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen = "127.0.0.1:9905"

    @Option(
        help: ArgumentHelp(
            "Run only shard I of N (I/N, 0-based): N instances split one fleet by a stable hash of the target name; auto: a Kubernetes StatefulSet pod's ordinal of the pods --shard-peers counts.",
            valueName: "I/N|auto"))
    var shard: String?

    @Option(help: "With --shard auto: the StatefulSet's headless Service name, one address per pod; read again every --shard-refresh.")
    var shardPeers: String?

    @Option(help: ArgumentHelp("With --shard auto: how often the peers are counted again.", visibility: .hidden))
    var shardRefresh = "15s"

    @Option(
        name: .customLong("web.config.file"),
        help:
            "Web configuration in the Prometheus exporter-toolkit format: TLS certificate and key, basic_auth_users (bcrypt), headers, rate_limit."
    )
    var webConfigFile: String?

    @Flag(
        name: .customLong("web.allow-probe-urls"),
        help:
            "Let /probe?target=URL&module=NAME probe URLs that are not configured targets (off: the exporter cannot be used to reach arbitrary hosts)."
    )
    var allowProbeURLs = false

    @Option(name: .customLong("web.max-probes"), help: "On-demand /probe runs at once; more get 429.")
    var maxProbes = 8

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let logger = makeLogger(level: logLevel)
        let loaded: ProbeConfig
        do {
            loaded = try ConfigLoader.load(file: config, registry: .builtin)
        } catch {
            failConfig(error)
        }
        KnownSecrets.process.learn(loaded)
        for warning in loaded.warnings { logger.warning("\(warning)") }
        guard let (host, port) = ListenAddress.parse(listen) else { failConfig("--listen: expected HOST:PORT, got \"\(listen)\"") }
        var assignment = ShardAssignment.single
        if let shard {
            guard case .success(let refresh) = DurationText.parse(shardRefresh, .interval) else {
                failConfig("--shard-refresh: expected a duration of at least 1s, got \"\(shardRefresh)\"")
            }
            // The downward API's POD_NAME, else the host name a StatefulSet gives its pods.
            let podName = ProcessInfo.processInfo.environment["POD_NAME"] ?? ProcessInfo.processInfo.hostName
            switch ShardAssignment.parse(shard, peers: shardPeers, refresh: refresh, podName: podName) {
            case .success(let parsed): assignment = parsed
            case .failure(let problem): failConfig(problem.description)
            }
        } else if shardPeers != nil {
            failConfig("--shard-peers goes with --shard auto")
        }
        var web = ExporterServer.WebOptions()
        web.allowProbeURLs = allowProbeURLs
        guard maxProbes >= 1 else { failConfig("--web.max-probes: expected at least 1, got \(maxProbes)") }
        web.maxOnDemandProbes = maxProbes
        if let webConfigFile {
            do {
                web.config = try WebConfig.load(file: webConfigFile)
            } catch {
                failConfig(error)
            }
        }
        let scheme = web.config.tls == nil ? "http" : "https"
        logger.info("loaded \(loaded.targets.count) target(s) from \(config); listening on \(scheme)://\(listen)")
        if ConcurrencyExecutor.onEventLoop {
            logger.debug("Swift concurrency runs on NIO's event loops")
        } else {
            logger.warning("Swift concurrency runs on the default thread pool: each /probe costs a thread hop each way")
        }
        HeapPolicy.apply()
        try await ExporterServer(
            source: .file(config), initial: loaded, runtime: ProbeRuntime(), shard: assignment, host: host, port: port, web: web,
            logger: logger
        )
        .run(onRunning: { _ in
            Task.detached(priority: .background) { await ResidentCode.keepTrimmed(every: .seconds(60)) }
            Task.detached(priority: .background) { await HeapPolicy.keepReleasing(every: .seconds(10)) }
        })
    }
}

enum ListenAddress {
    static func parse(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
