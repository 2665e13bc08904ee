#ifndef EWSPROBE_CLDAP_SHIM_H
#define EWSPROBE_CLDAP_SHIM_H
#include <ldap.h>
#include <lber.h>
#include <sys/time.h>
#include <stdlib.h>

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
/* A read layer above TLS that ends the stream where an LDAPMessage with messageID 0 (an
 * unsolicited notification) begins. libldap 2.5 asserts on one without a responseName and
 * aborts the process; ewsprobe treats any such notice as the end of the session, which libldap
 * then reports as a lost connection. It only follows the messages' framing (tag, length,
 * messageID); everything else passes through. */
struct ewsldap_guard {
    unsigned char head[16];
    int have;
    ber_len_t left;
    int closed, blind;
    /* Messages framed so far, and whether the first answer was not LDAP framing at all (a web
     * server behind ldaps://): libldap only reports a lost connection then. */
    long framed;
    int foreign;
    unsigned char first[32];
    int firstLength;
};
/* The header's size when `head` holds one (SEQUENCE, length, messageID), 0 when more is
 * needed, -1 when it is not LDAP framing (libldap will say so). */
static inline int ewsldap_guard_header(const unsigned char *head, int have, long *id, ber_len_t *rest) {
    if (have < 2) return 0;
    if (head[0] != 0x30) return -1;
    int pos = 2;
    ber_len_t length = head[1];
    if (head[1] >= 0x80) {
        int count = head[1] & 0x7f;
        if (count == 0 || count > 8) return -1;
        if (have < 2 + count) return 0;
        length = 0;
        for (int i = 0; i < count; i++) {
            if (length >> 48) return -1;
            length = length << 8 | head[2 + i];
        }
        pos = 2 + count;
    }
    if (have < pos + 2) return 0;
    int size = head[pos + 1];
    if (head[pos] != 0x02 || size < 1 || size > 4) return -1;
    if (have < pos + 2 + size) return 0;
    long value = 0;
    for (int i = 0; i < size; i++) value = value << 8 | head[pos + 2 + i];
    if (length < (ber_len_t)(size + 2)) return -1;
    *id = value;
    *rest = length - (ber_len_t)(size + 2);
    return pos + 2 + size;
}
static inline void ewsldap_guard_keep(struct ewsldap_guard *g, const unsigned char *bytes, ber_slen_t n) {
    for (ber_slen_t k = 0; k < n && g->firstLength < (int)sizeof g->first; k++) g->first[g->firstLength++] = bytes[k];
}
static inline ber_slen_t ewsldap_guard_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len) {
    struct ewsldap_guard *g = sbiod->sbiod_pvt;
    if (g->closed) return 0;
    ber_slen_t n = LBER_SBIOD_READ_NEXT(sbiod, buf, len);
    const unsigned char *bytes = buf;
    if (n > 0 && g->foreign) ewsldap_guard_keep(g, bytes, n);
    if (n <= 0 || g->blind) return n;
    ber_slen_t i = 0;
    while (i < n) {
        if (g->left > 0) {
            ber_len_t skip = g->left < (ber_len_t)(n - i) ? g->left : (ber_len_t)(n - i);
            g->left -= skip;
            i += (ber_slen_t)skip;
            continue;
        }
        ber_slen_t start = i - g->have;
        long id = -1;
        ber_len_t rest = 0;
        int got = 0;
        while (i < n && got == 0) {
            g->head[g->have++] = bytes[i++];
            got = ewsldap_guard_header(g->head, g->have, &id, &rest);
            if (got == 0 && g->have == (int)sizeof g->head) got = -1;
        }
        if (got == 0) break;
        g->have = 0;
        if (got < 0) {
            g->blind = 1;
            if (g->framed == 0) {
                g->foreign = 1;
                /* What the server sent instead, kept for the summary (a status line, a banner). */
                ber_slen_t from = start > 0 ? start : 0;
                if (start < 0) ewsldap_guard_keep(g, g->head, -start);
                ewsldap_guard_keep(g, bytes + from, n - from);
            }
            return n;
        }
        g->framed++;
        if (id == 0) {
            g->closed = 1;
            return start > 0 ? start : 0;
        }
        g->left = rest;
    }
    return n;
}
/* The state belongs to the caller (it reads `foreign` after a failure) and must outlive the
 * handle: libldap removes the layer when the handle is unbound. */
static inline int ewsldap_guard_setup(Sockbuf_IO_Desc *sbiod, void *arg) {
    sbiod->sbiod_pvt = arg;
    return arg ? 0 : -1;
}
static inline int ewsldap_guard_remove(Sockbuf_IO_Desc *sbiod) {
    sbiod->sbiod_pvt = NULL;
    return 0;
}
static inline int ewsldap_guard_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg) {
    struct ewsldap_guard *g = sbiod->sbiod_pvt;
    if (opt == LBER_SB_OPT_DATA_READY && g != NULL && g->closed) return 1;
    return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}
static inline ber_slen_t ewsldap_guard_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len) {
    return LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);
}
static inline int ewsldap_guard_close(Sockbuf_IO_Desc *sbiod) {
    (void)sbiod;
    return 0;
}
/* On the connection's sockbuf, above the TLS layer: call after ldap_install_tls. `state` is
 * zeroed by the caller and kept until the handle is unbound. */
static inline int ewsldap_install_guard(LDAP *ld, struct ewsldap_guard *state) {
    static Sockbuf_IO io = {ewsldap_guard_setup, ewsldap_guard_remove, ewsldap_guard_ctrl,
                            ewsldap_guard_read,  ewsldap_guard_write,  ewsldap_guard_close};
    Sockbuf *sb = NULL;
    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL) return -1;
    return ber_sockbuf_add_io(sb, &io, LBER_SBIOD_LEVEL_APPLICATION, state);
}
#endif
