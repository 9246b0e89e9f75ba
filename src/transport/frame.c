/* Stream framing for SIP over TCP (RFC 3261 §18.3): the end of a message is the
 * end of its headers plus Content-Length. The length is never trusted beyond
 * the configured maximum message size, and a connection that sends more than
 * that without completing a message is cut off by the caller. */
#include "transport/tp.h"

#include <string.h>
#include <strings.h>

/* Value of one header line if it is Content-Length (long or compact form):
 * -1 if the line is another header, -2 if the value is malformed. */
static long content_length_line(const char *line, size_t n)
{
	size_t namelen = 0;

	if (n > 15 && (line[0] == 'C' || line[0] == 'c') && strncasecmp(line, "Content-Length", 14) == 0)
		namelen = 14;
	else if (n > 1 && (line[0] == 'l' || line[0] == 'L') && (line[1] == ':' || line[1] == ' ' || line[1] == '\t'))
		namelen = 1;
	if (!namelen)
		return -1;
	size_t j = namelen;
	while (j < n && (line[j] == ' ' || line[j] == '\t'))
		j++;
	if (j >= n || line[j] != ':')
		return -1;
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
	return v;
}

/* Content-Length value of a header block, -1 if absent, -2 if malformed
 * (or given twice with different values). Lines are found with memchr. */
static long content_length(const char *h, size_t len)
{
	long value = -1;
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(h + i, '\n', len - i);
		size_t eol = nl ? (size_t)(nl - h) : len;
		long v = content_length_line(h + i, eol - i);
		if (v == -2 || (v >= 0 && value >= 0 && value != v))
			return -2;
		if (v >= 0)
			value = v;
		i = eol + 1;
	}
	return value;
}

/* Length of the header block at p (through the empty line ending it: LF LF or
 * LF CR LF), 0 while it is incomplete. */
static size_t header_block_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i + 1 < n) {
		const char *nl = memchr(p + i, '\n', n - 1 - i);
		if (!nl)
			return 0;
		i = (size_t)(nl - p);
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
			return i + 3;
		i++;
	}
	return 0;
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
	size_t hdr_len = header_block_len(p, n);
	if (!hdr_len)
		return n > max ? TP_FRAME_BAD : TP_FRAME_MORE;
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
