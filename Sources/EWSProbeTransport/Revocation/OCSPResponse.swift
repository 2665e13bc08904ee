import COpenSSL

/// OCSP (RFC 6960) as ewsprobe speaks it: the request for one certificate (no nonce, so
/// responders may serve a precomputed answer and ewsprobe may keep it), and the response read
/// and verified with OpenSSL: signed by the issuer or a responder the issuer delegated to
/// (`id-kp-OCSPSigning`), the signer's chain trusted by the target's trust store, about this
/// very certificate, and not issued in the future. Staleness is left to the caller.
public enum OCSPResponse {
    /// Clock skew allowed on `thisUpdate` (OpenSSL's own tools allow five minutes too).
    static let leeway = 300.0
    /// A response that promises no `nextUpdate` is current only this long after `thisUpdate`
    /// (an old "good" replayed or kept stapled after a revocation proves nothing).
    static let maxAgeWithoutNextUpdate = 4 * 86400.0

    /// The DER request for `certificate` issued by `issuer`.
    public static func request(for certificate: Certificate, issuer: Certificate) -> [UInt8]? {
        guard let request = OCSP_REQUEST_new() else { return nil }
        defer { OCSP_REQUEST_free(request) }
        guard let id = OCSP_cert_to_id(nil, certificate.object.pointer, issuer.object.pointer) else { return nil }
        guard OCSP_request_add0_id(request, id) != nil else {
            OCSP_CERTID_free(id)
            return nil
        }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_OCSP_REQUEST(request, &out)
        guard length > 0, let out else { return nil }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// The response in `der` judged for `certificate` issued by `issuer`. `untrusted` are the
    /// certificates the server presented (they may complete the responder's chain); `store` is
    /// the trust store the chain itself was verified with.
    public static func read(
        _ der: [UInt8], certificate: Certificate, issuer: Certificate, untrusted: [Certificate], store: OpaquePointer, now: Double
    ) -> Result<RevocationAnswer, RevocationProblem> {
        guard !der.isEmpty else { return .failure(RevocationProblem("the OCSP response is empty or larger than 64 KiB")) }
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_OCSP_RESPONSE(nil, &cursor, buffer.count)
        }
        guard let response = parsed else { return .failure(RevocationProblem("the answer is not an OCSP response")) }
        defer { OCSP_RESPONSE_free(response) }
        let status = OCSP_response_status(response)
        guard status == OCSP_RESPONSE_STATUS_SUCCESSFUL else {
            return .failure(RevocationProblem("the responder refused: \(String(cString: OCSP_response_status_str(Int(status))))"))
        }
        guard let basic = OCSP_response_get1_basic(response) else {
            return .failure(RevocationProblem("the OCSP response carries no basic response"))
        }
        defer { OCSP_BASICRESP_free(basic) }
        // The stack borrows the certificates; `issuer` and `untrusted` keep them alive until the end.
        let others = OPENSSL_sk_new_null()
        defer { OPENSSL_sk_free(others) }
        for candidate in [issuer] + untrusted { OPENSSL_sk_push(others, UnsafeRawPointer(candidate.object.pointer)) }
        ERR_clear_error()
        guard OCSP_basic_verify(basic, others, store, 0) == 1 else {
            let why = ERR_get_error()
            ERR_clear_error()
            return .failure(RevocationProblem("the OCSP response's signature does not verify (\(Self.errorText(why)))"))
        }
        guard let id = OCSP_cert_to_id(nil, certificate.object.pointer, issuer.object.pointer) else {
            return .failure(RevocationProblem("cannot name the certificate to OCSP"))
        }
        defer { OCSP_CERTID_free(id) }
        var state: Int32 = -1
        var reason: Int32 = -1
        var revoked: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        var thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        var nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
        guard OCSP_resp_find_status(basic, id, &state, &reason, &revoked, &thisUpdate, &nextUpdate) == 1 else {
            return .failure(RevocationProblem("the OCSP response is about another certificate (not serial \(certificate.serialHex))"))
        }
        let issued = Certificate.time(thisUpdate)
        guard issued <= now + leeway else {
            return .failure(RevocationProblem("the OCSP response is dated in the future (thisUpdate)"))
        }
        if nextUpdate == nil, issued < now - maxAgeWithoutNextUpdate {
            return .failure(RevocationProblem("the OCSP response is more than 4 days old and names no nextUpdate"))
        }
        let answer: RevocationAnswer.State
        switch state {
        case V_OCSP_CERTSTATUS_GOOD: answer = .good
        case V_OCSP_CERTSTATUS_REVOKED:
            answer = .revoked(at: Certificate.time(revoked), reason: reason >= 0 ? String(cString: OCSP_crl_reason_str(Int(reason))) : nil)
        default: answer = .unknown
        }
        return .success(RevocationAnswer(state: answer, thisUpdate: issued, nextUpdate: nextUpdate.map { Certificate.time($0) }))
    }

    /// A stapled response's SHA-256 in hex: the cache's key for its verdict.
    public static func digest(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha256(), nil) }
        guard ok == 1 else { return "" }
        return HexText.of(digest[0..<Int(length)])
    }

    static func errorText(_ code: UInt) -> String {
        guard code != 0, let text = ERR_reason_error_string(code) else { return "no reason given" }
        return String(cString: text)
    }
}
