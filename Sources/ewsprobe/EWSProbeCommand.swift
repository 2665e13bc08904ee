import ArgumentParser
import EWSProbeCore
import EWSProbeServer
import Foundation
import Logging

/// Exit codes follow the monitoring-plugins convention: 0 ok, 1 warning, 2 critical, 3 unknown
/// (usage or configuration error).
enum ExitStatus {
    static let usage: Int32 = 3
}

@main
struct EWSProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ewsprobe",
        abstract: "Connection-health monitor and prober for Exchange Web Services endpoints.",
        version: BuildInfo.version,
        subcommands: [ProbeCommand.self, ServeCommand.self, CheckConfigCommand.self, DemoCommand.self])

    /// ArgumentParser exits 64 on usage errors; the plugin convention wants 3.
    static func main() async {
        ConcurrencyExecutor.useEventLoops()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            Foundation.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            FileHandle.standardError.write(Data((KnownSecrets.process.redact(fullMessage(for: error)) + "\n").utf8))
            Foundation.exit(ExitStatus.usage)
        }
    }
}

/// Prints a configuration error (without any secret the process knows) and exits 3.
func failConfig(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ewsprobe: \(KnownSecrets.process.redact(message))\n".utf8))
    exit(ExitStatus.usage)
}

func failConfig(_ error: any Error) -> Never { failConfig("\(error)") }

func makeLogger(level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return RedactingLogHandler(handler)
    }
    return Logger(label: "ewsprobe")
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
