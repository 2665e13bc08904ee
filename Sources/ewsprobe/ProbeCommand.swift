import ArgumentParser
import EWSProbeChecks
import EWSProbeCore
import EWSProbeExposition
import EWSProbeTransport
import Foundation

struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Probe EWS or directory URLs once and print a step-by-step report (exit 0 pass, 1 warn, 2 fail, 3 usage).")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Argument(
        help:
            "URLs: EWS (https://mail.example.com/EWS/Exchange.asmx) or a directory (ldaps://dc1.example.com, ldap:// with StartTLS), or configured target names with --config."
    )
    var urls: [String]

    @Option(help: "Configuration file: its modules (and its targets, when an argument names one).")
    var config: String?

    @Option(help: "Module to run (default: every check that applies to the URL's kind).")
    var module: String?

    @Option(
        help: ArgumentHelp(
            "Run only these checks (comma-separated, e.g. tls,auth_methods), with the module's settings or their defaults.",
            valueName: "names"))
    var checks: String?

    @Option(help: "Output format.")
    var format: Format = .text

    @Option(help: "Timeout for the whole probe of one URL, e.g. 10s or 10 (seconds).")
    var timeout: String?

    @Option(help: "Additional trusted CA certificate file (PEM).")
    var caFile: String?

    @Option(help: "Pin HOST:PORT:ADDR[,ADDR...] without DNS (curl's syntax; repeatable).")
    var resolve: [String] = []

    @Option(help: "Service account for ews_login (UPN) or ldap (UPN or DN).")
    var username: String?

    @Option(help: "File holding the service account's password.")
    var passwordFile: String?

    @Option(help: "Environment variable holding the service account's password.")
    var passwordEnv: String?

    @Option(help: "Mailbox to impersonate in ews_login; on a directory, the address whose entry ldap must find.")
    var mailboxCheck: String?

    @Option(help: "Outbound HTTP proxy, http://HOST:PORT: every HTTP check's connection is a CONNECT tunnel through it.")
    var proxy: String?

    @Option(help: "Account for the proxy's authentication (Basic or NTLM, as the proxy asks; DOMAIN\\user for NTLM).")
    var proxyUsername: String?

    @Option(help: "File holding the proxy account's password.")
    var proxyPasswordFile: String?

    @Option(
        help: ArgumentHelp(
            "Look up the certificates' revocation (stapled OCSP, CRL, OCSP responder) in tls, or not (overrides tls.revocation).",
            valueName: "check|off"))
    var revocation: String?

    @Flag(name: .shortAndLong, help: "Show each check's trace.")
    var verbose = false

    func run() async throws {
        let targets = buildTargets()
        KnownSecrets.process.learn(targets.flatMap(\.readableSecrets))
        let runner = ProbeRunner(runtime: ProbeRuntime())
        var worst: Int32 = 0
        for target in targets {
            let report = await runner.run(target)
            switch format {
            case .json: print(JSONReport.line(report, includeTrace: verbose))
            case .text: print(HumanReport.render(report, verbose: verbose), terminator: "")
            }
            worst = max(worst, report.exitCode)
        }
        throw ExitCode(worst)
    }

    func buildTargets() -> [TargetConfig] {
        var loaded = ProbeConfig(registry: .builtin)
        if let config {
            do {
                loaded = try ConfigLoader.load(file: config, registry: .builtin)
            } catch {
                failConfig(error)
            }
        }
        let checkNames = checks.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        var moduleConfig: ModuleConfig?
        if let module {
            guard let found = loaded.module(named: module) else {
                failConfig(
                    "unknown module \"\(module)\" (defined: \((loaded.modules.keys.sorted() + ["default"]).joined(separator: ", ")))")
            }
            moduleConfig = found
        }
        let overrides = self.overrides()
        let revocation = revocationOverride()
        return urls.map { text in
            let spec: TargetSpec
            var module: ModuleConfig
            if let index = loaded.targets.firstIndex(where: { $0.name == text }) {
                spec = loaded.specs[index]
                module = moduleConfig ?? loaded.targets[index].module
            } else {
                guard let url = EndpointURL(text) else {
                    guard !EndpointURLRefusal.carriesUserinfo(text) else { failConfig(EndpointURLRefusal.message(for: text)) }
                    failConfig("\"\(text)\" is neither an http(s) or ldap(s) URL nor a configured target name")
                }
                spec = TargetSpec(name: url.host, url: url)
                module = moduleConfig ?? loaded.module(named: "default", for: url.kind) ?? .builtinDefault
            }
            if let checkNames { module = selecting(checkNames, from: module) }
            if let revocation { module.checks = module.checks.map { Self.setting(revocation, on: $0) } }
            let target: TargetConfig
            do {
                target = try TargetAssembly.build(spec, module: module, global: loaded.global, overrides: overrides)
            } catch {
                failConfig("\(text): \(error)")
            }
            if target.username != nil, let refusal = CredentialPolicy.refusal(for: target.url) {
                failConfig("\(target.url): --username: \(refusal)")
            }
            return target
        }
    }

    /// The flags that set something over every target's own settings.
    func overrides() -> TargetAssembly.Overrides {
        var overrides = TargetAssembly.Overrides()
        for text in resolve {
            switch ResolvePin.parse(text) {
            case .success(let pin): overrides.pins.append(pin)
            case .failure(let error): failConfig("--resolve: \(error)")
            }
        }
        if let timeout {
            switch DurationText.parse(timeout, .timeout) {
            case .success(let parsed): overrides.timeout = parsed
            case .failure(let problem): failConfig("--timeout: \(problem.message)")
            }
        }
        if passwordFile != nil && passwordEnv != nil { failConfig("give either --password-file or --password-env, not both") }
        let password: SecretReference? = passwordFile.map { .file($0) } ?? passwordEnv.map { .environment($0) }
        if (username == nil) != (password == nil) {
            failConfig("--username needs --password-file or --password-env, and the other way round")
        }
        if mailboxCheck != nil && username == nil { failConfig("--mailbox-check needs --username") }
        if let username, let password {
            overrides.credentials = .init(username: username, password: password, mailboxCheck: mailboxCheck)
        }
        overrides.proxy = proxyOverride()
        if let caFile {
            if let problem = RegularFile.problem(caFile) { failConfig("--ca-file: \(problem)") }
            guard FileManager.default.isReadableFile(atPath: caFile) else { failConfig("--ca-file: cannot read \(caFile)") }
            overrides.caFile = caFile
        }
        return overrides
    }
}

extension ProbeCommand {
    func revocationOverride() -> TLSCheck.Revocation? {
        guard let revocation else { return nil }
        guard let value = TLSCheck.Revocation(rawValue: revocation) else {
            failConfig("--revocation: \"\(revocation)\" is neither check nor off")
        }
        return value
    }

    static func setting(_ revocation: TLSCheck.Revocation, on check: any Check) -> any Check {
        guard var tls = check as? TLSCheck else { return check }
        tls.revocation = revocation
        return tls
    }

    /// `--proxy` with its account; HTTPS_PROXY and NO_PROXY are never read.
    func proxyOverride() -> ProxySettings? {
        guard let proxy else {
            if proxyUsername != nil || proxyPasswordFile != nil { failConfig("--proxy-username and --proxy-password-file need --proxy") }
            return nil
        }
        guard case .success(let (host, port)) = ProxySettings.parse(url: proxy) else {
            if case .failure(let problem) = ProxySettings.parse(url: proxy) { failConfig("--proxy: \(problem)") }
            return nil
        }
        if (proxyUsername == nil) != (proxyPasswordFile == nil) {
            failConfig("--proxy-username needs --proxy-password-file, and the other way round")
        }
        if let file = proxyPasswordFile, let problem = RegularFile.problem(file) { failConfig("--proxy-password-file: \(problem)") }
        return ProxySettings(host: host, port: port, username: proxyUsername, password: proxyPasswordFile.map { .file($0) })
    }
}

func selecting(_ names: [String], from module: ModuleConfig) -> ModuleConfig {
    do {
        return try module.selecting(names, registry: .builtin)
    } catch {
        failConfig("--checks: \(error)")
    }
}
