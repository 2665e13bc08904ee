import ArgumentParser
import EWSProbe
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

    @Option(help: "Log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let logger = makeLogger(level: logLevel)
        let loaded: ProbeConfig
        do {
            loaded = try ConfigLoader.load(file: config)
        } catch {
            failConfig(error)
        }
        for warning in loaded.warnings { logger.warning("\(warning)") }
        guard let (host, port) = ListenAddress.parse(listen) else { failConfig("--listen: expected HOST:PORT, got \"\(listen)\"") }
        logger.info("loaded \(loaded.targets.count) target(s) from \(config); listening on \(listen)")
        try await ExporterServer(config: loaded, host: host, port: port, logger: logger).run()
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
