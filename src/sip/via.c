/* Via header values (RFC 3261 §20.42, §25.1 via-parm; RFC 3581 rport;
 * RFC 5118 IPv6 sent-by). One via-parm at a time; LWS is allowed around '/',
 * ':', ';' and '=' as the grammar's SLASH/COLON/SEMI/EQUAL permit. */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <errno.h>
#include <string.h>

/* A token at s.p[*i]; empty token is an error. */
static int scan_token(struct slice s, size_t *i, struct slice *out)
{
	size_t j = *i;

	j = sip_span(s, j, SIP_CC_TOKEN);
	if (j == *i)
		return -EINVAL;
	*out = slice_from(s.p + *i, j - *i);
	*i = j;
	return 0;
}

/* LWS '/' LWS; returns the index after it or 0 when the slash is missing. */
static size_t scan_slash(struct slice s, size_t i)
{
	i = sip_skip_lws(s, i);
	if (i >= s.len || s.p[i] != '/')
		return 0;
	return sip_skip_lws(s, i + 1);
}

static int parse_sent_by(struct sip_via *via, struct slice s, size_t *i)
{
	size_t j = *i, start = j;
	uint64_t port;

	if (j < s.len && s.p[j] == '[') {
		while (j < s.len && s.p[j] != ']') {
			char c = s.p[j];
			bool hex = sip_cc_is(c, SIP_CC_HEX);
			if (j > start && !hex && c != ':' && c != '.')
				return -EINVAL;
			j++;
		}
		if (j >= s.len || j - start < 3)
			return -EINVAL;
		j++;
	} else {
		j = sip_span(s, j, SIP_CC_HOST); /* alphanum and -._ */
		if (j == start)
			return -EINVAL;
	}
	via->host = slice_from(s.p + start, j - start);
	*i = j;
	j = sip_skip_lws(s, j);
	if (j < s.len && s.p[j] == ':') {
		size_t p0 = sip_skip_lws(s, j + 1);
		j = p0;
		while (j < s.len && sip_is_digit(s.p[j]))
			j++;
		if (sip_parse_uint(slice_from(s.p + p0, j - p0), 65535, &port))
			return -EINVAL;
		via->port = (uint16_t)port;
		*i = j;
	}
	return 0;
}

/* Parse the first via-parm of text into *via (slices point into text) and set
 * *rest to what follows its comma (empty when it was the last). Returns 0, or
 * -EINVAL when the via-parm is malformed, a parameter is empty (";;"), or a
 * comma is followed by nothing. protocol spans "SIP/2.0" as received (it may
 * hold LWS around the '/'); any protocol name and version are accepted. */
int sip_via_parse(struct sip_via *via, struct slice text, struct slice *rest)
{
	struct slice s = text, name, ver, cur;
	struct sip_param prm;
	size_t i, start, end;
	int rc;

	memset(via, 0, sizeof(*via));
	*rest = slice_from(text.p, 0);
	i = sip_skip_lws(s, 0);
	start = i;
	if (scan_token(s, &i, &name))
		return -EINVAL;
	if (!(i = scan_slash(s, i)) || scan_token(s, &i, &ver))
		return -EINVAL;
	via->protocol = slice_from(name.p, (size_t)(ver.p + ver.len - name.p));
	if (!(i = scan_slash(s, i)) || scan_token(s, &i, &via->transport))
		return -EINVAL;
	end = i;
	i = sip_skip_lws(s, i);
	if (i == end)
		return -EINVAL; /* sent-protocol LWS sent-by */
	if (parse_sent_by(via, s, &i))
		return -EINVAL;
	cur = slice_from(s.p + i, s.len - i);
	via->params = cur;
	while ((rc = sip_param_next(&cur, &prm)) == 1) {
		if (SIP_CASEEQ(prm.name, "branch")) {
			via->branch = prm.value;
		} else if (SIP_CASEEQ(prm.name, "received")) {
			via->received = prm.value;
		} else if (SIP_CASEEQ(prm.name, "rport")) {
			uint64_t v;
			if (prm.value.len && sip_parse_uint(prm.value, 65535, &v))
				return -EINVAL;
			via->rport = true;
			via->rport_val = prm.value;
		}
	}
	if (rc < 0)
		return -EINVAL;
	/* params span up to the last byte consumed, without trailing LWS */
	via->params = sip_trim(slice_from(via->params.p, (size_t)(cur.p - via->params.p)));
	via->text = sip_trim(slice_from(s.p + start, (size_t)(cur.p - (s.p + start))));
	if (cur.len == 0)
		return 0;
	if (cur.p[0] != ',')
		return -EINVAL;
	*rest = sip_trim(slice_from(cur.p + 1, cur.len - 1));
	if (rest->len == 0)
		return -EINVAL;
	return 0;
}
