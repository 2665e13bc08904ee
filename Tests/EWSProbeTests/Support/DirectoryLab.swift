import Foundation
import Testing

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The directory peers the `ldap` tests start: slapd (`ldap_lab.py`), Samba as an AD domain
/// controller (`samba_ad_lab.py`) and the broken `hostile_ldap.py`, each on loopback.
enum DirectoryLab {
    static let support = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// A slapd with LDAPS and StartTLS (or, with `tls: false`, neither) and the ppolicy accounts.
    final class Slapd: @unchecked Sendable {
        let process: LabProcess
        let ldapPort: Int
        let ldapsPort: Int
        let directory: URL
        var log: URL { directory.appendingPathComponent("d/slapd.log") }

        init(certificate: (URL, URL)?, ca: URL?, extra: [String] = []) throws {
            directory = try LabNetwork.temporaryDirectory("slapd")
            ldapPort = LabNetwork.freePort()
            ldapsPort = LabNetwork.freePort()
            var arguments = [
                support.appendingPathComponent("ldap_lab.py").path, "--dir", directory.appendingPathComponent("d").path, "--ldap-port",
                "\(ldapPort)", "--ppolicy", "--exit-on-stdin-eof",
            ]
            if let (cert, key) = certificate {
                arguments += ["--ldaps-port", "\(ldapsPort)", "--cert", cert.path, "--key", key.path]
                if let ca { arguments += ["--ca", ca.path] }
            }
            process = try LabProcess("/usr/bin/python3", arguments + extra, directory: directory, port: ldapPort)
            if certificate != nil {
                for _ in 0..<250 where !LabNetwork.canConnect(host: "127.0.0.1", port: ldapsPort) { usleep(20_000) }
            }
        }

        /// The binds that reached slapd for `dn`, from its own log.
        func binds(of dn: String) -> Int {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            return text.components(separatedBy: "BIND dn=\"\(dn)\"").count - 1
        }
    }

    /// One Samba AD DC per test run on 127.0.0.11, provisioned into a cache on first use.
    final class Samba: @unchecked Sendable {
        static let ip = "127.0.0.11"
        static let shared = Result { try Samba() }
        let process: Process
        let info: [String: Any]
        var caFile: String { info["ca_file"] as? String ?? "" }
        var log: String { info["log"] as? String ?? "" }

        init() throws {
            let cache = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ewsprobe-samba-cache")
            try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
            let ready = cache.appendingPathComponent("ready-\(getpid()).json")
            try? FileManager.default.removeItem(at: ready)
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [
                support.appendingPathComponent("samba_ad_lab.py").path, "--dir", cache.path, "--ip", Self.ip, "--ready-file", ready.path,
                "--exit-on-stdin-eof",
            ]
            let output = cache.appendingPathComponent("lab-output.txt")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = Pipe()
            try process.run()
            // A fresh provisioning takes 15-30 s on two cores; a cached start a few seconds.
            let deadline = Date().addingTimeInterval(180)
            while Date() < deadline, process.isRunning, !FileManager.default.fileExists(atPath: ready.path) { usleep(100_000) }
            guard let data = try? Data(contentsOf: ready), let info = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                let said = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
                process.terminate()
                throw LabError("samba_ad_lab.py did not become ready: \(said.suffix(2000))")
            }
            self.info = info
        }

        func password(_ account: String) -> String {
            ((info["accounts"] as? [String: Any])?[account] as? [String: Any])?["password"] as? String ?? ""
        }

        /// The `Auth: [LDAP,simple bind/...] user [...]` lines Samba logged for `account`.
        func binds(of account: String) -> Int {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return text.components(separatedBy: "\n").filter {
                $0.contains("simple bind") && $0.lowercased().contains(account.lowercased())
            }.count
        }

        deinit {
            if process.isRunning { process.terminate() }
        }
    }

    /// A broken LDAP peer in `mode` (see hostile_ldap.py), optionally behind TLS.
    static func hostile(_ mode: String, tls: (URL, URL)? = nil, startTLS: (URL, URL)? = nil, extra: [String] = []) throws -> (
        LabProcess, Int
    ) {
        let directory = try LabNetwork.temporaryDirectory("hostile-ldap")
        let port = LabNetwork.freePort()
        var arguments = [support.appendingPathComponent("hostile_ldap.py").path, "\(port)", mode]
        if let (cert, key) = tls { arguments += ["--tls", cert.path, key.path] }
        if let (cert, key) = startTLS { arguments += ["--starttls", cert.path, key.path] }
        return (try LabProcess("/usr/bin/python3", arguments + extra, directory: directory, port: port), port)
    }

    /// A file holding `password`, mode 0600.
    static func passwordFile(_ password: String) throws -> String {
        let file = try LabNetwork.temporaryDirectory("pw").appendingPathComponent("password")
        try password.write(to: file, atomically: true, encoding: .utf8)
        chmod(file.path, 0o600)
        return file.path
    }

    /// One run of `checks` (default: the directory's default module) against `url`, pinned to `address`.
    static func probe(
        _ url: String, address: String = "127.0.0.1", alsoAt others: [String] = [], caFile: String?, username: String? = nil,
        password: String? = nil,
        mailbox: String? = nil, ldap: LDAPCheck = LDAPCheck(), checks: [String]? = nil, timeout: Duration = .seconds(10)
    ) async throws -> ProbeReport {
        let endpoint = try #require(EndpointURL(url))
        var module = CheckRegistry.builtin.defaultModule(for: .directory)
        if let checks { module = try module.selecting(checks, registry: .builtin) }
        module.checks = module.checks.map { $0 is LDAPCheck ? ldap : $0 }
        var target = TargetConfig(
            name: "dir", url: endpoint, module: module, timeout: timeout,
            resolve: [ResolvePin(host: endpoint.host, port: endpoint.port, addresses: [address] + others)])
        target.caFile = caFile
        target.username = username
        if let password { target.password = SecretReference.file(try passwordFile(password)) }
        target.mailboxCheck = mailbox
        return await ProbeRunner(runtime: .test).run(target)
    }

    /// `ldapwhoami` (ldap-utils), the independent client: its exit status and what it said.
    static func ldapwhoami(_ arguments: [String], caFile: String?) -> (status: Int32, output: String) {
        ldapTool("ldapwhoami", arguments, caFile: caFile)
    }

    /// `ldapsearch` (ldap-utils), the independent reader.
    static func ldapsearch(_ arguments: [String], caFile: String?) -> (status: Int32, output: String) {
        ldapTool("ldapsearch", arguments, caFile: caFile)
    }

    /// An ldap-utils client trusting `caFile`; `requireCert` is its LDAPTLS_REQCERT.
    static func ldapTool(_ tool: String, _ arguments: [String], caFile: String?, requireCert: String = "demand") -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)")
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LDAPTLS_CACERT"] = caFile ?? "/etc/ssl/certs/ca-certificates.crt"
        environment["LDAPTLS_REQCERT"] = requireCert
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return (-1, "\(tool) did not start") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

extension ProbeReport {
    func check(_ name: String) -> CheckResult? { checks.first { $0.check == name } }
}
