@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The tests load and build targets with the checks ewsprobe ships unless they say otherwise,
/// as the executable does.
extension ConfigLoader {
    static func load(file path: String) throws -> ProbeConfig {
        try load(file: path, registry: .builtin)
    }

    static func load(yaml: String, name: String, baseDirectory: String = ".") throws -> ProbeConfig {
        try load(yaml: yaml, name: name, baseDirectory: baseDirectory, registry: .builtin)
    }
}

extension TargetConfig {
    init(
        name: String, url: EndpointURL, interval: Duration = GlobalConfig.defaultInterval,
        timeout: Duration = GlobalConfig.defaultTimeout, labels: [(String, String)] = [], resolve: [ResolvePin] = [],
        caFile: String? = nil, username: String? = nil, password: SecretReference? = nil, mailboxCheck: String? = nil
    ) {
        self.init(
            name: name, url: url, module: .builtinDefault, interval: interval, timeout: timeout, labels: labels,
            resolve: resolve, caFile: caFile, username: username, password: password, mailboxCheck: mailboxCheck)
    }
}

extension ProbeConfig {
    init(targets: [TargetConfig]) {
        self.init(targets: targets, registry: .builtin)
    }
}

extension ModuleConfig {
    func selecting(_ names: [String]) throws(SelectionError) -> ModuleConfig {
        try selecting(names, registry: .builtin)
    }
}
