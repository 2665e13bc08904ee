import EWSProbeTransport
import Synchronization

/// The secrets this process has loaded, for the paths that are not one target's run: error
/// messages, log lines, reload answers. Loading a configuration and every run that reads a
/// password add to it; nothing is forgotten, so a line about an old configuration or a rotated
/// password is still covered.
public final class KnownSecrets: Sendable {
    public static let process = KnownSecrets()

    private struct State {
        var seen: Set<String> = []
        var redactor = SecretRedactor.none
    }

    private let state = Mutex(State())

    public init() {}

    /// Every password the configuration's targets refer to that can be read now.
    public func learn(_ config: ProbeConfig) {
        learn(config.targets.flatMap(\.readableSecrets))
    }

    public func learn(_ secret: Secret, username: String?) { learn([(secret, username)]) }

    /// Merges once for the whole batch: a fleet's passwords must not cost a merge each.
    public func learn(_ secrets: [(Secret, String?)]) {
        state.withLock { state in
            var forms: Set<String> = []
            for (secret, username) in secrets {
                guard state.seen.insert("\(username ?? "")\u{0}\(secret.reveal())").inserted else { continue }
                forms.formUnion(SecretRedactor.forms(of: secret.reveal(), username: username))
            }
            guard !forms.isEmpty else { return }
            state.redactor = state.redactor.merged(with: SecretRedactor(forms: forms))
        }
    }

    public var redactor: SecretRedactor { state.withLock { $0.redactor } }

    public func redact(_ text: String) -> String { redactor.redact(text) }
}

extension TargetConfig {
    /// The target's password and its proxy's, each with its username, and a connector's client
    /// secret, as far as they can be read now.
    public var readableSecrets: [(Secret, String?)] {
        var clientSecret: Secret?
        if case .m365(let connector) = endpoint, case .secret(let reference) = connector.credential {
            clientSecret = try? reference.load()
        }
        return [
            (try? password?.load()).map { ($0, username) },
            (try? proxy?.password?.load()).map { ($0, proxy?.username) },
            clientSecret.map { ($0, nil) },
        ].compactMap { $0 }
    }
}
