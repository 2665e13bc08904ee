import Foundation

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The cloud the connector tests start on loopback (`cloud_lab.py`, see CLOUD_LAB.md): an
/// Entra-like authority and Google-like token endpoint built on Authlib (which verifies the
/// client assertions and signs the tokens), Graph, EWS on Exchange Online and the Gmail API, one
/// HTTPS port for every host. `oracle(case)` is msal's or google-auth's verdict on the same case.
final class CloudLab: @unchecked Sendable {
    let process: LabProcess
    let directory: URL
    let port: Int
    /// Case name -> what the lab says of it (lab.json).
    let cases: [String: [String: Any]]
    /// Every secret the lab handed out: client secrets, private keys.
    let secrets: [String]
    static let hosts = ["login.cloud.test", "graph.cloud.test", "outlook.cloud.test", "oauth2.cloud.test", "gmail.cloud.test"]

    var ca: String { directory.appendingPathComponent("ca.pem").path }
    var requestLog: URL { directory.appendingPathComponent("requests.log") }
    static var script: String { DirectoryLab.support.appendingPathComponent("cloud_lab.py").path }

    init() throws {
        directory = try LabNetwork.temporaryDirectory("cloud-lab")
        port = LabNetwork.freePort()
        process = try LabProcess(
            "/usr/bin/env", ["python3", Self.script, "--dir", directory.path, "--port", "\(port)", "--exit-on-stdin-eof"],
            directory: directory, port: port, timeout: 60)
        try process.waitForOutput("ready \(port)")
        let data = try Data(contentsOf: directory.appendingPathComponent("lab.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        cases = object?["cases"] as? [String: [String: Any]] ?? [:]
        secrets = object?["secrets"] as? [String] ?? []
    }

    func stop() { process.stop() }

    var pins: [ResolvePin] { Self.hosts.map { ResolvePin(host: $0, port: port, addresses: ["127.0.0.1"]) } }

    func string(_ name: String, _ key: String) -> String? { cases[name]?[key] as? String }

    /// The connector of `name` as lab.json describes it.
    func endpoint(_ name: String) throws -> TargetEndpoint {
        guard let info = cases[name] else { throw LabError("no case \(name)") }
        if info["kind"] as? String == "google" {
            guard let file = info["service_account_file"] as? String else { throw LabError("\(name): no key file") }
            guard case .success(let key) = ServiceAccountKey.read(file) else { throw LabError("\(name): unreadable key file") }
            var connector = GoogleWorkspaceConnector(serviceAccountFile: file, tokenURI: key.tokenURI, clientEmail: key.clientEmail)
            connector.api = EndpointURL(info["api"] as? String ?? "")!
            return .googleWorkspace(connector)
        }
        let credential: M365Connector.Credential
        if let secret = info["secret_file"] as? String {
            credential = .secret(.file(secret))
        } else {
            credential = .certificate(certificateFile: info["certificate_file"] as! String, keyFile: info["key_file"] as! String)
        }
        var connector = M365Connector(tenant: info["tenant"] as! String, clientID: info["client_id"] as! String, credential: credential)
        connector.authority = EndpointURL(info["authority"] as! String)!
        connector.graph = EndpointURL(info["graph"] as! String)!
        connector.exchange = EndpointURL(info["exchange"] as! String)!
        return .m365(connector)
    }

    /// A target of `name` with its kind's default module, trusting the lab's CA.
    func target(_ name: String, as targetName: String? = nil, timeout: Duration = .seconds(6)) throws -> TargetConfig {
        let endpoint = try endpoint(name)
        var target = TargetConfig(
            name: targetName ?? name, endpoint: endpoint, module: CheckRegistry.builtin.defaultModule(for: endpoint.kind),
            timeout: timeout)
        target.caFile = ca
        target.resolve = pins
        target.mailboxCheck = string(name, "mailbox")
        return target
    }

    /// The same case as a config file entry.
    func yaml(_ name: String, as targetName: String? = nil, extra: String = "") throws -> String {
        guard let info = cases[name] else { throw LabError("no case \(name)") }
        var lines = ["  - name: \(targetName ?? name)"]
        if info["kind"] as? String == "google" {
            lines += [
                "    google_workspace:", "      service_account_file: \(info["service_account_file"]!)", "      api: \(info["api"]!)",
            ]
        } else {
            lines += ["    m365:", "      tenant: \(info["tenant"]!)", "      client_id: \(info["client_id"]!)"]
            if let secret = info["secret_file"] {
                lines.append("      client_secret_file: \(secret)")
            } else {
                lines += ["      certificate_file: \(info["certificate_file"]!)", "      key_file: \(info["key_file"]!)"]
            }
            lines += ["      authority: \(info["authority"]!)", "      graph: \(info["graph"]!)", "      exchange: \(info["exchange"]!)"]
        }
        lines += [
            "    mailbox_check: \(info["mailbox"]!)", "    ca_file: \(ca)", "    timeout: 6s",
            "    resolve: [" + Self.hosts.map { "\"\($0):\(port):127.0.0.1\"" }.joined(separator: ", ") + "]",
        ]
        return lines.joined(separator: "\n") + (extra.isEmpty ? "" : "\n" + extra) + "\n"
    }

    /// msal's (Microsoft 365) or google-auth's (Google) verdict on `name`.
    func oracle(_ name: String) throws -> [String: Any] {
        try LabProcess.json([Self.script, "oracle", "--dir", directory.path, name])
    }

    /// Every request the lab served, in order.
    func requests() -> [[String: Any]] {
        ((try? String(contentsOf: requestLog, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Bearer tokens, client secrets and assertions the lab was sent: what no output may show.
    func sentCredentials() -> [String] {
        var found: Set<String> = []
        for request in requests() {
            if let auth = (request["headers"] as? [String: String])?.first(where: { $0.key.lowercased() == "authorization" })?.value {
                found.insert(String(auth.split(separator: " ").last ?? ""))
            }
            for key in ["client_secret", "client_assertion", "assertion"] {
                if let value = (request["form"] as? [String: Any])?[key] as? String { found.insert(value) }
                if let values = (request["form"] as? [String: Any])?[key] as? [String], let value = values.first { found.insert(value) }
            }
        }
        return found.filter { $0.count >= 16 }.sorted()
    }
}
