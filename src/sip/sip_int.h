/* Private to src/sip/: character classes and small scanners shared by the
 * parsers (RFC 3261 §25.1 basic rules: token, LWS, quoted-string, generic-param).
 * Nothing outside this folder includes this header but its unit test. */
#ifndef SW_SIP_INT_H
#define SW_SIP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/slice.h"

/* Byte classes of sip_cc[] (cclass.c), one bit each. */
enum {
	SIP_CC_TOKEN = 1 << 0,   /* RFC 3261 §25.1 token: alphanum and -.!%*_+`'~ */
	SIP_CC_PARAM = 1 << 1,   /* generic-param name/unquoted value: token and []/:&$ */
	SIP_CC_LWS = 1 << 2,     /* SP, HTAB, CR, LF */
	SIP_CC_DIGIT = 1 << 3,
	SIP_CC_ALPHA = 1 << 4,
	SIP_CC_HEX = 1 << 5,
	SIP_CC_HOST = 1 << 6,    /* hostname/IPv4 characters: alphanum and -._ */
	SIP_CC_URI = 1 << 7,     /* allowed unescaped in a URI: > 0x20, not DEL, not "<> */
	SIP_CC_SCHEME = 1 << 8,  /* after a scheme's first letter: alphanum and +-. */
	SIP_CC_AUTHVAL = 1 << 9, /* unquoted auth-param value: token and /:@=[] */
	SIP_CC_UPPER = 1 << 10,  /* 'A'-'Z' */
	SIP_CC_WORD = 1 << 11,   /* any byte but controls, SP and DEL (Call-ID words, RFC 3261 §25.1) */
	SIP_CC_QTEXT = 1 << 12,  /* any byte but '"' and '\\': runs inside a quoted-string */
};

extern const uint16_t sip_cc[256];

static inline bool sip_cc_is(char c, unsigned cls)
{
	return (sip_cc[(unsigned char)c] & cls) != 0;
}

/* RFC 3261 §25.1 token characters: alphanum and -.!%*_+`'~ */
static inline bool sip_is_token(char c)
{
	return sip_cc_is(c, SIP_CC_TOKEN);
}

/* Index of the first byte at or after i that is not of class cls (s.len if
 * none): the scanners' inner loop, four bytes per bounds check. */
static inline size_t sip_span(struct slice s, size_t i, unsigned cls)
{
	const unsigned char *p = (const unsigned char *)s.p;

	for (; i + 4 <= s.len; i += 4) {
		if (!(sip_cc[p[i]] & cls))
			return i;
		if (!(sip_cc[p[i + 1]] & cls))
			return i + 1;
		if (!(sip_cc[p[i + 2]] & cls))
			return i + 2;
		if (!(sip_cc[p[i + 3]] & cls))
			return i + 3;
	}
	for (; i < s.len; i++)
		if (!(sip_cc[p[i]] & cls))
			return i;
	return s.len;
}

/* Linear white space after unfolding; CR and LF count too so sub-parsers cope
 * with values handed to them straight from a test or a fuzzer. */
static inline bool sip_is_lws(char c)
{
	return sip_cc_is(c, SIP_CC_LWS);
}

static inline bool sip_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Characters of a generic-param name or unquoted value: token plus the
 * uri-parameter extras and IPv6 references (RFC 3261 §19.1.1, §25.1 gen-value). */
static inline bool sip_is_paramchar(char c)
{
	return sip_cc_is(c, SIP_CC_PARAM);
}

/* ASCII lower case of c ('A'-'Z' only; every other byte unchanged). */
static inline char sip_lower(char c)
{
	return sip_cc_is(c, SIP_CC_UPPER) ? (char)(c | 0x20) : c;
}

/* Case-insensitive compare of s with a lower-case name of n bytes, eight
 * bytes folded at a time (slice_fold8); with a literal, n is a constant and
 * the loads inline: no strlen, no call, no byte loop. */
static inline bool sip_caseeq_lower(struct slice s, const char *lower, size_t n)
{
	uint64_t x, y;
	size_t i = 0;

	if (s.len != n)
		return false;
	for (; n - i >= 8; i += 8) {
		memcpy(&x, s.p + i, 8);
		memcpy(&y, lower + i, 8);
		if (slice_fold8(x) != y)
			return false;
	}
	if (i == n)
		return true;
	x = y = 0;
	memcpy(&x, s.p + i, n - i);
	memcpy(&y, lower + i, n - i);
	return slice_fold8(x) == y;
}

/* sip_caseeq_lower with a string literal (lower case) as the second argument. */
#define SIP_CASEEQ(s, lit) sip_caseeq_lower((s), "" lit, sizeof(lit) - 1)

/* s without leading and trailing LWS (as slice_trim, inlined for the parsers). */
static inline struct slice sip_trim(struct slice s)
{
	while (s.len && sip_is_lws(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && sip_is_lws(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* Index of the first non-LWS byte at or after i (s.len if none). */
static inline size_t sip_skip_lws(struct slice s, size_t i)
{
	while (i < s.len && sip_is_lws(s.p[i]))
		i++;
	return i;
}

/* s.p[*i] is '"': advance *i past the closing quote, honouring backslash
 * escapes (quoted-pair). 0, or -EINVAL when the string never closes. */
int sip_scan_quoted(struct slice s, size_t *i);

/* One ";name[=value]" of a parameter list. value keeps its quotes when quoted;
 * raw spans ';' to the end of the value. */
struct sip_param {
	struct slice name;
	struct slice value;
	struct slice raw;
};

/* Iterate a parameter list with LWS allowed around ';' and '='. Returns 1 with
 * *out filled and *cursor advanced; 0 when the list ends (the cursor is then
 * empty, or starts at the first byte that is not part of the list, e.g. ',');
 * -EINVAL on an empty or malformed parameter. */
int sip_param_next(struct slice *cursor, struct sip_param *out);

/* Digits only, value <= max; 0, -EINVAL or -ERANGE (see slice_to_u64). */
int sip_parse_uint(struct slice s, uint64_t max, uint64_t *out);

#endif
