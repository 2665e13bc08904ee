import CCurl
import COpenSSL
import Synchronization

/// libcurl transfers waiting for their handshake facts, by ID. libcurl makes an SSL_CTX per
/// connection and may keep it after the transfer ended (a kept-alive connection), so OpenSSL's
/// callbacks find a transfer by ID, never by pointer: an unknown ID is simply ignored.
/// One registry belongs to one curl loop and lives as long as it.
final class HandshakeRegistry: Sendable {
    private let state = Mutex<(next: Int, transfers: [Int: CurlTransfer])>((1, [:]))

    func register(_ transfer: CurlTransfer) -> Int {
        state.withLock { s in
            let id = s.next
            s.next += 1
            s.transfers[id] = transfer
            return id
        }
    }

    func forget(_ id: Int) { state.withLock { _ = $0.transfers.removeValue(forKey: id) } }

    func transfer(_ id: Int) -> CurlTransfer? { state.withLock { $0.transfers[id] } }

    /// The registry as the C callbacks' user data (unretained: its loop keeps it alive).
    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// CURLOPT_SSL_CTX_FUNCTION: tags the new SSL_CTX with the transfer's ID (CURLOPT_PRIVATE)
    /// and the registry, and hooks the handshake's end.
    static let contextCallback: curl_ssl_ctx_callback = { curl, context, registry in
        guard let curl, let context else { return CURLE_OK }
        var id: UnsafeMutableRawPointer?
        _ = ewscurl_getinfo_ptr(curl, CURLINFO_PRIVATE, &id)
        let sslContext = OpaquePointer(context)
        SSL_CTX_set_ex_data(sslContext, 0, id)
        SSL_CTX_set_ex_data(sslContext, 1, registry)
        SSL_CTX_set_info_callback(sslContext, infoCallback)
        // Like the direct client's contexts: ask for a stapled OCSP response.
        _ = ewsossl_ctx_request_status(sslContext)
        return CURLE_OK
    }

    /// Reads protocol, cipher and the chain as sent the moment the handshake is done.
    private static let infoCallback: @convention(c) (OpaquePointer?, Int32, Int32) -> Void = { ssl, event, _ in
        guard event & SSL_CB_HANDSHAKE_DONE != 0, let ssl, let context = SSL_get_SSL_CTX(ssl),
            let registry = SSL_CTX_get_ex_data(context, 1),
            let transfer = Unmanaged<HandshakeRegistry>.fromOpaque(registry).takeUnretainedValue()
                .transfer(Int(bitPattern: SSL_CTX_get_ex_data(context, 0)))
        else { return }
        transfer.negotiatedVersion = String(cString: SSL_get_version(ssl))
        if let cipher = SSL_get_current_cipher(ssl) { transfer.negotiatedCipher = String(cString: SSL_CIPHER_get_name(cipher)) }
        // The certificates as the server sent them, leaf first (the client side's list includes it).
        if let chain = SSL_get_peer_cert_chain(ssl) {
            transfer.peerChain = (0..<OPENSSL_sk_num(chain)).compactMap { index in
                OpaquePointer(OPENSSL_sk_value(chain, index)).map { X509Object(retaining: $0) }
            }
        }
        transfer.stapledOCSP = StapledResponse.read(ssl)
    }
}
