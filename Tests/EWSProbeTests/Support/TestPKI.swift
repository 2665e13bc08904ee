import Foundation

/// Certificates made at test time with the `openssl` CLI (nothing committed that expires).
struct TestPKI {
    let directory: URL
    var caPEM: URL { directory.appendingPathComponent("ca.pem") }
    var caKey: URL { directory.appendingPathComponent("ca.key") }

    /// A private root CA.
    init(name: String = "pki") throws {
        directory = try LabNetwork.temporaryDirectory(name)
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey.path,
            "-out", caPEM.path, "-days", "30", "-subj", "/CN=ewsprobe test root",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
    }

    /// A leaf for `names` (DNS SANs) signed by the root; returns (certificate, key) paths.
    func leaf(_ label: String, names: [String]) throws -> (URL, URL) {
        let cert = directory.appendingPathComponent("\(label).pem")
        let key = directory.appendingPathComponent("\(label).key")
        let csr = directory.appendingPathComponent("\(label).csr")
        let ext = directory.appendingPathComponent("\(label).ext")
        try "subjectAltName=\(names.map { "DNS:\($0)" }.joined(separator: ","))\nextendedKeyUsage=serverAuth\n"
            .write(to: ext, atomically: true, encoding: .utf8)
        try Self.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.path, "-out", csr.path,
            "-subj", "/CN=\(names[0])",
        ])
        try Self.openssl([
            "x509", "-req", "-in", csr.path, "-CA", caPEM.path, "-CAkey", caKey.path, "-CAcreateserial", "-out", cert.path,
            "-days", "30", "-extfile", ext.path,
        ])
        return (cert, key)
    }

    enum KeySpec {
        case ec256
        case rsa(Int)

        var arguments: [String] {
            switch self {
            case .ec256: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
            case .rsa(let bits): ["-newkey", "rsa:\(bits)"]
            }
        }
    }

    /// A certificate with full control over dates, key, digest and CA flag, signed by `issuer`
    /// (default: the root; with `selfSign`, its own key) through `openssl ca`.
    func issue(
        _ label: String, names: [String], issuer: (URL, URL)? = nil, validFrom: Date = Date().addingTimeInterval(-86400),
        validUntil: Date = Date().addingTimeInterval(90 * 86400), digest: String = "sha256", key: KeySpec = .ec256, isCA: Bool = false,
        usage: String = "serverAuth", selfSign: Bool = false, ipAddresses: [String] = []
    ) throws -> (URL, URL) {
        let cert = directory.appendingPathComponent("\(label).pem")
        let keyFile = directory.appendingPathComponent("\(label).key")
        let csr = directory.appendingPathComponent("\(label).csr")
        let ext = directory.appendingPathComponent("\(label).ext")
        let extensions =
            isCA
            ? "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
            : "basicConstraints=CA:FALSE\nsubjectAltName=\((names.map { "DNS:\($0)" } + ipAddresses.map { "IP:\($0)" }).joined(separator: ","))\nextendedKeyUsage=\(usage)\n"
        try extensions.write(to: ext, atomically: true, encoding: .utf8)
        try Self.openssl(["req"] + key.arguments + ["-nodes", "-keyout", keyFile.path, "-out", csr.path, "-subj", "/CN=\(names[0])"])
        let config = try caConfig()
        let signer: [String]
        if let (issuerCert, issuerKey) = issuer {
            signer = ["-cert", issuerCert.path, "-keyfile", issuerKey.path]
        } else if selfSign {
            signer = ["-selfsign", "-keyfile", keyFile.path]
        } else {
            signer = ["-cert", caPEM.path, "-keyfile", caKey.path]
        }
        try Self.openssl(
            ["ca", "-batch", "-config", config.path, "-rand_serial", "-notext"] + signer + [
                "-in", csr.path, "-out", cert.path, "-md", digest, "-extfile", ext.path,
                "-startdate", Self.generalizedTime(validFrom), "-enddate", Self.generalizedTime(validUntil),
            ])
        return (cert, keyFile)
    }

    /// The `openssl ca` configuration and database every issued certificate shares.
    private func caConfig() throws -> URL {
        let db = directory.appendingPathComponent("ca-db")
        try FileManager.default.createDirectory(at: db, withIntermediateDirectories: true)
        let index = db.appendingPathComponent("index.txt")
        if !FileManager.default.fileExists(atPath: index.path) { try "".write(to: index, atomically: true, encoding: .utf8) }
        let serial = db.appendingPathComponent("serial")
        if !FileManager.default.fileExists(atPath: serial.path) { try "01\n".write(to: serial, atomically: true, encoding: .utf8) }
        let config = db.appendingPathComponent("ca.cnf")
        try """
        [ca]
        default_ca = test
        [test]
        database = \(index.path)
        serial = \(serial.path)
        new_certs_dir = \(db.path)
        policy = anything
        unique_subject = no
        [anything]
        commonName = supplied
        """.write(to: config, atomically: true, encoding: .utf8)
        return config
    }

    /// A self-signed leaf (no CA behind it).
    func selfSigned(_ label: String, names: [String]) throws -> (URL, URL) {
        let cert = directory.appendingPathComponent("\(label).pem")
        let key = directory.appendingPathComponent("\(label).key")
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.path, "-out", cert.path,
            "-days", "30", "-subj", "/CN=\(names[0])", "-addext", "subjectAltName=\(names.map { "DNS:\($0)" }.joined(separator: ","))",
        ])
        return (cert, key)
    }

    static func generalizedTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        return formatter.string(from: date)
    }

    /// Concatenates PEM files (a chain file for nginx).
    func bundle(_ label: String, _ files: [URL]) throws -> URL {
        let out = directory.appendingPathComponent("\(label).pem")
        try files.map { try String(contentsOf: $0, encoding: .utf8) }.joined().write(to: out, atomically: true, encoding: .utf8)
        return out
    }

    @discardableResult
    static func openssl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        while process.isRunning { usleep(5_000) }
        guard process.terminationStatus == 0 else {
            throw LabError("openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: output, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }
}
