import EWSProbeCore
import Foundation
import Synchronization

/// Tokens by target, credential and scope, in memory only, until a minute before they expire:
/// a target probed every minute asks its authority about once an hour, as the connector does.
final class TokenCache: Sendable {
    static let margin = 60.0
    static let maxEntries = 20_000

    private let entries = Mutex<[String: AccessToken]>([:])

    func token(for key: String, now: Double) -> AccessToken? {
        entries.withLock { entries in
            guard let token = entries[key] else { return nil }
            guard token.expiresAt - Self.margin > now else {
                entries[key] = nil
                return nil
            }
            return token
        }
    }

    func keep(_ token: AccessToken, for key: String, now: Double) {
        guard token.expiresAt - Self.margin > now else { return }
        entries.withLock { entries in
            if entries.count >= Self.maxEntries {
                entries = entries.filter { $0.value.expiresAt - Self.margin > now }
                if entries.count >= Self.maxEntries { entries.removeAll() }
            }
            entries[key] = token
        }
    }

    func forget(_ key: String) {
        entries.withLock { $0[key] = nil }
    }
}
