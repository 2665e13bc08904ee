/// Bounds a value the probed server chose before it becomes a Prometheus label: a hostile or
/// broken server must not grow the exposition (the design contract: no unbounded value becomes
/// a label). Printable characters only, at most `maxBytes` bytes of UTF-8.
public enum LabelValue {
    public static let maxBytes = 128
    /// Appended when a value was cut, so a cut value never passes for a whole one.
    static let cutMark = "..."

    public static func bounded(_ value: String) -> String {
        // The usual case: short printable ASCII, returned as it is.
        if value.utf8.count <= maxBytes, value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return value }
        var out = String.UnicodeScalarView()
        var bytes = 0
        let room = maxBytes - cutMark.utf8.count
        let fits = value.utf8.count <= maxBytes
        for scalar in value.unicodeScalars {
            let kept = isPrintable(scalar) ? scalar : "?"
            let size = String(kept).utf8.count
            if !fits, bytes + size > room { return String(out) + cutMark }
            out.append(kept)
            bytes += size
        }
        return String(out)
    }

    /// Not a control, format (bidi overrides, zero-width) or line/paragraph separator character.
    package static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse, .unassigned: false
        default: true
        }
    }
}
