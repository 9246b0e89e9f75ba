/* Pointer+length string views into a buffer someone else owns (zero-copy parsing). */
#ifndef SW_SLICE_H
#define SW_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct slice {
	const char *p; /**< first byte, not NUL-terminated */
	size_t len;    /**< length in bytes */
};

#define SLICE_NULL ((struct slice){ NULL, 0 })

static inline struct slice slice_from(const char *p, size_t len)
{
	return (struct slice){ p, len };
}

static inline struct slice slice_cstr(const char *s)
{
	return (struct slice){ s, s ? strlen(s) : 0 };
}

static inline bool slice_empty(struct slice s)
{
	return s.len == 0;
}

/* Eight bytes with ASCII 'A'-'Z' turned to lower case, others unchanged: on
 * the low seven bits (so no byte carries into the next) bit 7 of b + 0x3f is
 * b >= 'A' and bit 7 of b + 0x25 is b > 'Z'; bytes >= 0x80 never fold. Zero
 * bytes stay zero, so shorter loads zero-extended fold the same way. */
static inline uint64_t slice_fold8(uint64_t w)
{
	uint64_t lo = w & 0x7f7f7f7f7f7f7f7full;
	uint64_t upper = (lo + 0x3f3f3f3f3f3f3f3full) & ~(lo + 0x2525252525252525ull) & ~w & 0x8080808080808080ull;

	return w | upper >> 2;
}

bool slice_eq(struct slice a, struct slice b);
bool slice_caseeq(struct slice a, struct slice b);
bool slice_caseeq_cstr(struct slice a, const char *s);
bool slice_eq_cstr(struct slice a, const char *s);
/* Strip spaces, tabs, CR and LF on both ends. */
struct slice slice_trim(struct slice s);
/* Parse a decimal unsigned integer filling the whole slice; 0 or -EINVAL/-ERANGE. */
int slice_to_u64(struct slice s, uint64_t max, uint64_t *out);
/* Copy into a NUL-terminated buffer; -ENOSPC if it does not fit (dst left ""). */
int slice_copy(struct slice s, char *dst, size_t cap);

#endif
