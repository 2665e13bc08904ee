import COpenSSL

/// The OCSP response a server stapled to its handshake (`status_request`), copied out of the
/// SSL object while it lives.
enum StapledResponse {
    /// The response's bytes, at most 64 KiB (a real one is a few KiB; a larger one is refused
    /// unread rather than kept), or nil when the server stapled nothing.
    static func read(_ ssl: OpaquePointer) -> [UInt8]? {
        var bytes: UnsafePointer<UInt8>?
        let length = ewsossl_stapled_response(ssl, &bytes)
        guard length > 0, let bytes else { return nil }
        guard length <= 64 * 1024 else { return [] }
        return Array(UnsafeBufferPointer(start: bytes, count: length))
    }
}
