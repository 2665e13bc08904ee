import COpenSSL
import Synchronization

/// One certificate revocation list, parsed once and shared by every target whose certificates
/// name it. Its signature is checked once per issuer key (a CRL of a large CA is megabytes, and
/// hashing it on every probe would cost more than the probe); the serial lookup is OpenSSL's
/// binary search, safe from several threads (OpenSSL 3 sorts the list once under a lock).
public final class CRLDocument: @unchecked Sendable {
    let pointer: OpaquePointer
    public let thisUpdate: Double
    public let nextUpdate: Double?
    /// What it takes in memory, for the cache's bound: parsed, each entry is an object of its
    /// own (a 10 MiB list of minimal entries is some 400,000 of them), so entries count too.
    public let byteCount: Int
    /// Signature verdicts by the issuer certificate's SHA-256: nil when it verified.
    private let signatures = Mutex<[String: RevocationProblem?]>([:])

    /// DER (what RFC 5280 §4.2.1.13 says a CDP serves), or PEM (what some servers send anyway).
    public init?(_ bytes: [UInt8]) {
        let parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress, !buffer.isEmpty else { return nil }
            if base.pointee == 0x30 {
                var cursor: UnsafePointer<UInt8>? = base
                return d2i_X509_CRL(nil, &cursor, buffer.count)
            }
            guard let bio = BIO_new_mem_buf(base, Int32(clamping: buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509_CRL(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let parsed else { return nil }
        pointer = parsed
        thisUpdate = Certificate.time(X509_CRL_get0_lastUpdate(parsed))
        nextUpdate = X509_CRL_get0_nextUpdate(parsed).map { Certificate.time($0) }
        byteCount = bytes.count + Int(OPENSSL_sk_num(X509_CRL_get_REVOKED(parsed))) * 256
    }

    deinit { X509_CRL_free(pointer) }

    /// What this CRL says of `certificate` issued by `issuer` at `now`: a failure when the CRL is
    /// not the issuer's, its signature does not verify, or it is not current.
    public func answer(for certificate: Certificate, issuer: Certificate, now: Double) -> Result<RevocationAnswer, RevocationProblem> {
        if let problem = signatureProblem(issuer) { return .failure(problem) }
        guard thisUpdate <= now + OCSPResponse.leeway else {
            return .failure(RevocationProblem("the CRL is dated in the future (thisUpdate)"))
        }
        if let nextUpdate, nextUpdate < now {
            return .failure(RevocationProblem("the CRL is out of date (its nextUpdate has passed)"))
        }
        var entry: OpaquePointer?
        guard X509_CRL_get0_by_serial(pointer, &entry, X509_get_serialNumber(certificate.object.pointer)) == 1, let entry else {
            return .success(RevocationAnswer(state: .good, thisUpdate: thisUpdate, nextUpdate: nextUpdate))
        }
        let at = Certificate.time(X509_REVOKED_get0_revocationDate(entry))
        return .success(
            RevocationAnswer(state: .revoked(at: at, reason: Self.reason(entry)), thisUpdate: thisUpdate, nextUpdate: nextUpdate))
    }

    /// Why this is not a complete CRL signed by `issuer` (nil when it is); known per issuer.
    public func problem(issuedBy issuer: Certificate) -> RevocationProblem? { signatureProblem(issuer) }

    private func signatureProblem(_ issuer: Certificate) -> RevocationProblem? {
        if let known = signatures.withLock({ $0[issuer.sha256] }) { return known }
        let problem: RevocationProblem?
        if let scope = Self.unsupportedScope(pointer) {
            problem = RevocationProblem(scope)
        } else if X509_NAME_cmp(X509_CRL_get_issuer(pointer), X509_get_subject_name(issuer.object.pointer)) != 0 {
            problem = RevocationProblem(
                "the CRL is issued by \(Certificate.nameText(X509_CRL_get_issuer(pointer))), not by \(issuer.subjectCN)")
        } else if case let usage = X509_get_key_usage(issuer.object.pointer), usage != UInt32.max, usage & UInt32(KU_CRL_SIGN) == 0 {
            problem = RevocationProblem("\(issuer.subjectCN) may not sign CRLs (its key usage lacks cRLSign)")
        } else if let key = X509_get0_pubkey(issuer.object.pointer), X509_CRL_verify(pointer, key) == 1 {
            problem = nil
        } else {
            problem = RevocationProblem("the CRL's signature does not verify with the key of \(issuer.subjectCN)")
        }
        ERR_clear_error()
        signatures.withLock { $0[issuer.sha256] = .some(problem) }
        return problem
    }

    /// A delta CRL lists only what changed since its base, a partitioned or indirect one only
    /// part of the issuer's certificates, and an unknown critical extension may change what the
    /// list means: none of them proves a certificate good, so none is used.
    static func unsupportedScope(_ crl: OpaquePointer) -> String? {
        if X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) >= 0 { return "the CRL is a delta CRL (not read)" }
        if X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1) >= 0 {
            return "the CRL is partitioned or indirect (an issuing distribution point; not read)"
        }
        for index in 0..<X509_CRL_get_ext_count(crl) {
            guard let ext = X509_CRL_get_ext(crl, index), X509_EXTENSION_get_critical(ext) == 1 else { continue }
            let nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext))
            if nid != NID_authority_key_identifier && nid != NID_crl_number {
                return "the CRL has a critical extension it cannot be read without"
            }
        }
        return nil
    }

    /// The entry's reasonCode extension by name (`keyCompromise`), nil when absent.
    static func reason(_ entry: OpaquePointer) -> String? {
        guard let raw = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, nil, nil) else { return nil }
        let code = raw.assumingMemoryBound(to: ASN1_ENUMERATED.self)
        defer { ASN1_ENUMERATED_free(code) }
        return String(cString: OCSP_crl_reason_str(ASN1_ENUMERATED_get(code)))
    }
}
