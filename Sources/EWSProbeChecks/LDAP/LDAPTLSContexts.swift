import CLDAP
import EWSProbeTransport
import Foundation
import Synchronization

/// libldap's TLS contexts, one per trust file as it is on disk: making one loads the CA bundle
/// (about 25 ms of a directory probe's CPU), so sessions share it. A rewritten `ca_file` (new
/// size or time) gets a new context; the old one stays referenced, as a few bytes per change.
final class LDAPTLSContexts: Sendable {
    private struct Context: @unchecked Sendable {
        var stamp: String
        var pointer: UnsafeMutableRawPointer
    }

    private let contexts = Mutex<[String: Context]>([:])

    /// The context for `caFile`'s current contents, if one was made already.
    func context(for caFile: String?) -> UnsafeMutableRawPointer? {
        let (key, stamp) = Self.key(caFile)
        return contexts.withLock { $0[key].flatMap { $0.stamp == stamp ? $0.pointer : nil } }
    }

    /// Keeps `ld`'s freshly made context for the next sessions with `caFile`.
    func remember(_ ld: OpaquePointer, for caFile: String?) {
        let (key, stamp) = Self.key(caFile)
        guard let pointer = ewsldap_tls_context(ld) else { return }
        contexts.withLock { $0[key] = Context(stamp: stamp, pointer: pointer) }
    }

    static func key(_ caFile: String?) -> (String, String) {
        guard let caFile else { return ("", "") }
        var info = stat()
        guard stat(caFile, &info) == 0 else { return (caFile, "missing") }
        return (caFile, "\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):\(info.st_ino)")
    }
}
