/* String view helpers: comparisons, trimming, number parsing, bounded copies. */
#include "base/slice.h"

#include <errno.h>

bool slice_eq(struct slice a, struct slice b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* ASCII case folding over the whole length (a NUL byte does not end the
 * compare); eight bytes per step, folded only when they differ. */
bool slice_caseeq(struct slice a, struct slice b)
{
	uint64_t x, y;
	size_t i = 0, rest;

	if (a.len != b.len)
		return false;
	for (; a.len - i >= 8; i += 8) {
		memcpy(&x, a.p + i, 8);
		memcpy(&y, b.p + i, 8);
		if (x != y && slice_fold8(x) != slice_fold8(y))
			return false;
	}
	rest = a.len - i;
	if (rest == 0)
		return true;
	x = y = 0;
	memcpy(&x, a.p + i, rest);
	memcpy(&y, b.p + i, rest);
	return x == y || slice_fold8(x) == slice_fold8(y);
}

bool slice_caseeq_cstr(struct slice a, const char *s)
{
	return slice_caseeq(a, slice_cstr(s));
}

bool slice_eq_cstr(struct slice a, const char *s)
{
	return slice_eq(a, slice_cstr(s));
}

static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

struct slice slice_trim(struct slice s)
{
	while (s.len && is_lws(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_lws(s.p[s.len - 1]))
		s.len--;
	return s;
}

int slice_to_u64(struct slice s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0)
		return -EINVAL;
	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(c - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(c - '0');
	}
	*out = v;
	return 0;
}

int slice_copy(struct slice s, char *dst, size_t cap)
{
	if (cap == 0)
		return -ENOSPC;
	if (s.len >= cap) {
		dst[0] = '\0';
		return -ENOSPC;
	}
	if (s.len)
		memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	return 0;
}
