import Foundation

/// The step-by-step text report of `ewsprobe probe`, in the spirit of Microsoft's Remote
/// Connectivity Analyzer: one line per check, the trace under it when asked.
public enum HumanReport {
    public static func render(_ report: ProbeReport, verbose: Bool) -> String {
        var out = "\(report.targetName) \(report.url)\n"
        for result in report.checks {
            let status = fixedWidth(result.status.rawValue.uppercased(), 4)
            let name = fixedWidth(result.check, 13)
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

    /// Padded or cut to `width` characters (Foundation's `padding` bridges through NSString,
    /// and every stored run renders this).
    static func fixedWidth(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? String(text.prefix(width)) : text + String(repeating: " ", count: width - count)
    }
}
