/* Stream framing for SIP over TCP (RFC 3261 §18.3): the end of a message is the
 * end of its headers plus Content-Length. The length is never trusted beyond
 * the configured maximum message size, and a connection that sends more than
 * that without completing a message is cut off by the caller. */
#include "transport/tp.h"

#include <string.h>
#include <strings.h>

/* Content-Length value of a header block, -1 if absent, -2 if malformed. */
static long content_length(const char *h, size_t len)
{
	long value = -1;
	size_t i = 0;

	while (i < len) {
		size_t eol = i;
		while (eol < len && h[eol] != '\n')
			eol++;
		const char *line = h + i;
		size_t n = eol - i;
		size_t namelen = 0;
		if (n > 15 && strncasecmp(line, "Content-Length", 14) == 0)
			namelen = 14;
		else if (n > 1 && (line[0] == 'l' || line[0] == 'L') && (line[1] == ':' || line[1] == ' ' || line[1] == '\t'))
			namelen = 1;
		if (namelen) {
			size_t j = namelen;
			while (j < n && (line[j] == ' ' || line[j] == '\t'))
				j++;
			if (j < n && line[j] == ':') {
				long v = 0;
				int digits = 0;
				j++;
				while (j < n && (line[j] == ' ' || line[j] == '\t'))
					j++;
				while (j < n && line[j] >= '0' && line[j] <= '9') {
					if (v > 10000000)
						return -2;
					v = v * 10 + (line[j] - '0');
					j++;
					digits++;
				}
				while (j < n && (line[j] == ' ' || line[j] == '\t' || line[j] == '\r'))
					j++;
				if (!digits || j != n)
					return -2;
				if (value >= 0 && value != v)
					return -2;
				value = v;
			}
		}
		i = eol + 1;
	}
	return value;
}

enum tp_frame tp_frame_scan(const char *buf, size_t len, size_t max, size_t *skip, size_t *msg_len)
{
	size_t s = 0;

	*skip = 0;
	*msg_len = 0;
	/* RFC 5626 §3.5.1: a double CRLF is a keep-alive ping, answered with CRLF. */
	if (len >= 4 && memcmp(buf, "\r\n\r\n", 4) == 0) {
		*skip = 4;
		return TP_FRAME_PING;
	}
	while (s < len && (buf[s] == '\r' || buf[s] == '\n'))
		s++;
	if (s == len) {
		/* Only CRLFs so far: keep up to 3 of them waiting for a possible ping. */
		if (len >= 4) {
			*skip = len;
		}
		return TP_FRAME_MORE;
	}
	*skip = s;
	const char *p = buf + s;
	size_t n = len - s;
	const char *end = NULL;
	size_t hdr_len = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] == '\n' && p[i + 1] == '\n') {
			end = p + i + 2;
			break;
		}
		if (p[i] == '\n' && p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n') {
			end = p + i + 3;
			break;
		}
	}
	if (!end)
		return n > max ? TP_FRAME_BAD : TP_FRAME_MORE;
	hdr_len = (size_t)(end - p);
	long cl = content_length(p, hdr_len);
	if (cl == -2)
		return TP_FRAME_BAD;
	if (cl < 0)
		cl = 0; /* RFC 3261 §18.3 requires it on streams; treat absence as empty body */
	if (hdr_len + (size_t)cl > max)
		return TP_FRAME_BAD;
	if (n < hdr_len + (size_t)cl)
		return TP_FRAME_MORE;
	*msg_len = hdr_len + (size_t)cl;
	return TP_FRAME_MSG;
}
