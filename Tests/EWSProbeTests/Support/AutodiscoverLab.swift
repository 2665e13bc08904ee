import Foundation

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The Autodiscover world the autodiscover tests start on loopback (`autodiscover_lab.py`, see
/// AUTODISCOVER_LAB.md): dnsmasq serving the candidates' names and SRV records, nginx on ports
/// 443 and 80 of one loopback address per name (Basic auth in front of a responder giving the
/// documented POX and SOAP answers), hostile answers, and exchangelib as the oracle.
final class AutodiscoverLab: @unchecked Sendable {
    static let password = "Ad-Lab-Pass!1"
    let process: LabProcess
    let directory: URL
    let dnsPort: Int
    /// Domain -> what the lab says of it (`expect`, `ews_url`, `target_url`, `email`, ...).
    let domains: [String: [String: Any]]
    let user: String
    var root: String { directory.appendingPathComponent("root.pem").path }
    var accessLog: URL { directory.appendingPathComponent("access.log") }
    static var script: String { DirectoryLab.support.appendingPathComponent("autodiscover_lab.py").path }

    init() throws {
        directory = try LabNetwork.temporaryDirectory("autodiscover-lab")
        dnsPort = LabNetwork.freePort()
        // A subnet of its own (the lab binds ports 443 and 80 on .10 to .41 of it).
        let subnet = "127.0.\(Int.random(in: 60...250))"
        process = try LabProcess(
            "/usr/bin/env",
            [
                "python3", Self.script, "--dir", directory.path, "--dns-port", "\(dnsPort)", "--responder-port", "\(LabNetwork.freePort())",
                "--password", Self.password, "--subnet", subnet, "--exit-on-stdin-eof",
            ], directory: directory, port: dnsPort, timeout: 60)
        try process.waitForOutput("ready \(dnsPort)")
        let data = try Data(contentsOf: directory.appendingPathComponent("lab.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        domains = object?["domains"] as? [String: [String: Any]] ?? [:]
        user = object?["user"] as? String ?? ""
    }

    func stop() { process.stop() }

    func value(_ domain: String, _ key: String) -> String? { domains[domain]?[key] as? String }

    /// A target whose module runs `dns` (asking the lab's DNS server) and `autodiscover` for the
    /// domain's address, with the lab's credentials when the domain wants them.
    func target(_ domain: String, credentials: Bool? = nil, timeout: Duration = .seconds(10), trusted: [String] = [".adlab.test"])
        throws -> TargetConfig
    {
        guard let url = value(domain, "target_url").flatMap(EndpointURL.init), let email = value(domain, "email") else {
            throw LabError("no such domain \(domain)")
        }
        var dns = DNSCheck()
        dns.server = .server(address: "127.0.0.1", port: dnsPort)
        var autodiscover = AutodiscoverCheck()
        autodiscover.email = email
        // Every lab host is under adlab.test; redirects across its domains are part of the cases.
        autodiscover.trustedHosts = trusted
        let module = ModuleConfig(name: "ad", checks: [dns, autodiscover])
        var target = TargetConfig(name: domain, url: url, module: module, timeout: timeout)
        target.caFile = root
        if credentials ?? (domains[domain]?["credentials"] as? Bool ?? true) {
            target.username = user
            target.password = .file(try DirectoryLab.passwordFile(Self.password))
        }
        return target
    }

    /// exchangelib's autodiscovery of `address` against the same servers and DNS.
    func oracle(_ address: String) throws -> [String: Any] {
        try LabProcess.json([Self.script, "oracle", "--dir", directory.path, address])
    }

    /// nginx's access log: one line per request, `ADDR:PORT host="..." ... auth=yes|no`.
    func requests() -> [String] {
        ((try? String(contentsOf: accessLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }
}
