#ifndef EWSPROBE_COPENSSL_SHIM_H
#define EWSPROBE_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/ocsp.h>

/* Composite #define constants Swift does not import. */
static const unsigned long EWSOSSL_XN_FLAG_RFC2253 = XN_FLAG_RFC2253;
static const uint64_t EWSOSSL_OP_NO_TICKET = SSL_OP_NO_TICKET;
static const uint64_t EWSOSSL_OP_LEGACY = SSL_OP_ALL | SSL_OP_LEGACY_SERVER_CONNECT;

/* Function-like macros Swift cannot call. */
static inline long ewsossl_set_sni(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
static inline long ewsossl_ctx_set_min_version(SSL_CTX *ctx, int version) { return SSL_CTX_set_min_proto_version(ctx, version); }
static inline void ewsossl_ctx_read_ahead(SSL_CTX *ctx) { SSL_CTX_set_read_ahead(ctx, 1); }
/* Ask every handshake for a stapled OCSP response (status_request), and read what came. */
static inline long ewsossl_ctx_request_status(SSL_CTX *ctx) { return SSL_CTX_set_tlsext_status_type(ctx, TLSEXT_STATUSTYPE_ocsp); }
static inline long ewsossl_stapled_response(SSL *ssl, const unsigned char **out) {
    unsigned char *resp = NULL;
    long length = SSL_get_tlsext_status_ocsp_resp(ssl, &resp);
    *out = resp;
    return length;
}
static inline long ewsossl_ctx_no_session_cache(SSL_CTX *ctx) { return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); }
/* Client sessions kept by the caller (SSL_get1_session), none in the context's own store. */
static inline long ewsossl_ctx_client_sessions(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
}
#endif
