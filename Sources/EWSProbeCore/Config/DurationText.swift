import Foundation

/// Durations as configuration and the command line write them: Prometheus style (`500ms`,
/// `10s`, `1m30s`, `2h`, `1d`) or a bare number of seconds (`5`, `0.5`), as curl and the
/// monitoring plugins take them. One parser and one set of bounds for every duration, so no
/// value is accepted in one place and silently replaced in another.
public enum DurationText {
    /// What a duration is for decides its bounds.
    public enum Rule: Sendable {
        /// How often a target runs: at least 1 s (anything faster is a denial of service on
        /// the target and on ewsprobe itself).
        case interval
        /// How long a probe or one of its steps may take: at least 10 ms.
        case timeout
        /// Anything else: at least 1 ms.
        case any

        var minimum: Duration {
            switch self {
            case .interval: .seconds(1)
            case .timeout: .milliseconds(10)
            case .any: .milliseconds(1)
            }
        }
    }

    public struct Problem: Error, Sendable, Equatable {
        public var message: String
    }

    static let maximum = Duration.seconds(366 * 86400)

    public static func parse(_ text: String, _ rule: Rule = .any) -> Result<Duration, Problem> {
        guard let value = parse(text) else {
            return .failure(Problem(message: "invalid duration \"\(text)\" (use e.g. 500ms, 10s, 1m30s, 2h, or seconds: 5)"))
        }
        guard value >= rule.minimum else {
            return .failure(Problem(message: "\(text) is too short: at least \(format(rule.minimum))"))
        }
        guard value < maximum else {
            return .failure(Problem(message: "\(text) is too long: less than 366d"))
        }
        return .success(value)
    }

    /// The value of `text`, or nil when it is not a duration; no bounds beyond being positive.
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(trimmed), seconds.isFinite {
            return seconds > 0 && seconds < 1e9 ? .nanoseconds(Int64((seconds * 1e9).rounded())) : nil
        }
        var total: Double = 0
        var digits = ""
        var rest = Substring(trimmed)
        guard !rest.isEmpty else { return nil }
        while let c = rest.first {
            if c.isASCII && (c.isNumber || c == ".") {
                digits.append(c)
                rest = rest.dropFirst()
                continue
            }
            guard let number = Double(digits) else { return nil }
            guard let (unit, length) = unit(at: rest) else { return nil }
            rest = rest.dropFirst(length)
            total += number * unit
            digits = ""
        }
        guard digits.isEmpty, total > 0, total < 1e9 else { return nil }
        return .nanoseconds(Int64((total * 1e9).rounded()))
    }

    private static func unit(at text: Substring) -> (Double, Int)? {
        if text.hasPrefix("ms") { return (0.001, 2) }
        switch text.first {
        case "s": return (1, 1)
        case "m": return (60, 1)
        case "h": return (3600, 1)
        case "d": return (86400, 1)
        default: return nil
        }
    }

    public static func format(_ d: Duration) -> String {
        let ms = d.milliseconds
        if ms % 1000 != 0 { return "\(ms)ms" }
        let s = ms / 1000
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
