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
        var url: EndpointURL?
        var name: String?
        for (key, value) in try item.entries(allowed: ConfigLoader.targetKeys) {
            switch key {
            case "name": name = try Self.name(value, names: &names)
            case "url":
                let text = try value.nonEmptyString()
                guard let parsed = EndpointURL(text) else { throw value.error(EndpointURLRefusal.message(for: text)) }
                url = parsed
            default: entries.append((key, value))
            }
        }
        guard let url else { throw item.error("url: a target needs a url") }
        if name == nil, let line = names[url.host] {
            throw item.error("target name \"\(url.host)\" (from the URL) is already used on line \(line); set name:")
        }
        if name == nil { names[url.host] = item.line }
        spec = TargetSpec(name: name ?? url.host, url: url)
        for (key, value) in entries { try take(key, value) }
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

    /// Credentials come as a pair, a mailbox only with them, and only over verified TLS.
    func checkCredentials() throws {
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
        if let password = spec.proxy?.password, password.isWorldReadable, let section = proxySection {
            warnings.append(
                ConfigWarning(
                    file: section.file, line: section.line, key: section.path,
                    message: "proxy password file is readable by group or others (chmod 600)"))
        }
        return warnings
    }
}
