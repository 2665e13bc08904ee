#ifndef EWSPROBE_CARES_SHIM_H
#define EWSPROBE_CARES_SHIM_H
#include <ares.h>

/* ares_getsock's bit layout is function-like macros, which Swift cannot import. */
static inline int ews_ares_readable(int bits, int index) { return ARES_GETSOCK_READABLE(bits, index) != 0; }
static inline int ews_ares_writable(int bits, int index) { return ARES_GETSOCK_WRITABLE(bits, index) != 0; }
#endif
