import Foundation

/// Times as reports show them: RFC 3339 UTC with second precision, as the contract shows.
public enum Timestamp {
    /// Years 0001 to 9999: what a server tells (a password policy's age, a FILETIME) may be
    /// anything, and time_t of a value out of range traps.
    static let range = -62_135_596_800.0...253_402_300_799.0

    public static func text(_ seconds: Double) -> String {
        var time = time_t(seconds.isFinite ? min(max(seconds, range.lowerBound), range.upperBound) : 0)
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
