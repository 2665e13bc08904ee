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
