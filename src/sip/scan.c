/* Shared low-level scanners of the sip layer (RFC 3261 §25.1): LWS, quoted
 * strings, generic parameter lists. Bounds-checked against the slice only. */
#include "sip/sip_int.h"

#include <errno.h>
#include <stdint.h>

/* See sip_int.h: step over a quoted-string; 0 or -EINVAL if unterminated. */
int sip_scan_quoted(struct slice s, size_t *i)
{
	size_t j = *i + 1;

	while ((j = sip_span(s, j, SIP_CC_QTEXT)) < s.len) {
		char c = s.p[j];
		if (c == '\\') {
			/* quoted-pair: the escaped byte may be anything but CR/LF */
			if (j + 1 >= s.len)
				return -EINVAL;
			j += 2;
			continue;
		}
		*i = j + 1; /* c is '"' */
		return 0;
	}
	return -EINVAL;
}

/* See sip_int.h: next ";name[=value]"; 1, 0 at the end of the list, or -EINVAL. */
int sip_param_next(struct slice *cursor, struct sip_param *out)
{
	struct slice s = *cursor;
	size_t i = sip_skip_lws(s, 0), start, j;

	if (i >= s.len || s.p[i] != ';') {
		if (s.len)
			*cursor = slice_from(s.p + i, s.len - i);
		return 0;
	}
	start = i;
	i = sip_skip_lws(s, i + 1);
	j = sip_span(s, i, SIP_CC_PARAM);
	if (j == i)
		return -EINVAL;
	out->name = slice_from(s.p + i, j - i);
	out->value = SLICE_NULL;
	i = sip_skip_lws(s, j);
	if (i < s.len && s.p[i] == '=') {
		i = sip_skip_lws(s, i + 1);
		if (i >= s.len)
			return -EINVAL;
		j = i;
		if (s.p[i] == '"') {
			if (sip_scan_quoted(s, &j))
				return -EINVAL;
		} else {
			j = sip_span(s, j, SIP_CC_PARAM);
			if (j == i)
				return -EINVAL;
		}
		out->value = slice_from(s.p + i, j - i);
	}
	out->raw = slice_from(s.p + start, j - start);
	*cursor = slice_from(s.p + j, s.len - j);
	return 1;
}

/* See sip_int.h: all-digit number up to max; 0, -EINVAL or -ERANGE, the same
 * answers as slice_to_u64 without a division per digit. That one stops with
 * -ERANGE at the first digit taking the running value past max, so a digit
 * prefix above max outranks a later non-digit; up to 19 bytes the value of
 * the digit prefix cannot wrap, which lets it be compared once at the end. */
int sip_parse_uint(struct slice s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	if (s.len == 0 || s.len > 19)
		return slice_to_u64(s, max, out);
	for (; i < s.len && sip_is_digit(s.p[i]); i++)
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	if (v > max)
		return -ERANGE;
	if (i < s.len)
		return -EINVAL;
	*out = v;
	return 0;
}
