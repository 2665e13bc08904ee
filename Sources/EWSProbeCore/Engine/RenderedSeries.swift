/// One target's `/metrics` lines in the renderer's own compact encoding, kept by the store until
/// the target's next run replaces them; only the renderer that made them reads the bytes.
public struct RenderedSeries: Sendable {
    package let bytes: [UInt8]

    package init(bytes: [UInt8]) {
        self.bytes = bytes
    }
}
