import EWSProbeCore
import EWSProbeTransport

/// A bearer token an authority issued, with what it says of itself. The value never leaves
/// memory: reports carry the claims only.
struct AccessToken: Sendable {
    let value: Secret
    /// Unix time the token stops working (`expires_in` from the answer, or the JWT's `exp`).
    let expiresAt: Double
    let claims: TokenClaims
    /// The scope it was asked for (`GRAPH/.default`, `EXCHANGE/.default`, Google's scopes).
    let scope: String
    /// Where the authority's token endpoint was: the summary names it.
    let tokenEndpoint: String
}
