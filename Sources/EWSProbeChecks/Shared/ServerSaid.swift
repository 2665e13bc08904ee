import EWSProbeCore

/// Text a cloud server chose (an error description, an API's message), made fit for a report:
/// the run's secrets and any bearer credential removed first, then bounded like a label value.
enum ServerSaid {
    static func text(_ text: String, _ ctx: ProbeContext) -> String {
        var clean = ctx.redactingRemembered(text)
        // A token the run does not know (a server echoing someone's): never shown either.
        for scheme in ["Bearer ", "bearer ", "Basic ", "basic "] {
            var searchFrom = clean.startIndex
            while let range = clean.range(of: scheme, range: searchFrom..<clean.endIndex) {
                let end = clean[range.upperBound...].firstIndex { $0 == " " || $0 == "\"" || $0 == "'" || $0 == "," } ?? clean.endIndex
                clean.replaceSubrange(range.upperBound..<end, with: SecretRedactor.placeholder)
                searchFrom = clean.index(range.upperBound, offsetBy: SecretRedactor.placeholder.count)
            }
        }
        return LabelValue.bounded(clean)
    }
}
