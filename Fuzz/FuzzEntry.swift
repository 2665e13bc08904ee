// libFuzzer entry points for ewsprobe's parsers of untrusted input. scripts/fuzz.sh compiles
// this file with the parser sources and one of the FUZZ_* flags under -sanitize=fuzzer,address.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    #if FUZZ_NTLM
        if let challenge = try? NTLMChallenge.decode(bytes) {
            // A decoded challenge must be usable: answering it must not trap either.
            let client = NTLMv2Client(user: "u", domain: "d", password: Secret("p"))
            _ = client.authenticate(negotiate: NTLMNegotiate().encoded, challenge: challenge, clientChallenge: [1, 2, 3, 4, 5, 6, 7, 8])
            _ = challenge.targetInfo.string(.dnsComputerName)
        }
        _ = try? NTLMNegotiate.decode(bytes)
    #elseif FUZZ_AUTH
        let text = String(decoding: bytes, as: UTF8.self)
        for challenge in AuthChallengeParser.parse(text) { _ = challenge.parameter("realm") }
    #elseif FUZZ_SOAP
        let answer = EWSResponseParser.parse(String(decoding: bytes, as: UTF8.self))
        _ = answer.errorCode
        _ = answer.versionText
    #elseif FUZZ_FORMS
        // First byte picks the status, the rest splits into location | cookie | body.
        let status = [200, 302, 401, 403, 440][Int(bytes.first ?? 0) % 5]
        let parts = String(decoding: bytes.dropFirst(), as: UTF8.self).split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        let hop = FormsHop(
            url: "https://mail.example.com/EWS/Exchange.asmx", status: status, location: parts.first.map(String.init),
            cookieNames: parts.count > 1 ? [String(parts[1])] : [], contentType: "text/html", body: parts.count > 2 ? String(parts[2]) : "")
        _ = FormsLoginClassifier.classify(hop)
        _ = FormsLoginClassifier.isExchangeErrorPage(hop.location)
    #elseif FUZZ_HTTP
        // First byte picks the piece size the bytes arrive in, the rest is what the server sent.
        let step = Int(bytes.first ?? 1) % 64 + 1
        var reader = ResponseReader(headerLimit: 4096, bodyLimit: 1024, bodyExpected: step % 7 != 0)
        var offset = 1
        var done = false
        while offset < bytes.count, !done {
            let end = min(bytes.count, offset + step)
            guard let finished = try? bytes[offset..<end].withUnsafeBytes({ try reader.consume($0) }) else { return 0 }
            done = finished
            offset = end
        }
        if !done { try? reader.endOfStream() }
        precondition(reader.body.count <= 1024, "body past its limit")
        _ = reader.head.values("content-type")
        // A proxy's answer to CONNECT is the same kind of untrusted head.
        if case .proceed(let consumed) = HTTPConnectPreamble(host: "h", port: 1).verdict(Array(bytes.dropFirst())) {
            precondition(consumed <= bytes.count - 1, "consumed past the answer")
        }
        // The proxy tunnel's rounds: answers separated by NUL bytes, fed while it asks for more.
        let credentials = ProxyCredentials(username: "D\\u", password: Secret("p"))
        var tunnel = ProxyTunnel(host: "h", port: 443, credentials: step % 3 == 0 ? nil : credentials)
        var rounds = 0
        for answer in bytes.dropFirst().split(separator: 0, omittingEmptySubsequences: false) {
            guard case .again = tunnel.verdict(Array(answer)) else { break }
            rounds += 1
            precondition(rounds < ProxyTunnel.roundLimit, "the tunnel went round past its limit")
        }
    #elseif FUZZ_LDAP
        // A directory's answer to StartTLS, whole and in every prefix (how it arrives).
        let preamble = LDAPStartTLSPreamble()
        for end in stride(from: 0, through: bytes.count, by: max(1, bytes.count / 16)) {
            if case .proceed(let consumed) = preamble.verdict(Array(bytes[..<end])) {
                precondition(consumed <= end, "consumed past the answer")
            }
        }
        if let element = try? BERElement.read(bytes) {
            precondition(element.end <= bytes.count, "element past the bytes")
            _ = try? element.children(of: bytes).map { $0.integer(of: bytes) }
        }
    #elseif FUZZ_AUTODISCOVER
        let answer = AutodiscoverResponseParser.parse(bytes)
        if answer.refusal != nil { precondition(answer.action == nil, "a refused answer carries an action") }
        _ = EwsURLComparison.same(answer.externalEwsURL ?? "", EndpointURL("https://mail.example.com/EWS/Exchange.asmx")!)
    #elseif FUZZ_REVOCATION
        // What a CRL distribution point, an OCSP responder or a stapling server sent, read for a
        // certificate and its issuer made at start (the answer never verifies: the path to that
        // refusal is what is fuzzed, and nothing may pass on it).
        let lab = RevocationFuzzLab.shared
        let now = 1_900_000_000.0
        if let crl = CRLDocument(bytes), case .success = crl.answer(for: lab.leaf, issuer: lab.issuer, now: now) {
            preconditionFailure("a CRL the issuer never signed was accepted")
        }
        if case .success = OCSPResponse.read(bytes, certificate: lab.leaf, issuer: lab.issuer, untrusted: [], store: lab.store, now: now) {
            preconditionFailure("an OCSP response the issuer never signed was accepted")
        }
    #endif
    return 0
}

#if FUZZ_REVOCATION
    import COpenSSL

    /// A self-signed issuer and a leaf it signed, made once per fuzzing process, and an empty
    /// trust store.
    final class RevocationFuzzLab: @unchecked Sendable {
        static let shared = RevocationFuzzLab()
        let issuer: Certificate
        let leaf: Certificate
        let store: OpaquePointer

        init() {
            let issuerKey = Self.key()
            let leafKey = Self.key()
            issuer = Self.certificate("fuzz issuer", key: issuerKey, signer: nil)
            leaf = Self.certificate("fuzz leaf", key: leafKey, signer: (issuer.object.pointer, issuerKey))
            store = X509_STORE_new()!
        }

        static func key() -> OpaquePointer {
            let context = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil)!
            defer { EVP_PKEY_CTX_free(context) }
            var key: OpaquePointer?
            EVP_PKEY_keygen_init(context)
            EVP_PKEY_CTX_set_ec_paramgen_curve_nid(context, NID_X9_62_prime256v1)
            EVP_PKEY_keygen(context, &key)
            return key!
        }

        static func certificate(_ name: String, key: OpaquePointer, signer: (OpaquePointer, OpaquePointer)?) -> Certificate {
            let x509 = X509_new()!
            defer { X509_free(x509) }
            X509_set_version(x509, 2)
            ASN1_INTEGER_set(X509_get_serialNumber(x509), 4242)
            X509_gmtime_adj(X509_getm_notBefore(x509), 0)
            X509_gmtime_adj(X509_getm_notAfter(x509), 86400)
            X509_set_pubkey(x509, key)
            X509_NAME_add_entry_by_txt(X509_get_subject_name(x509), "CN", MBSTRING_ASC, name, -1, -1, 0)
            X509_set_issuer_name(x509, signer.map { X509_get_subject_name($0.0) } ?? X509_get_subject_name(x509))
            X509_sign(x509, signer?.1 ?? key, EVP_sha256())
            return Certificate(x509: x509, pem: nil)
        }
    }
#endif
