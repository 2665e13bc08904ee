import COpenSSL
import EWSProbeTransport
import Foundation

/// The demo's HTTPS node: a tiny OpenSSL server on loopback whose certificate is self-signed and
/// expires in five days, so the demo shows the `tls` check failing with the chain listed.
/// Blocking sockets on its own threads: it serves a handful of probe connections, nothing more.
final class DemoTLSSite: @unchecked Sendable {
    let port: Int
    private let context: OpaquePointer
    private let listener: Int32

    convenience init(hostName: String) throws {
        guard let key = DemoTLSSite.makeKey(), let certificate = DemoTLSSite.makeCertificate(hostName: hostName, key: key)
        else { throw DemoError(message: "cannot create the demo certificate") }
        defer {
            EVP_PKEY_free(key)
            X509_free(certificate)
        }
        try self.init(certificate: certificate, key: key)
    }

    /// A node serving a certificate made elsewhere (the demo CA's revoked leaf).
    convenience init(certificatePEM: String, keyPEM: String) throws {
        let (certificateBytes, keyBytes) = (Array(certificatePEM.utf8), Array(keyPEM.utf8))
        let loaded = certificateBytes.withUnsafeBytes { certificateRaw in
            keyBytes.withUnsafeBytes { keyRaw -> (OpaquePointer, OpaquePointer)? in
                guard let certificateBIO = BIO_new_mem_buf(certificateRaw.baseAddress, Int32(certificateRaw.count)),
                    let keyBIO = BIO_new_mem_buf(keyRaw.baseAddress, Int32(keyRaw.count))
                else { return nil }
                defer {
                    BIO_free(certificateBIO)
                    BIO_free(keyBIO)
                }
                guard let certificate = PEM_read_bio_X509(certificateBIO, nil, nil, nil) else { return nil }
                guard let key = PEM_read_bio_PrivateKey(keyBIO, nil, nil, nil) else {
                    X509_free(certificate)
                    return nil
                }
                return (certificate, key)
            }
        }
        guard let (certificate, key) = loaded else { throw DemoError(message: "cannot read the demo certificate") }
        defer {
            EVP_PKEY_free(key)
            X509_free(certificate)
        }
        try self.init(certificate: certificate, key: key)
    }

    private init(certificate: OpaquePointer, key: OpaquePointer) throws {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw DemoError(message: "cannot create the demo TLS context") }
        guard SSL_CTX_use_certificate(context, certificate) == 1, SSL_CTX_use_PrivateKey(context, key) == 1 else {
            SSL_CTX_free(context)
            throw DemoError(message: "cannot load the demo certificate")
        }
        self.context = context
        let (fd, boundPort) = LoopbackSocket.bind(listen: 64)
        guard fd >= 0 else { throw DemoError(message: "cannot listen for the demo TLS site") }
        listener = fd
        port = boundPort
        ServiceThread.start("demo-tls") { [self] in acceptLoop() }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { continue }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    /// Answers every request on the connection like EWS without credentials: 401 with challenges.
    private func serve(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let ssl = SSL_new(context) else { return }
        defer { SSL_free(ssl) }
        SSL_set_fd(ssl, client)
        guard SSL_accept(ssl) == 1 else { return }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = SSL_read(ssl, &buffer, Int32(buffer.count))
            if count <= 0 { return }
            pending += buffer[0..<Int(count)]
            guard let end = DemoTLSSite.headerEnd(pending) else {
                if pending.count > 65536 { return }
                continue
            }
            let head = String(decoding: pending[0..<end], as: UTF8.self).lowercased()
            let length =
                head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            guard pending.count >= end + 4 + length else { continue }
            pending.removeFirst(end + 4 + length)
            let answer = Array(
                ("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n"
                    + "WWW-Authenticate: Basic realm=\"mail.demo.test\"\r\nContent-Length: 0\r\n\r\n").utf8)
            if SSL_write(ssl, answer, Int32(answer.count)) <= 0 { return }
        }
    }

    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }

    static func makeKey() -> OpaquePointer? {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1) == 1,
            EVP_PKEY_keygen(context, &key) == 1
        else { return nil }
        return key
    }

    /// Self-signed, valid since yesterday, expiring in five days.
    static func makeCertificate(hostName: String, key: OpaquePointer) -> OpaquePointer? {
        guard let certificate = X509_new() else { return nil }
        X509_set_version(certificate, 2)
        ASN1_INTEGER_set(X509_get_serialNumber(certificate), Int(Date().timeIntervalSince1970))
        X509_gmtime_adj(X509_getm_notBefore(certificate), -86400)
        X509_gmtime_adj(X509_getm_notAfter(certificate), 5 * 86400)
        X509_set_pubkey(certificate, key)
        let name = X509_get_subject_name(certificate)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, hostName, -1, -1, 0)
        X509_set_issuer_name(certificate, name)
        if let extensionValue = X509V3_EXT_conf_nid(nil, nil, NID_subject_alt_name, "DNS:\(hostName)") {
            X509_add_ext(certificate, extensionValue, -1)
            X509_EXTENSION_free(extensionValue)
        }
        guard X509_sign(certificate, key, EVP_sha256()) > 0 else {
            X509_free(certificate)
            return nil
        }
        return certificate
    }
}
