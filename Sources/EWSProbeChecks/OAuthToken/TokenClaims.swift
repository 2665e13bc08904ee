import EWSProbeCore
import Foundation
import JWTKit

/// What a token says of itself: Entra's access tokens are JWTs (read, not verified: the API
/// that accepts them is the judge), Google's are opaque and say only what was granted.
struct TokenClaims: Sendable, Equatable {
    var roles: [String] = []
    /// Delegated scopes (`scp`), or the scopes a Google grant was given.
    var scopes: [String] = []
    var tenant: String?
    var appID: String?
    var audience: String?
    var expires: Double?

    /// The claims of a JWT access token; empty for an opaque one.
    static func read(_ token: String) -> TokenClaims {
        guard let parsed = try? DefaultJWTParser().parse(Array(token.utf8), as: Payload.self) else { return TokenClaims() }
        let payload = parsed.payload
        return TokenClaims(
            roles: (payload.roles ?? []).map(LabelValue.bounded).prefix(64).map { $0 },
            scopes: (payload.scp ?? "").split(separator: " ").prefix(64).map { LabelValue.bounded(String($0)) },
            tenant: payload.tid.map(LabelValue.bounded), appID: (payload.appid ?? payload.azp).map(LabelValue.bounded),
            audience: payload.aud?.value.first.map(LabelValue.bounded), expires: payload.exp)
    }

    /// The claims ewsprobe reads; anything else in the token is ignored.
    struct Payload: JWTPayload {
        var roles: [String]?
        var scp: String?
        var tid: String?
        var appid: String?
        var azp: String?
        var aud: AudienceClaim?
        var exp: Double?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }
}
