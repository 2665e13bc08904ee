@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// A check that exists only in the test target: it proves a new check is one type plus one
/// registration. It asks the run for the target's addresses (the plan's shared lookup), reads
/// its own setting and reports a measurement of its own.
struct EchoCheck: Check {
    static let name = "echo"
    var word = "hello"

    init() {}

    init(settings: YAMLSection) throws {
        for (key, value) in try settings.entries(allowed: ["word"]) where key == "word" {
            word = try value.nonEmptyString()
        }
    }

    func run(_ ctx: ProbeContext) async -> CheckResult {
        let resolution = await ctx.addresses()
        guard !resolution.addresses.isEmpty else {
            return CheckResult(check: Self.name, status: .fail, reason: "no_addresses", summary: "nothing to echo to")
        }
        var result = CheckResult(check: Self.name, status: .pass, summary: "\(word) to \(resolution.addresses.joined(separator: ", "))")
        result.measurements.append(
            Measurement("ewsprobe_echo_addresses", Double(resolution.addresses.count), help: "Addresses the echo check saw."))
        return result
    }
}
