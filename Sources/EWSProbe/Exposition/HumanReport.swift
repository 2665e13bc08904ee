import Foundation

/// The step-by-step text report of `ewsprobe probe`, in the spirit of Microsoft's Remote
/// Connectivity Analyzer: one line per check, the trace under it when asked.
public enum HumanReport {
    public static func render(_ report: ProbeReport, verbose: Bool) -> String {
        var out = "\(report.targetName) \(report.url)\n"
        for result in report.checks {
            let status = result.status.rawValue.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0)
            let name = result.check.padding(toLength: 13, withPad: " ", startingAt: 0)
            var line = "  [\(status)] \(name) \(result.summary)"
            if let reason = result.reason { line += " (\(reason))" }
            out += line + "\n"
            for note in result.notes { out += "           \(note)\n" }
            if verbose {
                for entry in result.trace { out += "           | \(entry)\n" }
            }
        }
        let seconds = NumberText.fixed(report.durationSeconds, 3)
        out += "  => \(report.status.rawValue.uppercased()) in \(seconds) s\n"
        return out
    }
}
