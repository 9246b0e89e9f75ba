/* Integer to text without printf, for text built on every message (branch
 * parameters, tags, hash input): decimal and lower-case hex. */
#ifndef SW_FMT_H
#define SW_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Longest output of either function, with its NUL. */
#define FMT_U64_MAX 21

/* Decimal digits of v into out (NUL-terminated, as "%llu"); returns the
 * number of digits. out holds FMT_U64_MAX bytes. */
size_t fmt_u64(char *out, uint64_t v);
/* Lower-case hex of v, zero-padded to at least width digits (as "%0*llx";
 * width at most 16); NUL-terminated, returns the number of digits. out
 * holds FMT_U64_MAX bytes. */
size_t fmt_hex64(char *out, uint64_t v, unsigned width);

#endif
