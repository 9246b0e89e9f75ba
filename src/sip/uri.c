/* URI parsing (RFC 3261 §19.1, §25.1 SIP-URI/SIPS-URI; RFC 5118 IPv6 references;
 * RFC 3966 tel: and any other absoluteURI kept opaque). Structure only: escapes
 * stay as received and no normalisation happens here. */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <errno.h>
#include <string.h>

static bool is_alpha(char c)
{
	return sip_cc_is(c, SIP_CC_ALPHA);
}

static bool is_hex(char c)
{
	return sip_cc_is(c, SIP_CC_HEX);
}

/* host [":" port] at s.p[*i]; host is a hostname/IPv4 or an RFC 5118 "[...]"
 * reference (brackets kept). On success *i points past the port. */
static int parse_hostport(struct sip_uri *uri, struct slice s, size_t *i)
{
	size_t j = *i, start = j;
	uint64_t port;

	if (j < s.len && s.p[j] == '[') {
		bool colon = false;
		j++;
		while (j < s.len && s.p[j] != ']') {
			if (s.p[j] == ':')
				colon = true;
			else if (!is_hex(s.p[j]) && s.p[j] != '.')
				return -EINVAL;
			j++;
		}
		if (j >= s.len || !colon || j - start < 3)
			return -EINVAL;
		j++;
	} else {
		j = sip_span(s, j, SIP_CC_HOST); /* alphanum and -._ */
		if (j == start)
			return -EINVAL;
	}
	uri->host = slice_from(s.p + start, j - start);
	if (j < s.len && s.p[j] == ':') {
		size_t p0 = ++j;
		while (j < s.len && sip_is_digit(s.p[j]))
			j++;
		uri->port_str = slice_from(s.p + p0, j - p0);
		if (sip_parse_uint(uri->port_str, 65535, &port))
			return -EINVAL;
		uri->port = (uint16_t)port;
	}
	*i = j;
	return 0;
}

/* The part of a sip:/sips: URI after the scheme's ':'. */
static int parse_sip(struct sip_uri *uri, struct slice s)
{
	const char *at = memchr(s.p, '@', s.len);
	size_t i = 0;
	struct slice cur;
	struct sip_param prm;
	int rc;

	if (at) {
		/* RFC 3261 §25.1: '@' is not allowed unescaped after the userinfo, so the
		 * first one ends it; the first ':' inside it starts the password. */
		size_t ulen = (size_t)(at - s.p);
		const char *colon = memchr(s.p, ':', ulen);
		if (colon) {
			uri->user = slice_from(s.p, (size_t)(colon - s.p));
			uri->password = slice_from(colon + 1, ulen - uri->user.len - 1);
		} else {
			uri->user = slice_from(s.p, ulen);
		}
		if (uri->user.len == 0)
			return -EINVAL;
		i = ulen + 1;
	}
	if (parse_hostport(uri, s, &i))
		return -EINVAL;
	if (i < s.len && s.p[i] == ';') {
		const char *q = memchr(s.p + i, '?', s.len - i);
		size_t end = q ? (size_t)(q - s.p) : s.len;
		uri->params = slice_from(s.p + i, end - i);
		cur = uri->params;
		while ((rc = sip_param_next(&cur, &prm)) == 1)
			;
		if (rc < 0 || cur.len)
			return -EINVAL;
		i = end;
	}
	if (i < s.len && s.p[i] == '?') {
		uri->headers = slice_from(s.p + i + 1, s.len - i - 1);
		i = s.len;
	}
	return i == s.len ? 0 : -EINVAL;
}

/* Parse text (no surrounding LWS or <>) into *uri, which points into text.
 * sip: and sips: URIs are split into their parts; any other scheme is valid
 * syntax too (the caller decides on 416) and keeps everything after ':' in
 * uri->user with is_sip false. Returns 0, or -EINVAL on malformed input
 * (*uri then holds partial results). */
int sip_uri_parse(struct sip_uri *uri, struct slice text)
{
	size_t i = 0;
	struct slice rest;

	memset(uri, 0, sizeof(*uri));
	if (!text.p || text.len == 0 || !is_alpha(text.p[0]))
		return -EINVAL;
	i = sip_span(text, i, SIP_CC_SCHEME);
	if (i >= text.len || text.p[i] != ':')
		return -EINVAL;
	uri->scheme = slice_from(text.p, i);
	rest = slice_from(text.p + i + 1, text.len - i - 1);
	if (rest.len == 0)
		return -EINVAL;
	if (sip_span(rest, 0, SIP_CC_URI) != rest.len)
		return -EINVAL;
	uri->is_sips = SIP_CASEEQ(uri->scheme, "sips");
	uri->is_sip = uri->is_sips || SIP_CASEEQ(uri->scheme, "sip");
	if (!uri->is_sip) {
		uri->user = rest;
		return 0;
	}
	return parse_sip(uri, rest);
}

/* Find ;name[=value] in params (case-insensitive name, LWS tolerated). A
 * quoted value is returned with its quotes. 0 when found (*value empty for a
 * flag parameter; value may be NULL), -ENOENT when absent or the list is
 * malformed before it. */
int sip_param_find(struct slice params, const char *name, struct slice *value)
{
	struct sip_param prm;

	while (sip_param_next(&params, &prm) == 1) {
		if (slice_caseeq_cstr(prm.name, name)) {
			if (value)
				*value = prm.value;
			return 0;
		}
	}
	return -ENOENT;
}
