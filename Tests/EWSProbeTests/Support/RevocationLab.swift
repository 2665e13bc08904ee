import Foundation

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The revocation world the revocation tests start on loopback (`revocation_lab.py`, see
/// REVOCATION_LAB.md): a PKI made with the openssl CLI, nginx serving the CRLs and the TLS
/// sites (some stapling), `openssl ocsp` answering as a delegated responder, and hostile CRL and
/// OCSP peers. `oracle(site)` is openssl's own verdict on the same site.
final class RevocationLab: @unchecked Sendable {
    let process: LabProcess
    let directory: URL
    let tlsPort: Int
    let httpPort: Int
    let ocspPort: Int
    let hostilePort: Int
    /// Site name -> what the lab says of it.
    let sites: [String: [String: Any]]

    var root: String { directory.appendingPathComponent("root.pem").path }
    var accessLog: URL { directory.appendingPathComponent("access.log") }
    var hostileLog: URL { directory.appendingPathComponent("hostile.log") }
    static var script: String { DirectoryLab.support.appendingPathComponent("revocation_lab.py").path }

    init() throws {
        directory = try LabNetwork.temporaryDirectory("revocation-lab")
        (tlsPort, httpPort, ocspPort, hostilePort) = (
            LabNetwork.freePort(), LabNetwork.freePort(), LabNetwork.freePort(), LabNetwork.freePort()
        )
        process = try LabProcess(
            "/usr/bin/env",
            [
                "python3", Self.script, "--dir", directory.path, "--tls-port", "\(tlsPort)", "--http-port", "\(httpPort)",
                "--ocsp-port", "\(ocspPort)", "--hostile-port", "\(hostilePort)", "--exit-on-stdin-eof",
            ], directory: directory, port: hostilePort, timeout: 60)
        // Its `ready` line comes once the PKI, lab.json and every server are up.
        try process.waitForOutput("ready \(tlsPort)")
        let data = try Data(contentsOf: directory.appendingPathComponent("lab.json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        sites = object?["sites"] as? [String: [String: Any]] ?? [:]
    }

    func stop() { process.stop() }

    func host(_ site: String) -> String { "\(site).rev.test" }
    func url(_ site: String) -> String { "https://\(host(site)):\(tlsPort)/EWS/Exchange.asmx" }
    func pin(_ site: String) -> ResolvePin { ResolvePin(host: host(site), port: tlsPort, addresses: ["127.0.0.1"]) }

    /// A target running `checks` on `site`, trusting the lab's root.
    func target(
        _ site: String, name: String? = nil, checks: [String] = ["dns", "tcp", "tls"], timeout: Duration = .seconds(6),
        tls: TLSCheck = TLSCheck()
    ) throws -> TargetConfig {
        guard let endpoint = EndpointURL(url(site)) else { throw LabError("bad url for \(site)") }
        var module = try CheckRegistry.builtin.defaultModule(for: .ews).selecting(checks, registry: .builtin)
        module.checks = module.checks.map { $0 is TLSCheck ? tls : $0 }
        var target = TargetConfig(name: name ?? site, url: endpoint, module: module, timeout: timeout)
        target.caFile = root
        target.resolve = [pin(site)]
        return target
    }

    /// openssl's verdicts on `site`: `crl`, `ocsp`, `stapled` -> good | revoked | unknown | none | error: ...
    func oracle(_ site: String) throws -> [String: String] {
        try LabProcess.json([Self.script, "oracle", "--dir", directory.path, site]).compactMapValues { $0 as? String }
    }

    /// Request lines nginx logged for `path` on the CRL port.
    func requests(for path: String) -> Int {
        ((try? String(contentsOf: accessLog, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains("GET \(path) ") }.count
    }

    func hostileRequests(for path: String) -> Int {
        ((try? String(contentsOf: hostileLog, encoding: .utf8)) ?? "").split(separator: "\n").filter { $0.contains(path) }.count
    }
}
