/* A cheap look at a raw message before the full parse: the branch of a
 * response's top Via, so that a worker can hand a response for another
 * worker's transaction over without parsing it itself. Only a hint: anything
 * unusual answers "don't know", and the full parse stays authoritative. */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <string.h>

/* The end of the line starting at i (the index of its CR), or len when the
 * line does not end in CRLF. */
static size_t line_end(struct slice s, size_t i)
{
	const char *lf = memchr(s.p + i, '\n', s.len - i);
	size_t e;

	if (!lf)
		return s.len;
	e = (size_t)(lf - s.p);
	return e > i && s.p[e - 1] == '\r' ? e - 1 : s.len;
}

/* Whether the header line [i, e) is named Via (or its compact form v), and
 * where its value starts. */
static bool is_via(struct slice s, size_t i, size_t e, size_t *value)
{
	size_t j = i;

	while (j < e && sip_is_token(s.p[j]))
		j++;
	if (sip_hdr_id_from(slice_from(s.p + i, j - i)) != SIP_HDR_VIA)
		return false;
	while (j < e && (s.p[j] == ' ' || s.p[j] == '\t'))
		j++;
	if (j >= e || s.p[j] != ':')
		return false;
	*value = j + 1;
	return true;
}

bool sip_peek_response_branch(const char *buf, size_t len, struct slice *branch)
{
	struct slice s = slice_from(buf, len);
	size_t i, e, value;

	if (len < 8 || memcmp(buf, "SIP/2.0 ", 8) != 0)
		return false;
	i = line_end(s, 0);
	while (i < len) {
		i += 2; /* CRLF */
		e = line_end(s, i);
		if (e == len || e == i)
			return false; /* no CRLF, or the end of the headers without a Via */
		if (is_via(s, i, e, &value)) {
			/* A folded Via (next line starts with SP/HT) is left to the parser. */
			if (e + 2 < len && (s.p[e + 2] == ' ' || s.p[e + 2] == '\t'))
				return false;
			struct sip_via via;
			struct slice rest;
			if (sip_via_parse(&via, slice_from(s.p + value, e - value), &rest) || !via.branch.len)
				return false;
			*branch = via.branch;
			return true;
		}
		i = e;
	}
	return false;
}
