import Foundation

/// The JSON report of the design contract: one object per target, one line each (JSON Lines).
public enum JSONReport {
    public static func render(_ report: ProbeReport, includeTrace: Bool = false) -> JSONValue {
        .object([
            ("target", .string(report.url)),
            ("name", .string(report.targetName)),
            ("status", .string(report.status.rawValue)),
            ("started_at", .string(timestamp(report.startedAt))),
            ("duration_seconds", .number(rounded(report.durationSeconds))),
            ("checks", .array(report.checks.map { check($0, includeTrace: includeTrace) })),
        ])
    }

    public static func check(_ result: CheckResult, includeTrace: Bool) -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("check", .string(result.check)),
            ("status", .string(result.status.rawValue)),
            ("reason", result.reason.map { .string($0) } ?? .null),
            ("summary", .string(result.summary)),
            ("duration_seconds", .number(rounded(result.durationSeconds))),
            ("details", .object(result.details)),
        ]
        if includeTrace { pairs.append(("trace", .array(result.trace.map { .string($0) }))) }
        return .object(pairs)
    }

    public static func line(_ report: ProbeReport, includeTrace: Bool = false) -> String {
        render(report, includeTrace: includeTrace).serialized
    }

    static func rounded(_ seconds: Double) -> Double { (seconds * 1_000_000).rounded() / 1_000_000 }

    /// RFC 3339 UTC with second precision, as the contract shows.
    public static func timestamp(_ seconds: Double) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        // Digits by hand: String(format:) goes through Foundation's formatter on every probe.
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return digits(parts.tm_year + 1900, 4) + "-" + digits(parts.tm_mon + 1, 2) + "-" + digits(parts.tm_mday, 2) + "T"
            + digits(parts.tm_hour, 2) + ":" + digits(parts.tm_min, 2) + ":" + digits(parts.tm_sec, 2) + "Z"
    }
}
