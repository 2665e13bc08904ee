import CCrypt
import COpenSSL
import EWSProbeCore
import Foundation
import Synchronization

/// Checks Basic credentials against the web config's bcrypt hashes with libxcrypt. bcrypt is
/// slow on purpose (tens of milliseconds at cost 10), so verified pairs are remembered by a
/// digest of user and password — never the password itself — and the hashing runs on threads
/// of its own, not on the server's event loops nor beside the probes' work.
final class BcryptVerifier: Sendable {
    enum Verdict: Sendable, Equatable {
        case accepted, rejected
        /// Every hashing thread is busy and the queue is full: answer 503, do not queue.
        case busy
    }

    /// The server's bcrypt threads, bounded (see `ExporterServer.bcryptPool`).
    private let pool: BoundedWorkerPool

    private let users: [String: String]
    private let verified = Mutex<Set<Data>>([])
    static let cacheLimit = 1024
    /// A cost-10 hash of a random password, compared against for unknown users.
    static let decoyHash = "$2y$10$hJkPJHG6T62PBEyOckYZo.zl3LeJK63DNEUS8B7Lpu3VrHjAqGR5y"

    init(users: [String: String], pool: BoundedWorkerPool) {
        self.users = users
        self.pool = pool
    }

    static func isBcryptHash(_ text: String) -> Bool {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0].isEmpty && ["2a", "2b", "2y"].contains(parts[1]) && parts[2].count == 2
            && Int(parts[2]).map { (4...31).contains($0) } == true && parts[3].count == 53
    }

    func verify(user: String, password: String) async -> Verdict {
        guard let hash = users[user] else {
            // An unknown user costs one bcrypt too, so timing does not tell which users exist.
            let ran = await pool.run { Self.matches(password: password, hash: Self.decoyHash) }
            return ran == nil ? .busy : .rejected
        }
        let key = Self.digest(user + "\u{0}" + password)
        if verified.withLock({ $0.contains(key) }) { return .accepted }
        guard let matches = await pool.run({ Self.matches(password: password, hash: hash) }) else { return .busy }
        if matches {
            verified.withLock { cache in
                if cache.count >= Self.cacheLimit { cache.removeAll() }
                cache.insert(key)
            }
        }
        return matches ? .accepted : .rejected
    }

    static func matches(password: String, hash: String) -> Bool {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer {
            // The structure holds key material; clear it before giving the memory back.
            memset(data, 0, MemoryLayout<crypt_data>.size)
            data.deallocate()
        }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_r(password, hash, data) else { return false }
        let computed = Array(String(cString: result).utf8)
        let expected = Array(hash.utf8)
        guard computed.count == expected.count else { return false }
        return CRYPTO_memcmp(computed, expected, expected.count) == 0
    }

    static func digest(_ text: String) -> Data {
        var out = [UInt8](repeating: 0, count: 32)
        let bytes = Array(text.utf8)
        _ = SHA256(bytes, bytes.count, &out)
        return Data(out)
    }
}
