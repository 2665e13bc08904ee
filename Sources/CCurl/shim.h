#ifndef EWSPROBE_CCURL_SHIM_H
#define EWSPROBE_CCURL_SHIM_H
/* curl_easy_setopt/getinfo are variadic, which Swift cannot call: these typed
 * wrappers are the whole shim, plus the #define constants Swift does not import. */
#include <curl/curl.h>

static inline CURLcode ewscurl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ewscurl_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ewscurl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ewscurl_setopt_write(CURL *h, CURLoption o, curl_write_callback v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ewscurl_setopt_sslctx(CURL *h, CURLoption o, curl_ssl_ctx_callback v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode ewscurl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode ewscurl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode ewscurl_getinfo_str(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode ewscurl_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode ewscurl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLSHcode ewscurl_share_setopt_long(CURLSH *s, CURLSHoption o, long v) { return curl_share_setopt(s, o, v); }

static const long EWSCURL_HTTP_VERSION_1_1 = CURL_HTTP_VERSION_1_1;
static const unsigned long EWSCURL_AUTH_NONE = CURLAUTH_NONE;
/* Proxy authentication: Basic and NTLM, and curl waits for the 407 before choosing. */
static const long EWSCURL_PROXYAUTH_BASIC_NTLM = (long)(CURLAUTH_BASIC | CURLAUTH_NTLM);
static const long EWSCURL_GLOBAL_ALL = CURL_GLOBAL_ALL;
static const long EWSCURL_SSLVERSION_DEFAULT = CURL_SSLVERSION_DEFAULT;
static const long EWSCURL_SSLVERSION_TLSv1_0 = CURL_SSLVERSION_TLSv1_0;
#endif
