import EWSProbeTransport
import Foundation

/// The `m365:` and `google_workspace:` blocks of a target, each value checked where it is
/// written so an error names its file, line and key.
enum ConnectorParser {
    static let m365Keys: Set<String> = [
        "tenant", "client_id", "client_secret_file", "client_secret_env", "client_secret", "certificate_file", "key_file",
        "authority", "graph", "exchange", "required_roles",
    ]
    static let googleKeys: Set<String> = ["service_account_file", "api", "scopes"]

    static func m365(_ section: YAMLSection) throws -> M365Connector {
        var tenant: String?
        var clientID: String?
        var secret: SecretReference?
        var certificate: String?
        var key: String?
        var urls: [String: EndpointURL] = [:]
        var roles: [String]?
        for (name, value) in try section.entries(allowed: m365Keys) {
            switch name {
            case "tenant":
                let text = try value.nonEmptyString()
                // It goes into the authority's paths: a domain or a GUID, nothing that changes the path.
                guard text.count <= 253, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.".contains($0)) }) else {
                    throw value.error("expected the tenant's domain or id, got \"\(text)\"")
                }
                tenant = text.lowercased()
            case "client_id":
                let text = try value.nonEmptyString()
                guard text.count <= 128, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                    throw value.error("expected the application (client) id, got \"\(text)\"")
                }
                clientID = text
            case "client_secret":
                throw value.error("a client secret is never written inline: use client_secret_file or client_secret_env")
            case "client_secret_file", "client_secret_env":
                guard secret == nil else { throw value.error("give either client_secret_file or client_secret_env, not both") }
                let text = try value.nonEmptyString()
                secret = name == "client_secret_file" ? .file(text) : .environment(text)
            case "certificate_file": certificate = try ConfigLoader.readableFile(value)
            case "key_file": key = try ConfigLoader.readableFile(value)
            case "authority", "graph", "exchange": urls[name] = try url(value)
            case "required_roles":
                roles = try value.stringList()
                guard roles?.isEmpty == false else { throw value.error("name at least one role") }
            default: break
            }
        }
        guard let tenant else { throw section.error("m365 needs tenant") }
        guard let clientID else { throw section.error("m365 needs client_id") }
        let credential: M365Connector.Credential
        switch (secret, certificate, key) {
        case (let secret?, nil, nil): credential = .secret(secret)
        case (nil, let certificate?, let key?): credential = .certificate(certificateFile: certificate, keyFile: key)
        case (nil, nil, nil): throw section.error("m365 needs client_secret_file (or _env), or certificate_file and key_file")
        case (nil, _, _): throw section.error("certificate_file and key_file go together")
        default: throw section.error("give a client secret or a certificate, not both")
        }
        var connector = M365Connector(tenant: tenant, clientID: clientID, credential: credential)
        if let url = urls["authority"] { connector.authority = url }
        if let url = urls["graph"] { connector.graph = url }
        if let url = urls["exchange"] { connector.exchange = url }
        if let roles { connector.requiredRoles = roles }
        return connector
    }

    static func googleWorkspace(_ section: YAMLSection) throws -> GoogleWorkspaceConnector {
        var file: (path: String, section: YAMLSection)?
        var api: EndpointURL?
        var scopes: [String]?
        for (name, value) in try section.entries(allowed: googleKeys) {
            switch name {
            case "service_account_file": file = (try ConfigLoader.readableFile(value), value)
            case "api": api = try url(value)
            case "scopes":
                scopes = try value.stringList()
                guard scopes?.isEmpty == false else { throw value.error("name at least one scope") }
            default: break
            }
        }
        guard let file else { throw section.error("google_workspace needs service_account_file") }
        let account: ServiceAccountKey
        switch ServiceAccountKey.read(file.path) {
        case .success(let key): account = key
        case .failure(let problem): throw file.section.error(problem.description)
        }
        var connector = GoogleWorkspaceConnector(
            serviceAccountFile: file.path, tokenURI: account.tokenURI, clientEmail: account.clientEmail)
        if let api { connector.api = api }
        if let scopes { connector.scopes = scopes }
        return connector
    }

    static func url(_ value: YAMLSection) throws -> EndpointURL {
        switch CloudURL.parse(try value.nonEmptyString()) {
        case .success(let url): return url
        case .failure(let problem): throw value.error(problem.description)
        }
    }
}
