import COpenSSL
import EWSProbeTransport
import Foundation

/// The demo's own certificate authority: one CA and one leaf for the demo host names, made at
/// start in memory. The demo's modules trust the CA through `ca_file` (as an internal
/// deployment would), so the healthy target shows a passing `tls` check. With a CRL URL the
/// leaves name it as their distribution point, and a second leaf (`revoked.demo.test`) is made
/// and revoked in the CRL the CA signs (`crlDER`), so the demo shows revocation both ways.
struct DemoPKI {
    /// PEM of the CA certificate, written to `caFile`.
    let caFile: String
    let leafPEM: String
    let keyPEM: String
    /// The revoked leaf, its key, and the CRL that revokes it (empty without a CRL URL).
    var revokedLeafPEM = ""
    var revokedKeyPEM = ""
    var crlDER: [UInt8] = []

    static let revokedName = "revoked.demo.test"

    init(names: [String], crlURL: String? = nil) throws {
        guard let caKey = DemoTLSSite.makeKey(), let leafKey = DemoTLSSite.makeKey() else {
            throw DemoError(message: "cannot create the demo keys")
        }
        defer {
            EVP_PKEY_free(caKey)
            EVP_PKEY_free(leafKey)
        }
        guard let ca = Self.certificate(subject: "ewsprobe demo CA", key: caKey, issuer: nil, extensions: Self.caExtensions)
        else { throw DemoError(message: "cannot create the demo CA") }
        defer { X509_free(ca) }
        guard
            let leaf = Self.certificate(
                subject: names[0], key: leafKey, issuer: (ca, caKey), extensions: Self.leafExtensions(names, crlURL))
        else { throw DemoError(message: "cannot create the demo certificate") }
        defer { X509_free(leaf) }
        guard let caPEM = PEMText.written(by: { PEM_write_bio_X509($0, ca) }),
            let leafPEM = PEMText.written(by: { PEM_write_bio_X509($0, leaf) }),
            let keyPEM = PEMText.written(by: { PEM_write_bio_PrivateKey($0, leafKey, nil, nil, 0, nil, nil) })
        else { throw DemoError(message: "cannot encode the demo certificates") }
        // A file of its own per CA: the site and the directory each make one, and
        // each target trusts the one that issued its own leaf.
        let file = DemoWorkspace.file("ca-\(UUID().uuidString.prefix(8)).pem")
        try caPEM.write(to: file, atomically: true, encoding: .utf8)
        caFile = file.path
        self.leafPEM = leafPEM
        self.keyPEM = keyPEM
        if let crlURL { try makeRevoked(ca: ca, caKey: caKey, crlURL: crlURL) }
    }

    static func leafExtensions(_ names: [String], _ crlURL: String?) -> [(Int32, String)] {
        let san = names.map { "DNS:\($0)" }.joined(separator: ",")
        return [
            (NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature"),
            (NID_ext_key_usage, "serverAuth"), (NID_subject_alt_name, san),
        ] + (crlURL.map { [(NID_crl_distribution_points, "URI:\($0)")] } ?? [])
    }

    /// The second leaf, and the CRL (valid a week) that revokes it for key compromise.
    private mutating func makeRevoked(ca: OpaquePointer, caKey: OpaquePointer, crlURL: String) throws {
        guard let key = DemoTLSSite.makeKey() else { throw DemoError(message: "cannot create the demo keys") }
        defer { EVP_PKEY_free(key) }
        guard
            let leaf = Self.certificate(
                subject: Self.revokedName, key: key, issuer: (ca, caKey), extensions: Self.leafExtensions([Self.revokedName], crlURL))
        else { throw DemoError(message: "cannot create the revoked demo certificate") }
        defer { X509_free(leaf) }
        guard let crl = X509_CRL_new(), let revoked = X509_REVOKED_new(), let reason = ASN1_ENUMERATED_new() else {
            throw DemoError(message: "cannot create the demo CRL")
        }
        defer {
            X509_CRL_free(crl)
            ASN1_ENUMERATED_free(reason)
        }
        let (last, next) = (X509_gmtime_adj(nil, -3600), X509_gmtime_adj(nil, 7 * 86400))
        defer {
            ASN1_TIME_free(last)
            ASN1_TIME_free(next)
        }
        X509_CRL_set_version(crl, 1)
        X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca))
        X509_CRL_set1_lastUpdate(crl, last)
        X509_CRL_set1_nextUpdate(crl, next)
        X509_REVOKED_set_serialNumber(revoked, X509_get_serialNumber(leaf))
        X509_REVOKED_set_revocationDate(revoked, last)
        ASN1_ENUMERATED_set(reason, 1)  // keyCompromise
        X509_REVOKED_add1_ext_i2d(revoked, NID_crl_reason, reason, 0, 0)
        X509_CRL_add0_revoked(crl, revoked)
        X509_CRL_sort(crl)
        var out: UnsafeMutablePointer<UInt8>?
        guard X509_CRL_sign(crl, caKey, EVP_sha256()) > 0, case let length = i2d_X509_CRL(crl, &out), length > 0, let out,
            let leafPEM = PEMText.written(by: { PEM_write_bio_X509($0, leaf) }),
            let keyPEM = PEMText.written(by: { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) })
        else { throw DemoError(message: "cannot sign the demo CRL") }
        defer { CRYPTO_free(out, #fileID, #line) }
        crlDER = Array(UnsafeBufferPointer(start: out, count: Int(length)))
        revokedLeafPEM = leafPEM
        revokedKeyPEM = keyPEM
    }

    static let caExtensions = [(NID_basic_constraints, "critical,CA:TRUE"), (NID_key_usage, "critical,keyCertSign,cRLSign")]

    /// Valid since yesterday for a year; self-signed when `issuer` is nil.
    static func certificate(
        subject: String, key: OpaquePointer, issuer: (OpaquePointer, OpaquePointer)?, extensions: [(Int32, String)]
    ) -> OpaquePointer? {
        guard let certificate = X509_new() else { return nil }
        X509_set_version(certificate, 2)
        ASN1_INTEGER_set(X509_get_serialNumber(certificate), Int.random(in: 1..<Int(Int32.max)))
        X509_gmtime_adj(X509_getm_notBefore(certificate), -86400)
        X509_gmtime_adj(X509_getm_notAfter(certificate), 365 * 86400)
        X509_set_pubkey(certificate, key)
        let name = X509_get_subject_name(certificate)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, subject, -1, -1, 0)
        X509_set_issuer_name(certificate, issuer.map { X509_get_subject_name($0.0) } ?? name)
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer?.0 ?? certificate, certificate, nil, nil, 0)
        for (nid, value) in extensions {
            guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else { continue }
            X509_add_ext(certificate, ext, -1)
            X509_EXTENSION_free(ext)
        }
        guard X509_sign(certificate, issuer?.1 ?? key, EVP_sha256()) > 0 else {
            X509_free(certificate)
            return nil
        }
        return certificate
    }
}
