/* name-addr / addr-spec values: From, To, Contact, Route, Record-Route
 * (RFC 3261 §20.10, §20.20, §20.39, §25.1). Without <>, ';' starts header
 * parameters, never URI parameters; lists split on commas outside quotes and <>. */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <errno.h>
#include <string.h>

/* Header parameters after the URI: zero or more ";name[=value]" and nothing else. */
static int parse_hdr_params(struct sip_addr *addr, struct slice s)
{
	struct slice cur;
	struct sip_param prm;
	int rc;

	s = sip_trim(s);
	addr->params = s;
	cur = s;
	while ((rc = sip_param_next(&cur, &prm)) == 1) {
		if (!SIP_CASEEQ(prm.name, "tag"))
			continue;
		/* tag-param = "tag" EQUAL token, once (RFC 3261 §25.1) */
		if (addr->tag.len || !prm.value.len || prm.value.p[0] == '"')
			return -EINVAL;
		addr->tag = prm.value;
	}
	if (rc < 0 || cur.len)
		return -EINVAL;
	return 0;
}

/* Parse one name-addr or addr-spec (or "*") from text into *addr, which then
 * points into text. The display name is returned without its quotes (escapes
 * kept). Returns 0, or -EINVAL when the value is malformed or the URI does not
 * parse; an addr-spec holding ',', '?' (or ';' inside the URI) must use <>. */
int sip_addr_parse(struct sip_addr *addr, struct slice text)
{
	struct slice s = sip_trim(text);
	size_t i = 0, j;

	memset(addr, 0, sizeof(*addr));
	if (s.len == 0)
		return -EINVAL;
	if (s.len == 1 && s.p[0] == '*') {
		addr->star = true;
		return 0;
	}
	if (s.p[0] == '"') {
		j = 0;
		if (sip_scan_quoted(s, &j))
			return -EINVAL;
		addr->display = slice_from(s.p + 1, j - 2);
		i = sip_skip_lws(s, j);
		if (i >= s.len || s.p[i] != '<')
			return -EINVAL;
	} else {
		/* display-name = *(token LWS): stop at the first byte that is neither */
		i = sip_span(s, i, SIP_CC_TOKEN | SIP_CC_LWS);
		if (i < s.len && s.p[i] == '<')
			addr->display = sip_trim(slice_from(s.p, i));
		else
			i = 0;
	}
	if (s.p[i] == '<') {
		const char *gt = memchr(s.p + i + 1, '>', s.len - i - 1);
		if (!gt)
			return -EINVAL;
		addr->uri_str = slice_from(s.p + i + 1, (size_t)(gt - s.p) - i - 1);
		j = (size_t)(gt - s.p) + 1;
	} else {
		/* addr-spec: the URI ends at the first ';' (RFC 3261 §20.10) */
		for (j = 0; j < s.len && s.p[j] != ';'; j++)
			if (s.p[j] == ',' || s.p[j] == '?' || s.p[j] == '<' || s.p[j] == '"')
				return -EINVAL;
		addr->uri_str = sip_trim(slice_from(s.p, j));
	}
	if (sip_uri_parse(&addr->uri, addr->uri_str))
		return -EINVAL;
	return parse_hdr_params(addr, slice_from(s.p + j, s.len - j));
}

/* Return the next element of a comma-separated name-addr list. *cursor starts
 * as the whole header value and is left pointing at the separating comma, so
 * an empty element (",,", trailing ",") is reported as -EINVAL. Returns 1 with
 * *addr filled, 0 at the end, -EINVAL on a malformed element. */
int sip_addr_list_next(struct slice *cursor, struct sip_addr *addr)
{
	struct slice s = *cursor;
	size_t i = sip_skip_lws(s, 0), start, j;
	bool in_angle = false;

	if (i >= s.len) {
		if (s.len)
			*cursor = slice_from(s.p + s.len, 0);
		return 0;
	}
	if (s.p[i] == ',') {
		i = sip_skip_lws(s, i + 1);
		if (i >= s.len || s.p[i] == ',')
			return -EINVAL;
	}
	start = i;
	for (j = i; j < s.len; j++) {
		char c = s.p[j];
		if (in_angle) {
			if (c == '>')
				in_angle = false;
		} else if (c == '<') {
			in_angle = true;
		} else if (c == '"') {
			if (sip_scan_quoted(s, &j))
				return -EINVAL;
			j--; /* the loop steps past the closing quote */
		} else if (c == ',') {
			break;
		}
	}
	if (in_angle)
		return -EINVAL;
	if (sip_addr_parse(addr, slice_from(s.p + start, j - start)))
		return -EINVAL;
	*cursor = slice_from(s.p + j, s.len - j);
	return 1;
}
