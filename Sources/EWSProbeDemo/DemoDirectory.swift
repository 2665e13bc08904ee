import EWSProbeTransport
import Foundation

/// The demo's directory: a slapd of its own (Debian's `slapd`, when installed) on loopback with
/// LDAPS and StartTLS, a certificate from the demo CA, the ppolicy overlay and two service
/// accounts: a healthy one and one whose password expires in three days.
public final class DemoDirectory: @unchecked Sendable {
    public static let base = "dc=demo,dc=test"
    public static let host = "dc1.demo.test"
    public let ldapPort: Int
    public let ldapsPort: Int
    public let caFile: String
    public let passwordFile: String
    private let process = Process()
    private let lifeline = Pipe()

    /// Nil when slapd is not installed (the demo then runs without a directory).
    public static func start() throws -> DemoDirectory? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/slapd") else { return nil }
        return try DemoDirectory()
    }

    private init() throws {
        let directory = DemoWorkspace.file("ldap")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("db"), withIntermediateDirectories: true)
        let pki = try DemoPKI(names: [Self.host])
        caFile = pki.caFile
        func write(_ name: String, _ text: String, mode: Int16 = 0o600) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, mode_t(mode))
            return path
        }
        let cert = try write("cert.pem", pki.leafPEM)
        let key = try write("key.pem", pki.keyPEM)
        passwordFile = try write("svc.password", "Demo-Svc-Pass-1!")
        let conf = try write("slapd.conf", Self.configuration(directory: directory.path, cert: cert, key: key))
        let data = try write("data.ldif", Self.entries())
        try Self.run("/usr/sbin/slapadd", ["-f", conf, "-l", data])
        ldapPort = DemoSite.closedPort()
        ldapsPort = DemoSite.closedPort()
        // slapd lives as long as this process holds the pipe: when the demo ends, however it
        // ends, the shell reads end-of-file and stops slapd (signals may be blocked in children
        // Foundation starts, hence KILL).
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", "/usr/sbin/slapd -d 0 -f \"$0\" -h \"$1\" & pid=$!; read _; kill -9 $pid", conf,
            "ldap://127.0.0.1:\(ldapPort)/ ldaps://127.0.0.1:\(ldapsPort)/",
        ]
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    deinit { stop() }

    public func stop() {
        try? lifeline.fileHandleForWriting.close()
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw DemoError(message: "\(tool) failed with status \(process.terminationStatus)") }
    }

    static func configuration(directory: String, cert: String, key: String) -> String {
        """
        include /etc/ldap/schema/core.schema
        include /etc/ldap/schema/cosine.schema
        include /etc/ldap/schema/inetorgperson.schema
        modulepath /usr/lib/ldap
        moduleload back_mdb.la
        moduleload ppolicy.la
        pidfile \(directory)/slapd.pid
        TLSCertificateFile \(cert)
        TLSCertificateKeyFile \(key)
        TLSVerifyClient never
        database mdb
        maxsize 10485760
        suffix "\(base)"
        rootdn "cn=admin,\(base)"
        directory \(directory)/db
        access to attrs=userPassword by self =xw by anonymous auth by * none
        access to * by users read by anonymous auth
        overlay ppolicy
        ppolicy_default "cn=default,ou=policies,\(base)"
        database monitor

        """
    }

    /// A service account under `policy` whose password was set `changedDaysAgo` days ago.
    static func account(_ uid: String, policy: String, changedDaysAgo: Double, now: Double = Date().timeIntervalSince1970) -> String {
        var seconds = time_t(now - changedDaysAgo * 86400)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let changed = String(
            format: "%04d%02d%02d%02d%02d%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min,
            parts.tm_sec)
        return [
            "dn: uid=\(uid),ou=people,\(base)", "objectClass: inetOrgPerson", "uid: \(uid)", "cn: \(uid)", "sn: \(uid)",
            "userPassword: Demo-Svc-Pass-1!", "pwdPolicySubentry: cn=\(policy),ou=policies,\(base)", "pwdChangedTime: \(changed)", "",
        ].joined(separator: "\n")
    }

    /// The base, a policy that never expires and one of 90 days, the two accounts, a mailbox.
    static func entries() -> String {
        return """
            dn: \(base)
            objectClass: dcObject
            objectClass: organization
            dc: demo
            o: ewsprobe demo

            dn: ou=people,\(base)
            objectClass: organizationalUnit
            ou: people

            dn: ou=policies,\(base)
            objectClass: organizationalUnit
            ou: policies

            dn: cn=default,ou=policies,\(base)
            objectClass: device
            objectClass: pwdPolicy
            cn: default
            pwdAttribute: userPassword
            pwdMaxAge: 7776000
            pwdExpireWarning: 2592000

            dn: cn=service,ou=policies,\(base)
            objectClass: device
            objectClass: pwdPolicy
            cn: service
            pwdAttribute: userPassword
            pwdMaxAge: 0

            \(account("svc-sync", policy: "service", changedDaysAgo: 400))
            \(account("svc-expiring", policy: "default", changedDaysAgo: 87))
            dn: uid=probe-mailbox,ou=people,\(base)
            objectClass: inetOrgPerson
            uid: probe-mailbox
            cn: probe-mailbox
            sn: probe-mailbox
            mail: probe-mailbox@demo.test

            """
    }

    /// The demo's directory targets: the healthy one over LDAPS, the expiring one over StartTLS.
    public func targetsYAML() -> String {
        target("demo-directory-healthy", url: "ldaps://\(Self.host):\(ldapsPort)", account: "svc-sync", port: ldapsPort)
            + target("demo-directory-password-expiring", url: "ldap://\(Self.host):\(ldapPort)", account: "svc-expiring", port: ldapPort)
    }

    private func target(_ name: String, url: String, account: String, port: Int) -> String {
        """
          - name: \(name)
            url: \(url)
            module: directory
            username: uid=\(account),ou=people,\(Self.base)
            password_file: \(passwordFile)
            mailbox_check: probe-mailbox@demo.test
            resolve: ["\(Self.host):\(port):127.0.0.1"]
            labels: {site: demo}

        """
    }

    public var moduleYAML: String {
        """
          directory:
            checks: [dns, tcp, tls, ldap]
            ca_file: \(caFile)

        """
    }
}
