import EWSProbeTransport
import Foundation
import Yams

/// Reads YAML configuration files into a validated `ProbeConfig`.
///
/// The schema follows blackbox_exporter's modules + targets. Every error names the file, the line
/// and the key, and unknown keys are errors, so a typo never silently disables a check.
public enum ConfigLoader {
    static let topKeys: Set<String> = ["global", "include", "modules", "targets"]
    static let globalKeys: Set<String> = ["interval", "timeout", "max_concurrency"]
    static let moduleBaseKeys: Set<String> = [
        "checks", "timeout", "interval", "ca_file", "resolve", "source_address", "proxy", "check_intervals",
    ]
    static let targetKeys: Set<String> = [
        "name", "url", "module", "interval", "timeout", "labels", "resolve", "ca_file",
        "username", "password_file", "password_env", "mailbox_check", "password", "source_address", "proxy",
        "m365", "google_workspace",
    ]
    static let reservedLabels: Set<String> = ["target", "check", "address", "module", "job", "instance", "reason"]
    public static func load(file path: String, registry: CheckRegistry) throws -> ProbeConfig {
        var state = LoadState(registry: registry)
        let root = try parse(file: path)
        try load(root: root, state: &state, depth: 0)
        return try finish(state)
    }

    /// Loads from text (tests, the embedded demo); `name` stands in for the file name in errors.
    public static func load(yaml: String, name: String, baseDirectory: String = ".", registry: CheckRegistry) throws
        -> ProbeConfig
    {
        var state = LoadState(registry: registry)
        let root = try parse(yaml: yaml, name: name, baseDirectory: baseDirectory)
        try load(root: root, state: &state, depth: 0)
        return try finish(state)
    }

    /// The located YAML tree of another file in the same error contract (the web config).
    public static func document(file path: String) throws -> YAMLSection {
        try parse(file: path).section
    }

    struct Root {
        var section: YAMLSection
        var directory: String
    }

    struct PendingTarget {
        var section: YAMLSection
        var moduleSection: YAMLSection?
        var spec: TargetSpec
    }

    struct LoadState {
        /// The checks modules may name.
        var registry: CheckRegistry
        var global = GlobalConfig()
        var globalSeen = false
        var globalTimeoutSection: YAMLSection?
        var modules: [String: ModuleConfig] = [:]
        var targets: [PendingTarget] = []
        var warnings: [ConfigWarning] = []
        var targetNames: [String: Int] = [:]
        var included: Set<String> = []
    }

    static let maxFileBytes = 16 << 20

    static func parse(file path: String) throws -> Root {
        // Only regular files of sane size: an include of /dev/zero or a FIFO must not hang the load.
        let data: [UInt8]
        switch RegularFile.read(path, limit: maxFileBytes) {
        case .success(let bytes): data = bytes
        case .failure(let problem): throw ConfigError(file: path, line: 0, key: "", message: problem.description)
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw ConfigError(file: path, line: 0, key: "", message: "the file is not UTF-8")
        }
        let directory = (path as NSString).deletingLastPathComponent
        return try parse(yaml: text, name: path, baseDirectory: directory.isEmpty ? "." : directory)
    }

    static func parse(yaml: String, name: String, baseDirectory: String) throws -> Root {
        if let problem = YAMLAliasGuard.problem(in: yaml) {
            throw ConfigError(file: name, line: problem.line, key: "", message: problem.message)
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw yamlError(error, file: name)
        }
        guard let node else {
            throw ConfigError(file: name, line: 1, key: "", message: "the file is empty")
        }
        return Root(section: YAMLSection(file: name, path: "", node: node), directory: baseDirectory)
    }

    static func yamlError(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, column: mark.column, key: "", message: "YAML syntax: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigError(
                file: file, line: context.mark.line, column: context.mark.column,
                key: duplicates.joined(separator: ", "), message: "duplicate key")
        default:
            return ConfigError(file: file, line: 0, key: "", message: "YAML: \(error)")
        }
    }

    static func load(root: Root, state: inout LoadState, depth: Int) throws {
        for (key, section) in try root.section.entries(allowed: topKeys) {
            switch key {
            case "global":
                if depth > 0 { throw section.error("only the top-level file may set global settings") }
                try loadGlobal(section, into: &state)
            case "include":
                for item in try section.items() {
                    let relative = try item.nonEmptyString()
                    let path = relative.hasPrefix("/") ? relative : "\(root.directory)/\(relative)"
                    let canonical = URL(fileURLWithPath: path).standardizedFileURL.path
                    guard depth < 4 else { throw item.error("includes nest too deeply") }
                    guard !state.included.contains(canonical) else { throw item.error("\(relative) is included twice") }
                    state.included.insert(canonical)
                    guard FileManager.default.fileExists(atPath: path) else {
                        throw item.error("included file \(relative) does not exist")
                    }
                    try load(root: try parse(file: path), state: &state, depth: depth + 1)
                }
            case "modules":
                for (name, moduleSection) in try section.entries() {
                    guard state.modules[name] == nil else { throw moduleSection.error("module \"\(name)\" is defined twice") }
                    state.modules[name] = try loadModule(name: name, section: moduleSection, registry: state.registry)
                }
            case "targets":
                for item in try section.items() {
                    try loadTarget(item, state: &state)
                }
            default:
                break
            }
        }
    }

    static func loadGlobal(_ section: YAMLSection, into state: inout LoadState) throws {
        for (key, value) in try section.entries(allowed: globalKeys) {
            switch key {
            case "interval": state.global.interval = try value.duration(.interval)
            case "timeout":
                state.global.timeout = try value.duration(.timeout)
                state.globalTimeoutSection = value
            case "max_concurrency": state.global.maxConcurrency = try value.int(in: 1...10_000)
            default: break
            }
        }
        if let section = state.globalTimeoutSection, state.global.timeout > state.global.interval {
            throw section.error(
                "timeout \(DurationText.format(state.global.timeout)) is longer than interval \(DurationText.format(state.global.interval))"
            )
        }
        state.globalSeen = true
    }

    static func loadModule(name: String, section: YAMLSection, registry: CheckRegistry) throws -> ModuleConfig {
        let checkTypes = Dictionary(uniqueKeysWithValues: registry.types.map { ($0.name, $0) })
        let allowed = moduleBaseKeys.union(checkTypes.keys)
        var module = ModuleConfig(name: name, checks: [])
        var checkNames: [(String, YAMLSection)] = []
        var settings: [String: YAMLSection] = [:]
        var sawChecks = false
        for (key, value) in try section.entries(allowed: allowed) {
            switch key {
            case "checks":
                sawChecks = true
                var seen: Set<String> = []
                for item in try value.items() {
                    let checkName = try item.nonEmptyString()
                    guard checkTypes[checkName] != nil else {
                        let known = registry.names.joined(separator: ", ")
                        throw item.error("unknown check \"\(checkName)\" (known checks: \(known))")
                    }
                    guard seen.insert(checkName).inserted else { throw item.error("check \"\(checkName)\" is listed twice") }
                    checkNames.append((checkName, item))
                }
            case "timeout": module.timeout = try value.duration(.timeout)
            case "interval": module.interval = try value.duration(.interval)
            case "ca_file": module.caFile = try readableFile(value)
            case "resolve": module.resolve = try pins(value)
            case "source_address": module.sourceAddress = try value.sourceAddress()
            case "proxy": module.proxy = try value.proxySettings()
            case "check_intervals":
                for (checkName, every) in try value.entries() {
                    guard checkTypes[checkName] != nil else {
                        throw every.error("unknown check \"\(checkName)\" (known checks: \(registry.names.joined(separator: ", ")))")
                    }
                    module.checkIntervals[checkName] = try every.duration(.interval)
                }
            default: settings[key] = value
            }
        }
        if !sawChecks {
            checkNames = registry.types.map { ($0.name, section) }
        }
        guard !checkNames.isEmpty else { throw section.error("checks: the module runs no check") }
        var checks: [any Check] = []
        for (checkName, _) in checkNames {
            let block = settings[checkName].flatMap { $0.isNull ? nil : $0 }
            checks.append(try makeCheck(checkTypes[checkName]!, settings: block))
        }
        module.checks = checks
        return module
    }

    static func makeCheck<C: Check>(_ type: C.Type, settings: YAMLSection?) throws -> any Check {
        guard let settings else { return C() }
        return try C(settings: settings)
    }

    static func loadTarget(_ item: YAMLSection, state: inout LoadState) throws {
        let entry = try TargetEntry(item, names: &state.targetNames)
        try entry.checkCredentials()
        state.warnings += entry.warnings()
        // Assembled in finish(), once modules and globals are known.
        state.targets.append(PendingTarget(section: item, moduleSection: entry.moduleSection, spec: entry.spec))
    }

    static func finish(_ state: LoadState) throws -> ProbeConfig {
        var targets: [TargetConfig] = []
        targets.reserveCapacity(state.targets.count)  // exact: 10,000 targets would otherwise leave 6,000 empty slots
        for pending in state.targets {
            let module: ModuleConfig
            if let moduleName = pending.spec.moduleName {
                guard
                    let named = ProbeConfig.module(
                        named: moduleName, in: state.modules, registry: state.registry, for: pending.spec.endpoint.kind)
                else {
                    let known = (state.modules.keys.sorted() + ["default"]).joined(separator: ", ")
                    throw (pending.moduleSection ?? pending.section).error("unknown module \"\(moduleName)\" (defined: \(known))")
                }
                module = named
            } else {
                module = state.modules["default"] ?? state.registry.defaultModule(for: pending.spec.endpoint.kind)
            }
            do throws(TargetAssembly.Problem) {
                targets.append(try TargetAssembly.build(pending.spec, module: module, global: state.global))
            } catch {
                throw pending.section.error(error.description)
            }
        }
        var config = ProbeConfig(
            global: state.global, modules: state.modules, targets: targets, warnings: state.warnings, registry: state.registry)
        config.specs = state.targets.map(\.spec)
        return config
    }

    static func pins(_ section: YAMLSection) throws -> [ResolvePin] {
        try section.stringList().enumerated().map { index, text in
            switch ResolvePin.parse(text) {
            case .success(let pin): return pin
            case .failure(let error):
                let items = (try? section.items()) ?? [section]
                throw items[min(index, items.count - 1)].error(error.description)
            }
        }
    }

    /// A file the probes read later (a CA bundle): a regular, readable file, or the load fails.
    static func readableFile(_ section: YAMLSection) throws -> String {
        let path = try section.nonEmptyString()
        if let problem = RegularFile.problem(path) { throw section.error(problem.description) }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw section.error("cannot read \(path)")
        }
        return path
    }

    static func isValidLabelName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !name.hasPrefix("__") else { return false }
        let isStart = { (c: Unicode.Scalar) in (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" }
        return isStart(first) && name.unicodeScalars.allSatisfy { isStart($0) || ($0 >= "0" && $0 <= "9") }
    }

    static func isPlausibleAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !text.contains(where: \.isWhitespace)
    }
}
