import EWSProbeTransport
import Foundation

/// A Google service account's JSON key file: who it is, where it gets tokens, and its key.
/// Read when the configuration loads (to check it) and again for every grant (keys rotate).
public struct ServiceAccountKey: Sendable {
    public var clientEmail: String
    public var tokenURI: EndpointURL
    public var privateKeyID: String?
    /// The PEM private key; never printed.
    public var privateKey: Secret

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func read(_ path: String) -> Result<ServiceAccountKey, Problem> {
        guard case .success(let bytes) = RegularFile.read(path, limit: 64 << 10) else {
            return .failure(Problem(description: "cannot read service_account_file \(path) (a regular file of at most 64 KiB)"))
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            return .failure(Problem(description: "service_account_file \(path) is not a JSON object"))
        }
        if let type = object["type"] as? String, type != "service_account" {
            return .failure(Problem(description: "service_account_file \(path) is a \"\(type)\" key, not a service account's"))
        }
        guard let email = object["client_email"] as? String, !email.isEmpty, let key = object["private_key"] as? String,
            key.contains("PRIVATE KEY")
        else {
            return .failure(Problem(description: "service_account_file \(path) lacks client_email or private_key"))
        }
        let uriText = object["token_uri"] as? String ?? "https://oauth2.googleapis.com/token"
        guard case .success(let uri) = CloudURL.parse(uriText) else {
            return .failure(Problem(description: "service_account_file \(path): token_uri is not an https URL"))
        }
        return .success(
            ServiceAccountKey(clientEmail: email, tokenURI: uri, privateKeyID: object["private_key_id"] as? String, privateKey: Secret(key))
        )
    }
}
