#ifndef EWSPROBE_CLDAP_SHIM_H
#define EWSPROBE_CLDAP_SHIM_H
#include <ldap.h>
#include <lber.h>
#include <sys/time.h>

/* Exported by libldap (symbol version OPENLDAP_2.5) but declared only in its private header:
 * attaches a handle to a socket ewsprobe connected itself (pinned address, source address,
 * deadline), while libldap still checks the certificate against the URL's host. */
int ldap_init_fd(int fd, int proto, const char *url, LDAP **ldp);
#define EWSLDAP_PROTO_TCP 1

/* ldap_set_option takes a pointer to the value; these take the value. */
static inline int ewsldap_set_int(LDAP *ld, int option, int value) { return ldap_set_option(ld, option, &value); }
static inline int ewsldap_set_string(LDAP *ld, int option, const char *value) { return ldap_set_option(ld, option, value); }
static inline int ewsldap_set_timeout(LDAP *ld, int option, struct timeval tv) { return ldap_set_option(ld, option, &tv); }
static inline int ewsldap_referrals_off(LDAP *ld) { return ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF); }
/* A copy: the caller frees it with ldap_memfree. */
static inline char *ewsldap_diagnostic(LDAP *ld) {
    char *text = NULL;
    ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &text);
    return text;
}
/* The largest answer libldap will take: a lying BER length otherwise reserves up to 2 GiB. */
static inline void ewsldap_max_incoming(LDAP *ld, unsigned long bytes) {
    Sockbuf *sb = NULL;
    ber_len_t max = bytes;
    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL) {
        ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_MAX_INCOMING, &max);
    }
}
/* The handle's TLS context (a counted reference), and another handle using it: verifying with
 * the same trust needs the CA bundle loaded once, not at every session. */
static inline void *ewsldap_tls_context(LDAP *ld) {
    void *context = NULL;
    ldap_get_option(ld, LDAP_OPT_X_TLS_CTX, &context);
    return context;
}
static inline int ewsldap_use_tls_context(LDAP *ld, void *context) { return ldap_set_option(ld, LDAP_OPT_X_TLS_CTX, context); }
static inline int ewsldap_last_error(LDAP *ld) {
    int code = LDAP_OTHER;
    ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code);
    return code;
}
#endif
