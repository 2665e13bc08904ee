import ArgumentParser
import EWSProbeCore
import EWSProbeDemo
import EWSProbeServer
import Logging

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start a simulated EWS site (and, with slapd installed, a directory) on loopback and serve probes of it.")

    @Option(help: "Address for the exporter, HOST:PORT.")
    var listen = "127.0.0.1:9905"

    @Option(help: "Log level.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let logger = makeLogger(level: logLevel)
        defer { DemoWorkspace.remove() }
        let site = try await DemoSite.start(logger: Logger(label: "demo-site"))
        let directory = try DemoDirectory.start()
        defer { directory?.stop() }
        if directory == nil { logger.info("slapd is not installed: the demo runs without a directory") }
        let yaml = site.config(tlsPort: try DemoSite.startTLS(), directory: directory, proxy: try DemoProxy.start())
        let config: ProbeConfig
        do {
            config = try ConfigLoader.load(yaml: yaml, name: "<demo>", registry: .builtin)
        } catch {
            failConfig(error)
        }
        guard let (host, port) = ListenAddress.parse(listen) else { failConfig("--listen: expected HOST:PORT") }
        logger.info("demo EWS site on 127.0.0.1:\(site.port)")
        try await ExporterServer(
            source: .embedded(config), initial: config, runtime: ProbeRuntime(), host: host, port: port, logger: logger
        ).run { bound in
            logger.info("ewsprobe demo: status page http://\(host):\(bound)/  metrics http://\(host):\(bound)/metrics")
        }
        site.task.cancel()
    }
}
