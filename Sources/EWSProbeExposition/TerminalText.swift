/// Makes a line of text safe for a terminal: a server-provided string (a certificate name, a
/// header, an NTLM name) could otherwise move the cursor, erase lines or forge report lines with
/// newlines and escape sequences. Control and format characters become visible escapes
/// (`\n`, `\x1b`, `\u{202e}`), so the result is always one line.
import EWSProbeCore

public enum TerminalText {
    public static func escaped(_ text: String) -> String {
        // The usual case: printable ASCII only.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if LabelValue.isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value < 0x100 {
                    out += "\\x" + hex(scalar.value, width: 2)
                } else {
                    out += "\\u{" + hex(scalar.value, width: 4) + "}"
                }
            }
        }
        return out
    }

    static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
