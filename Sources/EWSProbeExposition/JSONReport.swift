import EWSProbeCore
import Foundation

/// The JSON report of the design contract: one object per target, one line each (JSON Lines).
public enum JSONReport {
    public static func render(_ report: ProbeReport, includeTrace: Bool = false) -> JSONValue {
        .object([
            ("target", .string(report.url)),
            ("name", .string(report.targetName)),
            ("status", .string(report.status.rawValue)),
            ("started_at", .string(Timestamp.text(report.startedAt))),
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
}
