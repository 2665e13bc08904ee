import COpenSSL

/// The OpenSSL client contexts direct exchanges share, built once per process. libcurl 7.88
/// builds a new SSL_CTX for every connection, and with OpenSSL 3 that (fetching the cipher,
/// group and signature tables from the providers) is about a tenth of a probe's CPU.
/// No verification here: direct exchanges only serve requests that judge the chain themselves.
enum ClientTLSContext {
    /// TLS 1.0 and up at security level 0, so a legacy server is measured instead of refused.
    static let legacy = UnsafeSendable(make(legacy: true))
    static let standard = UnsafeSendable(make(legacy: false))
    /// For sequences that resume (`HTTPRequest.tlsResumption`): tickets and client sessions allowed.
    static let resumable = UnsafeSendable(make(legacy: false, resumable: true))

    private static func make(legacy: Bool, resumable: Bool = false) -> OpaquePointer {
        guard let context = SSL_CTX_new(TLS_client_method()) else { fatalError("SSL_CTX_new failed") }
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        // With SSL_VERIFY_NONE OpenSSL still builds and verifies the chain against an empty store
        // and then ignores the result; `ChainVerifier` judges it after the handshake instead.
        SSL_CTX_set_cert_verify_callback(context, { _, _ in 1 }, nil)
        if resumable {
            _ = ewsossl_ctx_client_sessions(context)
        } else {
            // Every probe must see a full handshake and the certificate: no session resumption.
            _ = ewsossl_ctx_no_session_cache(context)
            _ = SSL_CTX_set_options(context, EWSOSSL_OP_NO_TICKET)
        }
        // Whole socket reads instead of a record header and then its body: half the read calls.
        ewsossl_ctx_read_ahead(context)
        if legacy {
            _ = SSL_CTX_set_options(context, EWSOSSL_OP_LEGACY)
            _ = ewsossl_ctx_set_min_version(context, TLS1_VERSION)
            _ = SSL_CTX_set_cipher_list(context, "DEFAULT:@SECLEVEL=0")
        }
        // Every handshake asks for a stapled OCSP response: `tls` judges revocation with it.
        _ = ewsossl_ctx_request_status(context)
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        _ = SSL_CTX_set_alpn_protos(context, alpn, UInt32(alpn.count))
        return context
    }
}
