/// One `targets:` entry as the file wrote it, each value with its location: parsed, checked
/// for the credential rules, and turned into a `TargetSpec`.
import EWSProbeTransport

struct TargetEntry {
    let item: YAMLSection
    private(set) var spec: TargetSpec
    private(set) var moduleSection: YAMLSection?
    private var usernameSection: YAMLSection?
    private var passwordSection: YAMLSection?
    private var proxySection: YAMLSection?
    private var mailboxSection: YAMLSection?

    /// `names` holds the target names seen so far, with their lines.
    init(_ item: YAMLSection, names: inout [String: Int]) throws {
        self.item = item
        var entries: [(String, YAMLSection)] = []
        var endpoint: (TargetEndpoint, key: String)?
        var name: String?
        for (key, value) in try item.entries(allowed: ConfigLoader.targetKeys) {
            switch key {
            case "name": name = try Self.name(value, names: &names)
            case "url", "m365", "google_workspace":
                if let endpoint { throw value.error("a target has one of url, m365 and google_workspace (\(endpoint.key) is given)") }
                endpoint = (try Self.endpoint(key, value), key)
            default: entries.append((key, value))
            }
        }
        guard let endpoint = endpoint?.0 else { throw item.error("url: a target needs a url (or an m365 or google_workspace block)") }
        // A connector's tenant names it; a service account names no one target.
        let implied: String?
        switch endpoint {
        case .url(let url): implied = url.host
        case .m365(let connector): implied = connector.tenant
        case .googleWorkspace: implied = nil
        }
        guard let given = name ?? implied else { throw item.error("name: a google_workspace target needs a name") }
        if name == nil, let line = names[given] {
            throw item.error(
                "target name \"\(given)\" (from the \(endpoint.kind.isCloud ? "tenant" : "URL")) is already used on line \(line); set name:"
            )
        }
        if name == nil { names[given] = item.line }
        spec = TargetSpec(name: given, endpoint: endpoint)
        for (key, value) in entries { try take(key, value) }
    }

    private static func endpoint(_ key: String, _ value: YAMLSection) throws -> TargetEndpoint {
        switch key {
        case "m365": return .m365(try ConnectorParser.m365(value))
        case "google_workspace": return .googleWorkspace(try ConnectorParser.googleWorkspace(value))
        default:
            let text = try value.nonEmptyString()
            guard let parsed = EndpointURL(text) else { throw value.error(EndpointURLRefusal.message(for: text)) }
            return .url(parsed)
        }
    }

    private static func name(_ value: YAMLSection, names: inout [String: Int]) throws -> String {
        let text = try value.nonEmptyString()
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }), text.count <= 128 else {
            throw value.error("target names use letters, digits, '-', '_' and '.' only (at most 128)")
        }
        if let line = names[text] { throw value.error("target name \"\(text)\" is already used on line \(line)") }
        names[text] = value.line
        return text
    }

    private mutating func take(_ key: String, _ value: YAMLSection) throws {
        switch key {
        case "module":
            spec.moduleName = try value.nonEmptyString()
            moduleSection = value
        case "interval": spec.interval = try value.duration(.interval)
        case "timeout": spec.timeout = try value.duration(.timeout)
        case "labels": spec.labels = try Self.labels(value)
        case "resolve": spec.resolve = try ConfigLoader.pins(value)
        case "ca_file": spec.caFile = try ConfigLoader.readableFile(value)
        case "source_address": spec.sourceAddress = try value.sourceAddress()
        case "proxy":
            spec.proxy = try value.proxySettings()
            proxySection = value
        case "username":
            spec.username = try value.nonEmptyString()
            usernameSection = value
        case "password":
            throw value.error("a password is never written inline: use password_file or password_env")
        case "password_file", "password_env":
            guard spec.password == nil else { throw value.error("give either password_file or password_env, not both") }
            let text = try value.nonEmptyString()
            spec.password = key == "password_file" ? .file(text) : .environment(text)
            passwordSection = value
        case "mailbox_check":
            let text = try value.nonEmptyString()
            guard ConfigLoader.isPlausibleAddress(text) else { throw value.error("\"\(text)\" is not an email address") }
            spec.mailboxCheck = text
            mailboxSection = value
        default: break
        }
    }

    /// The files holding a connector's secrets, by key.
    private var connectorSecretFiles: [(String, String)] {
        switch spec.endpoint {
        case .url: return []
        case .m365(let connector):
            switch connector.credential {
            case .secret(.file(let path)): return [("m365.client_secret_file", path)]
            case .secret(.environment): return []
            case .certificate(_, let key): return [("m365.key_file", key)]
            }
        case .googleWorkspace(let connector): return [("google_workspace.service_account_file", connector.serviceAccountFile)]
        }
    }

    private static func labels(_ value: YAMLSection) throws -> [(String, String)] {
        try value.entries().map { labelName, labelValue in
            guard ConfigLoader.isValidLabelName(labelName) else {
                throw labelValue.error("\"\(labelName)\" is not a valid Prometheus label name")
            }
            guard !ConfigLoader.reservedLabels.contains(labelName) else {
                throw labelValue.error("label \"\(labelName)\" is reserved by ewsprobe")
            }
            return (labelName, try labelValue.string())
        }
    }

    /// Credentials come as a pair, a mailbox only with them, and only over verified TLS. A
    /// connector carries its own credentials: its mailbox stands alone.
    func checkCredentials() throws {
        if spec.endpoint.kind.isCloud {
            if spec.username != nil || spec.password != nil {
                throw (usernameSection ?? passwordSection ?? item).error(
                    "a cloud connector authenticates with its own credentials (m365 or google_workspace), not username and password")
            }
            if spec.endpoint.kind == .googleWorkspace && spec.mailboxCheck == nil {
                throw item.error("mailbox_check: a google_workspace target acts as a mailbox (the delegation's subject); name it")
            }
            return
        }
        if spec.username != nil && spec.password == nil {
            throw (usernameSection ?? item).error("username needs password_file or password_env")
        }
        if spec.password != nil && spec.username == nil {
            throw (passwordSection ?? item).error("a password reference needs a username")
        }
        if spec.mailboxCheck != nil && spec.username == nil {
            throw (mailboxSection ?? item).error("mailbox_check needs username and a password reference")
        }
        if spec.username != nil, let refusal = CredentialPolicy.refusal(for: spec.url) {
            throw (usernameSection ?? item).error(refusal)
        }
    }

    func warnings() -> [ConfigWarning] {
        var warnings: [ConfigWarning] = []
        if let username = spec.username, let section = usernameSection, let suffix = UserPrincipalName.localOnlySuffix(of: username) {
            warnings.append(
                ConfigWarning(
                    file: section.file, line: section.line, key: section.path,
                    message: "UPN suffix \(suffix) is local-only; use the account's public UPN (user@example.com)"))
        }
        if let password = spec.password, password.isWorldReadable, let section = passwordSection {
            warnings.append(
                ConfigWarning(
                    file: section.file, line: section.line, key: section.path,
                    message: "password file is readable by group or others (chmod 600)"))
        }
        for (key, path) in connectorSecretFiles where SecretReference.file(path).isWorldReadable {
            warnings.append(
                ConfigWarning(
                    file: item.file, line: item.line, key: item.path + "." + key,
                    message: "\(key) \(path) is readable by group or others (chmod 600)"))
        }
        if let password = spec.proxy?.password, password.isWorldReadable, let section = proxySection {
            warnings.append(
                ConfigWarning(
                    file: section.file, line: section.line, key: section.path,
                    message: "proxy password file is readable by group or others (chmod 600)"))
        }
        return warnings
    }
}
