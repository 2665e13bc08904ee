import EWSProbeCore
import EWSProbeTransport
import Foundation

/// Why no token came: the contract's reason and a summary with the authority's own code.
struct TokenFailure: Error, Sendable {
    var reason: String
    var summary: String
    /// The AADSTS number, when the authority gave one.
    var aadsts: Int?

    /// An error answer of the token endpoint (or of Entra's discovery). AADSTS numbers are
    /// matched from `error_codes` first, then from the description, then the OAuth `error`
    /// decides (Microsoft says the texts and numbers may change).
    static func fromAnswer(_ response: HTTPResponse, authority: String, ctx: ProbeContext) -> TokenFailure {
        guard let object = CloudClient.json(response) else {
            let type = response.header("Content-Type") ?? "no type"
            return TokenFailure(
                reason: "token_endpoint_error",
                summary: "\(authority) answered \(response.status) (\(ServerSaid.text(type, ctx))), not an OAuth error")
        }
        let error = (object["error"] as? String).map { ServerSaid.text($0, ctx) } ?? ""
        let description = (object["error_description"] as? String) ?? ""
        let code = (object["error_codes"] as? [NSNumber])?.first?.intValue ?? Self.aadsts(in: description)
        let said = Self.firstLine(description, ctx)
        let detail = [code.map { "AADSTS\($0)" }, error.isEmpty ? nil : error].compactMap { $0 }.joined(separator: ", ")
        let what = said.isEmpty ? detail : "\(detail): \(said)"
        let reason = Self.reason(code: code, error: error, description: description)
        let lead: String
        switch reason {
        case "tenant_not_found": lead = "the tenant does not exist"
        case "invalid_client": lead = "the authority refused the application's identity or credential"
        case "secret_expired": lead = "the client secret has expired: add a new one to the app registration"
        case "unauthorized_client": lead = "the grant is not allowed for this client"
        default: lead = "the authority answered \(response.status)"
        }
        return TokenFailure(reason: reason, summary: "\(lead) (\(what))", aadsts: code)
    }

    static func reason(code: Int?, error: String, description: String) -> String {
        switch code {
        case 90002: return "tenant_not_found"
        case 700016, 7000215, 700027, 700024, 7000112, 700023, 7000216: return "invalid_client"
        case 7000222: return "secret_expired"
        default: break
        }
        switch error {
        case "invalid_tenant": return "tenant_not_found"
        case "invalid_client": return "invalid_client"
        case "unauthorized_client": return "unauthorized_client"
        // Google says a signature it cannot verify is an invalid grant: the assertion is the credential.
        case "invalid_grant" where description.contains("Invalid JWT Signature"): return "invalid_client"
        default: return "token_endpoint_error"
        }
    }

    /// `AADSTS7000215` at the start of a description.
    static func aadsts(in text: String) -> Int? {
        guard let range = text.range(of: "AADSTS") else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    /// The description's first line, without Entra's trace and correlation ids, bounded.
    static func firstLine(_ text: String, _ ctx: ProbeContext) -> String {
        var line = String(text.split(whereSeparator: \.isNewline).first ?? "")
        if let range = line.range(of: "AADSTS"), let colon = line[range.upperBound...].firstIndex(of: ":") {
            line = String(line[line.index(after: colon)...])
        }
        line = line.trimmingCharacters(in: .whitespaces)
        if let trace = line.range(of: " Trace ID:") { line = String(line[..<trace.lowerBound]) }
        return ServerSaid.text(line, ctx)
    }
}
