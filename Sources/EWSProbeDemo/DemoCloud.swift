import COpenSSL
import EWSProbeChecks
import EWSProbeCore
import EWSProbeTransport
import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import NIOCore

/// The demo's Microsoft 365 tenant on the demo site: an Entra-like authority (OpenID
/// configuration, client credentials with the demo's client secret or its certificate's PS256
/// assertion, verified), Graph's inbox and EWS on Exchange Online. One application is healthy;
/// the other finds Graph throttled and EWS blocked by the retirement's policy, as tenants that
/// did not allow their connector see it since 1 October 2026.
public final class DemoCloud: Sendable {
    static let tenant = "contoso.demo.test"
    static let tenantID = "8c1e0f52-3d7a-4b69-a0e4-5f2b9c7d1e30"
    static let certificateClient = "5d2b7e40-9a1c-4f83-b6d5-0e7a3c9f1b24"
    static let secretClient = "a7f3c915-2e6b-4d08-9c4a-1b5e8d0f6c37"
    static let hostNames = ["login.demo.test", "graph.demo.test", "outlook.demo.test"]

    let secretFile: String
    let certificateFile: String
    let keyFile: String
    private let secret: String
    /// Verifies the certificate client's assertions.
    private let assertionKeys: JWTKeyCollection
    /// Signs the tokens the demo authority issues.
    private let tokenKeys: JWTKeyCollection

    init() async throws {
        let directory = DemoWorkspace.file("cloud-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        secret = "demo~" + UUID().uuidString
        secretFile = directory.appendingPathComponent("client.secret").path
        certificateFile = directory.appendingPathComponent("client.crt").path
        keyFile = directory.appendingPathComponent("client.key").path
        let (certificatePEM, keyPEM) = try Self.clientCertificate()
        for (path, text) in [(secretFile, secret), (certificateFile, certificatePEM), (keyFile, keyPEM)] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
        }
        assertionKeys = JWTKeyCollection()
        await assertionKeys.add(pss: try Insecure.RSA.PublicKey(certificatePEM: certificatePEM), digestAlgorithm: .sha256)
        tokenKeys = JWTKeyCollection()
        await tokenKeys.add(hmac: HMACKey(from: (0..<32).map { _ in UInt8.random(in: 0...255) }), digestAlgorithm: .sha256)
    }

    /// A self-signed RSA certificate for the application's certificate credential.
    static func clientCertificate() throws -> (String, String) {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, nil) else { throw DemoError(message: "no RSA key context") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_rsa_keygen_bits(context, 2048) == 1,
            EVP_PKEY_keygen(context, &key) == 1, let key
        else { throw DemoError(message: "cannot make the demo application's key") }
        defer { EVP_PKEY_free(key) }
        guard let certificate = DemoPKI.certificate(subject: "ewsprobe demo connector", key: key, issuer: nil, extensions: [])
        else { throw DemoError(message: "cannot make the demo application's certificate") }
        defer { X509_free(certificate) }
        guard let certificatePEM = PEMText.written(by: { PEM_write_bio_X509($0, certificate) }),
            let keyPEM = PEMText.written(by: { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) })
        else { throw DemoError(message: "cannot encode the demo application's certificate") }
        return (certificatePEM, keyPEM)
    }

    struct AssertionClaims: JWTPayload {
        var aud: String
        var iss: String
        var sub: String
        var exp: ExpirationClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
            guard iss == DemoCloud.certificateClient, sub == iss else {
                throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "iss")
            }
        }
    }

    struct TokenClaims: JWTPayload {
        var aud: String
        var iss: String
        var tid: String
        var appid: String
        var roles: [String]
        var exp: ExpirationClaim
        var iat: IssuedAtClaim

        func verify(using algorithm: some JWTAlgorithm) async throws { try exp.verifyNotExpired() }
    }

    func routes(_ router: Router<DemoSite.Context>) {
        router.get("/:tenant/v2.0/.well-known/openid-configuration") { request, context -> Response in
            let authority = "https://\(request.head.authority ?? "login.demo.test")"
            guard context.parameters.get("tenant") == Self.tenant || context.parameters.get("tenant") == Self.tenantID else {
                return Self.json(
                    .badRequest,
                    ["error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found.", "error_codes": [90002]])
            }
            return Self.json(
                .ok,
                [
                    "token_endpoint": "\(authority)/\(Self.tenantID)/oauth2/v2.0/token", "issuer": "\(authority)/\(Self.tenantID)/v2.0",
                    "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                ])
        }
        router.post("/:tenant/oauth2/v2.0/token") { request, _ -> Response in
            let form = Self.form(String(buffer: try await request.body.collect(upTo: 64 * 1024)))
            let endpoint = "https://\(request.head.authority ?? "")\(request.head.path ?? "")"
            return await self.token(form, endpoint: endpoint)
        }
        router.get("/v1.0/users/:mailbox/mailFolders/inbox") { request, context -> Response in
            guard let claims = await self.bearer(request), claims.roles.contains("Mail.ReadWrite") else {
                return Self.json(.forbidden, ["error": ["code": "ErrorAccessDenied", "message": "Access is denied."]])
            }
            if context.parameters.get("mailbox")?.hasPrefix("busy") == true {
                var response = Self.json(
                    .tooManyRequests,
                    ["error": ["code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."]])
                response.headers[HTTPField.Name("Retry-After")!] = "30"
                return response
            }
            return Self.json(.ok, ["displayName": "Inbox", "totalItemCount": 12, "unreadItemCount": 2])
        }
        router.post("/exo/EWS/Exchange.asmx") { request, _ -> Response in
            guard let claims = await self.bearer(request), claims.roles.contains(M365Connector.exchangeRole) else {
                return Response(status: .unauthorized)
            }
            guard claims.appid == Self.certificateClient else {
                var headers = HTTPFields()
                headers[HTTPField.Name("X-EWS-Policy-Reason")!] = "EWS is blocked by policy for this user or tenant"
                return Response(status: .forbidden, headers: headers)
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/xml; charset=utf-8"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: Self.getFolderAnswer)))
        }
    }

    /// The client-credentials grant: the secret client by its secret, the certificate client by
    /// its assertion (signature, audience, issuer, expiry).
    private func token(_ form: [String: String], endpoint: String) async -> Response {
        guard form["grant_type"] == "client_credentials", let client = form["client_id"], let scope = form["scope"],
            scope.hasSuffix("/.default")
        else {
            return Self.json(.badRequest, ["error": "invalid_request", "error_description": "AADSTS900144: missing parameter."])
        }
        switch client {
        case Self.secretClient where form["client_secret"] == secret: break
        case Self.certificateClient:
            guard let assertion = form["client_assertion"],
                let claims = try? await assertionKeys.verify(assertion, as: AssertionClaims.self), claims.aud == endpoint
            else {
                return Self.json(
                    .unauthorized,
                    [
                        "error": "invalid_client", "error_description": "AADSTS700027: Client assertion failed signature validation.",
                        "error_codes": [700027],
                    ])
            }
        default:
            return Self.json(
                .unauthorized,
                [
                    "error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                ])
        }
        let resource = String(scope.dropLast("/.default".count))
        let roles = resource.contains("graph") ? ["Mail.ReadWrite"] : [M365Connector.exchangeRole]
        let now = Date()
        let claims = TokenClaims(
            aud: resource, iss: "https://sts.demo.test/\(Self.tenantID)/", tid: Self.tenantID, appid: client, roles: roles,
            exp: ExpirationClaim(value: now.addingTimeInterval(3599)), iat: IssuedAtClaim(value: now))
        guard let token = try? await tokenKeys.sign(claims) else { return Response(status: .internalServerError) }
        return Self.json(.ok, ["token_type": "Bearer", "expires_in": 3599, "access_token": token])
    }

    private func bearer(_ request: Request) async -> TokenClaims? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        return try? await tokenKeys.verify(String(header.dropFirst(7)), as: TokenClaims.self)
    }

    static func form(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static let getFolderAnswer = """
        <?xml version="1.0" encoding="utf-8"?>
        <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>
        <h:ServerVersionInfo MajorVersion="15" MinorVersion="20" MajorBuildNumber="8005" MinorBuildNumber="21" \
        xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header><s:Body>
        <m:GetFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" \
        xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>
        <m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders>
        <t:Folder><t:FolderId Id="AAMk"/></t:Folder></m:Folders></m:GetFolderResponseMessage></m:ResponseMessages>
        </m:GetFolderResponse></s:Body></s:Envelope>
        """

    /// The demo's two Microsoft 365 connectors, pointed at the demo site.
    func targetsYAML(sitePort: Int, caFile: String) -> String {
        let resolve = "[" + Self.hostNames.map { "\"\($0):\(sitePort):127.0.0.1\"" }.joined(separator: ", ") + "]"
        let urls = """
                  authority: https://login.demo.test:\(sitePort)
                  graph: https://graph.demo.test:\(sitePort)
                  exchange: https://outlook.demo.test:\(sitePort)/exo
            """
        return """
              - name: demo-m365-healthy
                m365:
                  tenant: \(Self.tenant)
                  client_id: \(Self.certificateClient)
                  certificate_file: \(certificateFile)
                  key_file: \(keyFile)
            \(urls)
                mailbox_check: probe@\(Self.tenant)
                ca_file: \(caFile)
                resolve: \(resolve)
                labels: {site: demo}
              - name: demo-m365-ews-blocked
                m365:
                  tenant: \(Self.tenant)
                  client_id: \(Self.secretClient)
                  client_secret_file: \(secretFile)
            \(urls)
                mailbox_check: busy@\(Self.tenant)
                ca_file: \(caFile)
                resolve: \(resolve)
                labels: {site: demo}

            """
    }
}
