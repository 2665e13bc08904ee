import EWSProbeCore
import EWSProbeTransport
import Foundation

/// A throttled API's `Retry-After`: delay-seconds or an HTTP date, as seconds from now.
enum RetryAfter {
    static func seconds(_ response: HTTPResponse, now: Date = Date()) -> Double? {
        guard let text = response.header("Retry-After")?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Double(text), seconds.isFinite, seconds >= 0 { return min(seconds, 86400) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return min(max(0, date.timeIntervalSince(now)), 86400)
    }

    static func measurement(_ seconds: Double, check: String) -> EWSProbeCore.Measurement {
        EWSProbeCore.Measurement(
            "ewsprobe_api_retry_after_seconds", seconds, help: "The Retry-After a throttled cloud API asked for.",
            labels: [("check", check)])
    }
}
