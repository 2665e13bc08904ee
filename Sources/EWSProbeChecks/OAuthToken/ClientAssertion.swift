import EWSProbeCore
import EWSProbeTransport
import Foundation
import JWTKit

/// The signed JWTs a connector proves itself with, made by jwt-kit: Microsoft's certificate
/// credential (PS256, `x5t#S256`) and Google's JWT bearer grant (RS256, RFC 7523).
enum ClientAssertion {
    /// Lifetime of an assertion: Entra and Google accept up to an hour; a few minutes is what
    /// their own libraries send.
    static let lifetime = 300

    struct MicrosoftClaims: JWTPayload {
        var aud: String
        var iss: String
        var sub: String
        var jti: String
        var nbf: Int
        var iat: Int
        var exp: Int

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    struct GoogleClaims: JWTPayload {
        var iss: String
        var sub: String
        var scope: String
        var aud: String
        var iat: Int
        var exp: Int

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// The client assertion for Entra's token endpoint `audience`.
    static func microsoft(clientID: String, audience: String, certificate: ClientCertificate, now: Double) async throws -> Secret {
        let issued = Int(now)
        let claims = MicrosoftClaims(
            aud: audience, iss: clientID, sub: clientID, jti: UUID().uuidString.lowercased(), nbf: issued, iat: issued,
            exp: issued + lifetime)
        let keys = JWTKeyCollection()
        await keys.add(pss: certificate.key, digestAlgorithm: .sha256)
        var header = JWTHeader()
        header.typ = "JWT"
        header[dynamicMember: "x5t#S256"] = .string(certificate.thumbprintS256)
        return Secret(try await keys.sign(claims, header: header))
    }

    /// The JWT bearer grant's assertion: the service account asks for `scopes` as `subject`.
    static func google(account: ServiceAccountKey, subject: String, scopes: [String], now: Double) async throws -> Secret {
        let issued = Int(now)
        let claims = GoogleClaims(
            iss: account.clientEmail, sub: subject, scope: scopes.joined(separator: " "), aud: account.tokenURI.description,
            iat: issued, exp: issued + 3600)
        let keys = JWTKeyCollection()
        let kid = account.privateKeyID.map { JWKIdentifier(string: $0) }
        await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: account.privateKey.reveal()), digestAlgorithm: .sha256, kid: kid)
        var header = JWTHeader()
        header.typ = "JWT"
        return Secret(try await keys.sign(claims, kid: kid, header: header))
    }
}
