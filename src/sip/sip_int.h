/* Private to src/sip/: character classes and small scanners shared by the
 * parsers (RFC 3261 §25.1 basic rules: token, LWS, quoted-string, generic-param).
 * Nothing outside this folder includes this header. */
#ifndef SW_SIP_INT_H
#define SW_SIP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/slice.h"

/* RFC 3261 §25.1 token characters: alphanum and -.!%*_+`'~ */
static inline bool sip_is_token(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '!' || c == '%' || c == '*' || c == '_' || c == '+' ||
	       c == '`' || c == '\'' || c == '~';
}

/* Linear white space after unfolding; CR and LF count too so sub-parsers cope
 * with values handed to them straight from a test or a fuzzer. */
static inline bool sip_is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline bool sip_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Characters of a generic-param name or unquoted value: token plus the
 * uri-parameter extras and IPv6 references (RFC 3261 §19.1.1, §25.1 gen-value). */
static inline bool sip_is_paramchar(char c)
{
	return sip_is_token(c) || c == '[' || c == ']' || c == '/' || c == ':' || c == '&' ||
	       c == '$';
}

/* Index of the first non-LWS byte at or after i (s.len if none). */
size_t sip_skip_lws(struct slice s, size_t i);

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
