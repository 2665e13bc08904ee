/// Fixed-point text for reports. Foundation's `String(format:)` costs tens of microseconds per
/// call on Linux, which showed in the per-probe profile.
public enum NumberText {
    /// `value` with exactly `digits` decimals (0...6), rounded half away from zero.
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return String(value) }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e15 else { return String(value) }
        let whole = Int64(scaled)
        let divisor = Int64(scale)
        var text = (value < 0 && whole != 0 ? "-" : "") + String(whole / divisor)
        if digits > 0 {
            let fraction = String(whole % divisor)
            text += "." + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        return text
    }
}
