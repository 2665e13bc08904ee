import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

/// The two guards for text a server chose: `LabelValue` before a label, `TerminalText` before
/// the terminal.
@Suite struct ServerTextTests {
    @Test func labelValuesStayAsTheyAreWhenShortAndPrintable() {
        #expect(LabelValue.bounded("mail.lab.test") == "mail.lab.test")
        #expect(LabelValue.bounded("Zürich CA") == "Zürich CA")
        #expect(LabelValue.bounded("") == "")
        #expect(LabelValue.bounded(String(repeating: "a", count: 128)) == String(repeating: "a", count: 128))
    }

    @Test func labelValuesAreCutAndPrintable() {
        let cut = LabelValue.bounded(String(repeating: "a", count: 129))
        #expect(cut.utf8.count == 128 && cut.hasSuffix("..."))
        // Never cut inside a character.
        let wide = LabelValue.bounded(String(repeating: "é", count: 100))
        #expect(wide.utf8.count <= 128 && wide.hasSuffix("...") && wide.dropLast(3).allSatisfy { $0 == "é" })
        #expect(LabelValue.bounded("a\nb\u{1b}[2K\u{07}\u{202e}c") == "a?b?[2K??c")
    }

    @Test func terminalTextMakesControlsVisibleOnOneLine() {
        #expect(TerminalText.escaped("plain text") == "plain text")
        #expect(TerminalText.escaped("a\nb\r\tc") == #"a\nb\r\tc"#)
        #expect(TerminalText.escaped("\u{1b}[2K\u{07}\u{7f}\u{9b}") == #"\x1b[2K\x07\x7f\x9b"#)
        #expect(TerminalText.escaped("abc\u{202e}def") == #"abc\u{202e}def"#)
        #expect(TerminalText.escaped("Zürich") == "Zürich")
    }
}
