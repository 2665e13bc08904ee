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

/* Composite #define constants Swift does not import. */
static const unsigned long EWSOSSL_XN_FLAG_RFC2253 = XN_FLAG_RFC2253;
#endif
