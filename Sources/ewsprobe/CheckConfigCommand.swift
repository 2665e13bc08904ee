import ArgumentParser
import EWSProbeCore

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate configuration files and print a summary (exit 0 valid, 3 invalid).")

    @Argument(help: "Configuration files.")
    var files: [String]

    func run() throws {
        for file in files {
            let config: ProbeConfig
            do {
                config = try ConfigLoader.load(file: file, registry: .builtin)
            } catch {
                failConfig(error)
            }
            KnownSecrets.process.learn(config)
            for warning in config.warnings { print(KnownSecrets.process.redact("\(warning)")) }
            print("\(file): ok, \(config.modules.count) module(s), \(config.targets.count) target(s)")
            for module in config.modules.values.sorted(by: { $0.name < $1.name }) {
                print("  module \(module.name): \(module.checkNames.joined(separator: ", "))")
            }
            for target in config.targets {
                let credentials = target.username.map { ", login as \($0) (\(target.password!))" } ?? ""
                print(
                    "  target \(target.name): \(target.endpoint) module \(target.module.name) every \(DurationText.format(target.interval)), timeout \(DurationText.format(target.timeout))\(credentials)"
                )
            }
        }
    }
}
