import COpenSSL
import Foundation

/// One X.509 certificate as ewsprobe reports it, read with OpenSSL from the PEM the server sent.
public struct Certificate: Sendable, Equatable {
    public enum KeyType: String, Sendable { case rsa, ec, ed25519, ed448, dsa, other }

    /// The certificate as PEM, encoded when asked for (reports rarely need it).
    public var pem: String { pemText ?? ChainVerifier.pem(object.pointer) ?? "" }
    private var pemText: String?
    /// The full names (RFC 2253), printed when asked: only the JSON report shows them.
    public var subject: String { Certificate.nameText(X509_get_subject_name(object.pointer)) }
    public var subjectCN: String
    public var issuer: String { Certificate.nameText(X509_get_issuer_name(object.pointer)) }
    public var issuerCN: String
    public var serialHex: String
    public var sha256: String
    public var notBefore: Double
    public var notAfter: Double
    public var dnsNames: [String]
    public var ipAddresses: [String]
    public var keyType: KeyType
    public var keyBits: Int
    public var signatureAlgorithm: String
    /// The digest of the signature (sha1, md5, sha256, ...), lower case.
    public var signatureDigest: String
    public var isCA: Bool
    /// Self-issued: subject equals issuer (and the key identifiers match). The signature is not
    /// checked: that costs a public-key operation per certificate and only roots are concerned.
    public var isSelfSigned: Bool
    /// The parsed certificate, kept so verification does not decode it again (decoding a key
    /// is the most expensive step of OpenSSL 3's certificate parsing).
    let object: X509Object

    /// The certificate's key and signature, e.g. "EC 256", "RSA 2048".
    public var keyDescription: String { "\(keyType.rawValue.uppercased()) \(keyBits)" }

    /// Parses every certificate in a PEM text (leaf first, as sent).
    public static func parseAll(pem: String) -> [Certificate] {
        var result: [Certificate] = []
        var rest = Substring(pem)
        let begin = "-----BEGIN CERTIFICATE-----"
        let end = "-----END CERTIFICATE-----"
        while let start = rest.range(of: begin), let stop = rest.range(of: end, range: start.upperBound..<rest.endIndex) {
            if let certificate = Certificate(pem: String(rest[start.lowerBound..<stop.upperBound])) {
                result.append(certificate)
            }
            rest = rest[stop.upperBound...]
        }
        return result
    }

    public init?(pem: String) {
        guard let x509 = Certificate.readX509(pem) else { return nil }
        defer { X509_free(x509) }
        self.init(x509: x509, pem: pem)
    }

    /// From a certificate OpenSSL already parsed (the handshake's chain).
    init(_ object: X509Object) {
        self.init(x509: object.pointer, pem: nil)
    }

    init(x509: OpaquePointer, pem: String?) {
        pemText = pem
        object = X509Object(retaining: x509)
        subjectCN = Certificate.commonName(X509_get_subject_name(x509)) ?? ""
        issuerCN = Certificate.commonName(X509_get_issuer_name(x509)) ?? ""
        serialHex = Certificate.serial(x509)
        sha256 = Certificate.fingerprint(x509)
        notBefore = Certificate.time(X509_get0_notBefore(x509))
        notAfter = Certificate.time(X509_get0_notAfter(x509))
        (dnsNames, ipAddresses) = Certificate.subjectAltNames(x509)
        (keyType, keyBits) = Certificate.key(x509)
        let signatureNID = X509_get_signature_nid(x509)
        signatureAlgorithm = String(cString: OBJ_nid2ln(signatureNID))
        var digestNID: Int32 = 0
        var keyNID: Int32 = 0
        if OBJ_find_sigid_algs(signatureNID, &digestNID, &keyNID) == 1, digestNID != NID_undef {
            signatureDigest = String(cString: OBJ_nid2sn(digestNID)).lowercased()
        } else {
            signatureDigest = "none"
        }
        isCA = X509_check_ca(x509) > 0
        isSelfSigned = X509_self_signed(x509, 0) == 1
    }

    static func readX509(_ pem: String) -> OpaquePointer? {
        let bytes = Array(pem.utf8)
        return bytes.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
    }

    static func nameText(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        X509_NAME_print_ex(bio, name, 0, EWSOSSL_XN_FLAG_RFC2253)
        return bioText(bio)
    }

    static func bioText(_ bio: OpaquePointer) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = BIO_read(bio, &buffer, Int32(buffer.count))
        return count > 0 ? String(decoding: buffer[0..<Int(count)], as: UTF8.self) : ""
    }

    static func commonName(_ name: OpaquePointer?) -> String? {
        guard let name else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index), let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        return asn1Text(data)
    }

    static func asn1Text(_ string: UnsafePointer<ASN1_STRING>) -> String {
        var out: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&out, string)
        guard length >= 0, let out else { return "" }
        defer { CRYPTO_free(out, #fileID, #line) }
        return String(decoding: UnsafeBufferPointer(start: out, count: Int(length)), as: UTF8.self)
    }

    static func serial(_ x509: OpaquePointer) -> String {
        guard let integer = X509_get_serialNumber(x509), let bn = ASN1_INTEGER_to_BN(integer, nil) else { return "" }
        defer { BN_free(bn) }
        guard let hex = BN_bn2hex(bn) else { return "" }
        defer { CRYPTO_free(hex, #fileID, #line) }
        return String(cString: hex).lowercased()
    }

    static func fingerprint(_ x509: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(x509, EVP_sha256(), &digest, &length) == 1 else { return "" }
        return HexText.of(digest[0..<Int(length)])
    }

    static func time(_ asn1: UnsafePointer<ASN1_TIME>?) -> Double {
        guard let asn1 else { return 0 }
        var parts = tm()
        guard ASN1_TIME_to_tm(asn1, &parts) == 1 else { return 0 }
        return Double(timegm(&parts))
    }

    static func subjectAltNames(_ x509: OpaquePointer) -> ([String], [String]) {
        guard let raw = X509_get_ext_d2i(x509, NID_subject_alt_name, nil, nil) else { return ([], []) }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var dns: [String] = []
        var ips: [String] = []
        let count = OPENSSL_sk_num(names)
        for index in 0..<count {
            guard let value = OPENSSL_sk_value(names, index) else { continue }
            let name = value.assumingMemoryBound(to: GENERAL_NAME.self)
            switch name.pointee.type {
            case GEN_DNS:
                if let string = name.pointee.d.dNSName { dns.append(asn1Text(string)) }
            case GEN_IPADD:
                if let octets = name.pointee.d.iPAddress, let data = ASN1_STRING_get0_data(octets) {
                    let bytes = Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(octets))))
                    if let text = ipText(bytes) { ips.append(text) }
                }
            default: break
            }
        }
        return (dns, ips)
    }

    static func ipText(_ bytes: [UInt8]) -> String? {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : bytes.count == 16 ? AF_INET6 : -1
        guard family >= 0 else { return nil }
        let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) != nil }
        return ok ? String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    static func key(_ x509: OpaquePointer) -> (KeyType, Int) {
        guard let key = X509_get0_pubkey(x509) else { return (.other, 0) }
        let type: KeyType
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: type = .rsa
        case EVP_PKEY_EC: type = .ec
        case EVP_PKEY_ED25519: type = .ed25519
        case EVP_PKEY_ED448: type = .ed448
        case EVP_PKEY_DSA: type = .dsa
        default: type = .other
        }
        return (type, Int(EVP_PKEY_get_bits(key)))
    }
}

/// A parsed OpenSSL certificate shared by reference and freed with its last owner. X509 objects
/// are reference counted by OpenSSL and not changed after parsing, so sharing them is safe.
final class X509Object: @unchecked Sendable, Equatable {
    let pointer: OpaquePointer

    init(retaining pointer: OpaquePointer) {
        X509_up_ref(pointer)
        self.pointer = pointer
    }

    deinit { X509_free(pointer) }

    static func == (lhs: X509Object, rhs: X509Object) -> Bool { X509_cmp(lhs.pointer, rhs.pointer) == 0 }
}
