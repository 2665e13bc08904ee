import Foundation
import Synchronization

@testable import EWSProbeChecks
@testable import EWSProbeCore
@testable import EWSProbeDemo
@testable import EWSProbeExposition
@testable import EWSProbeServer
@testable import EWSProbeTransport

#if canImport(Glibc)
    import Glibc
#endif

/// A real server process started by a test on loopback and stopped when the test is done.
final class LabProcess: @unchecked Sendable {
    let process = Process()
    let directory: URL

    /// Starts `executable` and waits until `port` on `host` accepts connections.
    init(
        _ executable: String, _ arguments: [String], directory: URL, waitFor host: String = "127.0.0.1", port: Int,
        environment: [String: String] = [:], timeout: TimeInterval = 10
    ) throws {
        self.directory = directory
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.currentDirectoryURL = directory
        let log = directory.appendingPathComponent("process.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        // Held open by this process: a lab that watches its stdin stops when the tests end.
        process.standardInput = Pipe()
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if LabNetwork.canConnect(host: host, port: port) { return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        stop()
        throw LabError("\(executable) did not start listening on \(host):\(port): \(output)")
    }

    /// Waits until the process has printed `text` (its output is `process.log` in its directory);
    /// stops it and throws with what it said when it does not within `seconds` or ends first.
    func waitForOutput(_ text: String, seconds: TimeInterval = 60) throws {
        let log = directory.appendingPathComponent("process.log")
        let deadline = Date().addingTimeInterval(seconds)
        while !((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains(text) {
            guard Date() < deadline, process.isRunning else {
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                stop()
                throw LabError("\(process.arguments?.dropFirst().first ?? "the lab") did not print \"\(text)\": \(output.suffix(2000))")
            }
            usleep(20_000)
        }
    }

    /// Runs `python3 ARGUMENTS` (a lab script's oracle) and reads the one JSON object it prints.
    static func json(_ arguments: [String]) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// SIGTERM, then SIGKILL after a grace period: a child spawned from a thread with blocked
    /// signals (Foundation's) may never see the SIGTERM.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<100 where process.isRunning { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for _ in 0..<100 where process.isRunning { usleep(10_000) }
    }

    deinit { stop() }
}

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum LabNetwork {
    /// A port nothing listens on now and that this process has not handed out before: two labs
    /// picking ports before either binds never get the same one.
    static func freePort() -> Int {
        while true {
            let port = DemoSite.closedPort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
    }
    private static let handedOut = Mutex<Set<Int>>([])

    static func canConnect(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A directory of its own for one lab, removed when the test process exits (a suite makes
    /// hundreds: configs, logs, certificates, password files).
    static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ewsprobe-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let first = labDirectories.withLock { made in
            made.append(url.path)
            return made.count == 1
        }
        if first {
            atexit {
                for path in LabNetwork.labDirectories.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
            }
        }
        return url
    }
    static let labDirectories = Mutex<[String]>([])

    /// A TCP listener that accepts (via the kernel backlog) and never answers.
    /// Accepts nothing; the kernel completes up to SOMAXCONN connections (a short queue would
    /// turn a test's later connects into SYN timeouts).
    static func silentListener() -> (fd: Int32, port: Int) { LoopbackSocket.bind(listen: SOMAXCONN) }
}

/// nginx from Debian, with a config written by the test.
final class NginxLab: @unchecked Sendable {
    let port: Int
    let process: LabProcess

    /// `serverBlock` is the body of one `server {}` listening on 127.0.0.1:port.
    init(
        serverBlock: String, listenOptions: String = "", address: String = "127.0.0.1", port fixedPort: Int? = nil,
        legacyCrypto: Bool = false
    )
        throws
    {
        let port = fixedPort ?? LabNetwork.freePort()
        let dir = try LabNetwork.temporaryDirectory("nginx")
        for sub in ["logs", "tmp"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        let conf = """
            daemon off;
            master_process off;
            worker_processes 1;
            error_log \(dir.path)/logs/error.log;
            pid \(dir.path)/nginx.pid;
            events { worker_connections 256; }
            http {
              access_log off;
              client_body_temp_path \(dir.path)/tmp;
              proxy_temp_path \(dir.path)/tmp;
              fastcgi_temp_path \(dir.path)/tmp;
              uwsgi_temp_path \(dir.path)/tmp;
              scgi_temp_path \(dir.path)/tmp;
              keepalive_requests 1000;
              server {
                listen \(address):\(port)\(listenOptions.isEmpty ? "" : " " + listenOptions);
                \(serverBlock)
              }
            }
            """
        try conf.write(to: dir.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        self.port = port
        var environment: [String: String] = [:]
        if legacyCrypto {
            // Security level 0 and TLS 1.0 for this nginx only, so it can serve weak certificates.
            let conf = dir.appendingPathComponent("openssl.cnf")
            try """
            openssl_conf = init
            [init]
            ssl_conf = ssl
            [ssl]
            system_default = defaults
            [defaults]
            CipherString = DEFAULT:@SECLEVEL=0
            MinProtocol = TLSv1
            """.write(to: conf, atomically: true, encoding: .utf8)
            environment["OPENSSL_CONF"] = conf.path
        }
        process = try LabProcess(
            "/usr/sbin/nginx", ["-p", dir.path, "-c", dir.appendingPathComponent("nginx.conf").path], directory: dir, waitFor: address,
            port: port, environment: environment)
    }

    func stop() { process.stop() }
}

/// dnsmasq from Debian as an authoritative-only DNS server for `lab.test` on loopback.
final class DNSLab: @unchecked Sendable {
    let port: Int
    let process: LabProcess

    init(hosts: [(String, String)], txtOnly: [String]) throws {
        let port = LabNetwork.freePort()
        let dir = try LabNetwork.temporaryDirectory("dns")
        let hostsFile = dir.appendingPathComponent("hosts")
        try hosts.map { "\($0.1) \($0.0)" }.joined(separator: "\n").appending("\n").write(to: hostsFile, atomically: true, encoding: .utf8)
        var arguments = [
            "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
            "--listen-address=127.0.0.1", "--port=\(port)", "--addn-hosts=\(hostsFile.path)",
            "--local=/lab.test/", "--pid-file=\(dir.path)/dnsmasq.pid", "--user=root", "--log-facility=-",
        ]
        arguments += txtOnly.map { "--txt-record=\($0),only-text" }
        self.port = port
        // dnsmasq also listens on TCP, which is how the readiness wait sees it.
        process = try LabProcess("/usr/sbin/dnsmasq", arguments, directory: dir, port: port)
    }
}
