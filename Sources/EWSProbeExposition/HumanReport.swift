import EWSProbeCore
import Foundation

/// The step-by-step text report of `ewsprobe probe`, in the spirit of Microsoft's Remote
/// Connectivity Analyzer: one line per check, the trace under it when asked. Summaries, notes
/// and trace lines carry what servers sent (certificate names, headers, NTLM names), so every
/// piece goes through `TerminalText` here, once, and stays on its own line.
public enum HumanReport {
    public static func render(_ report: ProbeReport, verbose: Bool) -> String {
        var out = "\(TerminalText.escaped(report.targetName)) \(TerminalText.escaped(report.url))\n"
        for result in report.checks {
            let status = fixedWidth(result.status.rawValue.uppercased(), 4)
            let name = fixedWidth(TerminalText.escaped(result.check), 13)
            var line = "  [\(status)] \(name) \(TerminalText.escaped(result.summary))"
            if let reason = result.reason { line += " (\(TerminalText.escaped(reason)))" }
            out += line + "\n"
            for note in result.notes { out += "           \(TerminalText.escaped(note))\n" }
            if verbose {
                for entry in result.trace { out += "           | \(TerminalText.escaped(entry))\n" }
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
