import Foundation

@testable import EWSProbeCore
@testable import EWSProbeTransport

/// The outbound proxies the proxy tests start on loopback (`proxy_lab.py`, see PROXY_LAB.md):
/// squid with Basic (basic_ncsa_auth) or NTLM (a helper whose accepting side is pyspnego),
/// tinyproxy without authentication, and hand-written hostile proxies.
final class ProxyLab: @unchecked Sendable {
    static let user = "alice"
    static let password = "Pr0xy-Pass!9"
    let process: LabProcess
    let port: Int
    let directory: URL
    var accessLog: URL { directory.appendingPathComponent("access.log") }

    /// `mode` and its arguments (`squid-basic`, `squid-ntlm`, `tinyproxy`, `silent`, `status 502`, ...).
    init(_ mode: [String], extra: [String] = []) throws {
        // squid runs as nobody: its directory's parents must be searchable by everyone.
        directory = URL(fileURLWithPath: "/tmp/ewsprobe-proxy-\(UUID().uuidString.prefix(8))")
        port = LabNetwork.freePort()
        let script = DirectoryLab.support.appendingPathComponent("proxy_lab.py").path
        // The python3 on PATH: the one scripts/setup.sh installed pyspnego for.
        var arguments = ["python3", script] + mode + ["--port", "\(port)", "--dir", directory.path, "--exit-on-stdin-eof"]
        if mode[0].hasPrefix("squid") { arguments += ["--user", Self.user, "--password", Self.password] }
        process = try LabProcess(
            "/usr/bin/env", arguments + extra, directory: try LabNetwork.temporaryDirectory("proxy-lab"), port: port)
    }

    func stop() { process.stop() }

    var url: String { "http://127.0.0.1:\(port)" }

    /// The access log's CONNECT lines (squid's native format: client address is field 3).
    func connectLines() -> [String] {
        ((try? String(contentsOf: accessLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init).filter {
            $0.contains(" CONNECT ")
        }
    }

    static func settings(_ url: String, password: String? = ProxyLab.password, user: String = ProxyLab.user) throws -> ProxySettings {
        guard case .success(let (host, port)) = ProxySettings.parse(url: url) else { throw LabError("bad proxy url \(url)") }
        var settings = ProxySettings(host: host, port: port)
        if let password {
            settings.username = user
            settings.password = .file(try DirectoryLab.passwordFile(password))
        }
        return settings
    }

    /// curl through the same proxy: the CONNECT status (`%{http_connect}`) and the origin's
    /// status, the independent client's view of the same tunnel.
    static func curl(_ proxy: String, _ url: String, caFile: String, credentials: String?, ntlm: Bool = false, resolve: String? = nil)
        throws -> (connect: Int, status: Int)
    {
        var arguments = [
            "-s", "-o", "/dev/null", "-w", "%{http_connect} %{http_code}", "--max-time", "10", "-x", proxy, "--cacert", caFile,
        ]
        if let credentials { arguments += ["--proxy-user", credentials] + (ntlm ? ["--proxy-ntlm"] : ["--proxy-anyauth"]) }
        if let resolve { arguments += ["--resolve", resolve] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = arguments + [url]
        process.environment = [:]  // no proxy from the environment for the oracle either
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let parts = String(decoding: data, as: UTF8.self).split(separator: " ").map { Int($0) ?? -1 }
        return (parts.first ?? -1, parts.count > 1 ? parts[1] : -1)
    }
}
