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

    /// The claims of a JWT access token; empty for an opaque one. `clean` bounds each value (the
    /// run's redaction first: the authority chose them).
    static func read(_ token: String, clean: (String) -> String = LabelValue.bounded) -> TokenClaims {
        guard let parsed = try? DefaultJWTParser().parse(Array(token.utf8), as: Payload.self) else { return TokenClaims() }
        let payload = parsed.payload
        return TokenClaims(
            roles: (payload.roles ?? []).prefix(64).map(clean),
            scopes: (payload.scp ?? "").split(separator: " ").prefix(64).map { clean(String($0)) },
            tenant: payload.tid.map(clean), appID: (payload.appid ?? payload.azp).map(clean),
            audience: payload.aud?.value.first.map(clean), expires: payload.exp.flatMap(Self.plausibleTime))
    }

    /// A time an authority gave, kept only when it is one (finite, within a day of now or later
    /// up to a year): a hostile `exp` or `expires_in` must not overflow a conversion.
    static func plausibleTime(_ value: Double) -> Double? {
        let now = Date().timeIntervalSince1970
        guard value.isFinite, value > now - 86400, value < now + 366 * 86400 else { return nil }
        return value
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
