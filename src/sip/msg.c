/* One-pass indexing and validation of a complete SIP message (RFC 3261 §7,
 * §8.2.2, §16.3, §18.3, §20; RFC 4475 robustness). The index holds slices into
 * the caller's buffer; the only writes are folding CRLFs turned into spaces. */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

/* Record the first failure only: later checks still run so that can_reply is
 * known, but the reason a client sees is the earliest problem. */
static void fail(struct sip_parse_err *err, const char *reason, int status)
{
	if (!err->reason) {
		err->reason = reason;
		err->status = status;
	}
}

/* "SIP/2.0" is the only version spoken; other "SIP/x" earn a 505 (RFC 3261 §8.2.2 is
 * silent, §21.5.6 defines 505). Returns 0, 505, or 400 for something not a version. */
static int check_version(struct slice v)
{
	if (SIP_CASEEQ(v, "sip/2.0"))
		return 0;
	if (v.len > 4 && SIP_CASEEQ(slice_from(v.p, 4), "sip/"))
		return 505;
	return 400;
}

/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 §7.2). */
static void parse_status_line(struct sip_msg *msg, struct slice line, struct sip_parse_err *err)
{
	const char *sp = memchr(line.p, ' ', line.len);
	size_t i, d;
	int v;

	msg->is_request = false;
	if (!sp) {
		fail(err, "Malformed status line", 400);
		return;
	}
	v = check_version(slice_from(line.p, (size_t)(sp - line.p)));
	if (v)
		fail(err, v == 505 ? "Version Not Supported" : "Malformed status line", v);
	i = (size_t)(sp - line.p) + 1;
	for (d = i; d < line.len && sip_is_digit(line.p[d]); d++)
		;
	/* Exactly three digits (RFC 3261 §25.1): 4294967301 must not wrap (RFC 4475 §3.1.2.19) */
	if (d - i != 3 || (d < line.len && line.p[d] != ' ')) {
		fail(err, "Bad status code", 400);
		return;
	}
	msg->status = (line.p[i] - '0') * 100 + (line.p[i + 1] - '0') * 10 + (line.p[i + 2] - '0');
	if (msg->status < 100 || msg->status > 699) {
		fail(err, "Bad status code", 400);
		return;
	}
	if (d < line.len)
		d++;
	msg->reason = slice_from(line.p + d, line.len - d);
}

/* Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1); exactly
 * two single spaces, so an URI holding LWS is rejected (RFC 4475 §3.1.2.8). */
static void parse_request_line(struct sip_msg *msg, struct slice line, struct sip_parse_err *err)
{
	const char *sp1 = memchr(line.p, ' ', line.len), *sp2 = NULL;
	int v;

	msg->is_request = true;
	if (sp1)
		sp2 = memrchr(line.p, ' ', line.len);
	if (!sp1 || sp1 == sp2 || sp1 == line.p) {
		fail(err, "Malformed request line", 400);
		return;
	}
	msg->method_name = slice_from(line.p, (size_t)(sp1 - line.p));
	if (sip_span(msg->method_name, 0, SIP_CC_TOKEN) != msg->method_name.len) {
		msg->method_name = SLICE_NULL;
		fail(err, "Malformed request line", 400);
		return;
	}
	msg->method = sip_method_from(msg->method_name);
	v = check_version(slice_from(sp2 + 1, (size_t)(line.p + line.len - sp2 - 1)));
	if (v) {
		fail(err, v == 505 ? "Version Not Supported" : "Malformed request line", v);
		if (v != 505)
			return;
	}
	msg->ruri_str = slice_from(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	if (memchr(msg->ruri_str.p, ' ', msg->ruri_str.len) || sip_uri_parse(&msg->ruri, msg->ruri_str))
		fail(err, "Malformed Request-URI", 400);
}

/* The start line at buf[*pos]; on return *pos is past its line end. Returns
 * -1 when the line cannot even be delimited (nothing else is parsed then). */
static int parse_start_line(struct sip_msg *msg, size_t *pos, struct sip_parse_err *err)
{
	size_t s = *pos, room = msg->len - s, win = SW_MAX_START_LINE + 2, e, end;
	const char *lf = memchr(msg->buf + s, '\n', room < win ? room : win);
	struct slice line;

	if (!lf) {
		fail(err, room < win ? "Truncated message" : "Start line too long", 400);
		return -1;
	}
	e = (size_t)(lf - msg->buf);
	end = (e > s && msg->buf[e - 1] == '\r') ? e - 1 : e;
	*pos = e + 1;
	if (end - s > SW_MAX_START_LINE) {
		fail(err, "Start line too long", 400);
		return -1;
	}
	line = slice_from(msg->buf + s, end - s);
	msg->is_request = !(line.len >= 4 && SIP_CASEEQ(slice_from(line.p, 4), "sip/"));
	if (memchr(line.p, '\r', line.len) || memchr(line.p, '\0', line.len))
		fail(err, "Malformed start line", 400);
	else if (msg->is_request)
		parse_request_line(msg, line, err);
	else
		parse_status_line(msg, line, err);
	return 0;
}

/* Delimit one header field starting at s, unfolding continuation lines in
 * place (RFC 3261 §7.3.1: CRLF followed by SP/HTAB is LWS). Sets *field_end
 * (exclusive, before the line end) and *next. Returns NULL or a failure reason. */
static const char *delimit_field(char *buf, size_t len, size_t s, size_t *field_end, size_t *next)
{
	size_t win_end = s + SW_MAX_HEADER_LEN + 2, e = s;

	if (win_end > len)
		win_end = len;
	for (;;) {
		const char *lf = e < win_end ? memchr(buf + e, '\n', win_end - e) : NULL;
		size_t l, end;

		if (!lf)
			return win_end == len ? "Truncated message" : "Header too long";
		l = (size_t)(lf - buf);
		end = (l > s && buf[l - 1] == '\r') ? l - 1 : l;
		if (l + 1 < len && (buf[l + 1] == ' ' || buf[l + 1] == '\t')) {
			memset(buf + end, ' ', l + 1 - end);
			e = l + 1;
			continue;
		}
		*field_end = end;
		*next = l + 1;
		return NULL;
	}
}

/* Index header fields up to the empty line; *pos ends at the body. Returns 0,
 * or -1 after recording why the header section is unusable. */
static int parse_headers(struct sip_msg *msg, size_t *pos, struct sip_parse_err *err)
{
	char *buf = msg->buf;
	size_t len = msg->len, s = *pos;
	int16_t last[SIP_HDR__COUNT]; /* last header of each id so far, valid where first[] is set */

	for (;;) {
		size_t fe, next, n;
		const char *why;
		struct sip_hdr *h;

		if (s >= len) {
			fail(err, "Truncated message", 400);
			return -1;
		}
		if (buf[s] == '\n' || (buf[s] == '\r' && s + 1 < len && buf[s + 1] == '\n')) {
			*pos = s + (buf[s] == '\n' ? 1 : 2);
			return 0;
		}
		if (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r') {
			fail(err, "Malformed header", 400);
			return -1;
		}
		why = delimit_field(buf, len, s, &fe, &next);
		if (!why && fe - s > SW_MAX_HEADER_LEN)
			why = "Header too long";
		if (!why && memchr(buf + s, '\r', fe - s))
			why = "Malformed header"; /* a bare CR is no line end */
		if (why) {
			fail(err, why, 400);
			return -1;
		}
		n = sip_span(slice_from(buf, fe), s, SIP_CC_TOKEN);
		if (n == s) {
			fail(err, "Malformed header", 400);
			return -1;
		}
		if (msg->nhdrs >= SW_MAX_HEADERS) {
			fail(err, "Too many headers", 400);
			return -1;
		}
		h = &msg->hdrs[msg->nhdrs];
		h->name = slice_from(buf + s, n - s);
		while (n < fe && (buf[n] == ' ' || buf[n] == '\t'))
			n++;
		if (n >= fe || buf[n] != ':') {
			fail(err, "Malformed header", 400);
			return -1;
		}
		h->value = sip_trim(slice_from(buf + n + 1, fe - n - 1));
		h->id = sip_hdr_id_from(h->name);
		h->next = -1;
		if (h->id != SIP_HDR_OTHER) {
			if (msg->first[h->id] < 0)
				msg->first[h->id] = (int16_t)msg->nhdrs;
			else
				msg->hdrs[last[h->id]].next = (int16_t)msg->nhdrs;
			last[h->id] = (int16_t)msg->nhdrs;
		} else if (msg->first[SIP_HDR_OTHER] < 0) {
			msg->first[SIP_HDR_OTHER] = (int16_t)msg->nhdrs;
		}
		msg->nhdrs++;
		s = next;
	}
}

/* The value of a header that may appear once; repeats must carry the same
 * value (RFC 3261 §7.3.1, RFC 4475 §3.3.8). 0, -ENOENT (absent) or -EEXIST. */
static int singleton(const struct sip_msg *msg, enum sip_hdr_id id, struct slice *value)
{
	const struct sip_hdr *h;

	if (msg->first[id] < 0)
		return -ENOENT;
	h = &msg->hdrs[msg->first[id]];
	for (int k = h->next; k >= 0; k = msg->hdrs[k].next)
		if (!slice_eq(msg->hdrs[k].value, h->value))
			return -EEXIST;
	*value = h->value;
	return 0;
}

/* Every Via must parse; the first via-parm becomes via1. At most SW_MAX_VIAS
 * via-parms in all, counted across comma-joined values. true when via1 is usable. */
static bool parse_vias(struct sip_msg *msg, struct sip_parse_err *err)
{
	unsigned n = 0;
	bool top = false;

	if (msg->first[SIP_HDR_VIA] < 0) {
		fail(err, "Missing Via", 400);
		return false;
	}
	for (int k = msg->first[SIP_HDR_VIA]; k >= 0; k = msg->hdrs[k].next) {
		const struct sip_hdr *h = &msg->hdrs[k];
		struct slice cur = h->value, rest;
		do {
			struct sip_via v;
			if (sip_via_parse(&v, cur, &rest)) {
				fail(err, "Malformed Via", 400);
				return top;
			}
			if (++n > SW_MAX_VIAS) {
				fail(err, "Too many Via headers", 400);
				return top;
			}
			if (n == 1) {
				msg->via1 = v;
				top = true;
			}
			cur = rest;
		} while (cur.len);
	}
	return top;
}

static bool parse_addr_hdr(struct sip_msg *msg, enum sip_hdr_id id, struct sip_addr *addr,
			   struct sip_parse_err *err)
{
	bool from = id == SIP_HDR_FROM;
	struct slice v;
	int rc = singleton(msg, id, &v);

	if (rc == -ENOENT) {
		fail(err, from ? "Missing From" : "Missing To", 400);
		return false;
	}
	if (rc) {
		fail(err, from ? "Duplicate From" : "Duplicate To", 400);
		return false;
	}
	if (sip_addr_parse(addr, v) || addr->star) {
		memset(addr, 0, sizeof(*addr));
		fail(err, from ? "Malformed From" : "Malformed To", 400);
		return false;
	}
	return true;
}

static bool parse_call_id(struct sip_msg *msg, struct sip_parse_err *err)
{
	struct slice v;
	int rc = singleton(msg, SIP_HDR_CALL_ID, &v);

	if (rc) {
		fail(err, rc == -ENOENT ? "Missing Call-ID" : "Duplicate Call-ID", 400);
		return false;
	}
	/* callid = word ["@" word] (RFC 3261 §25.1): no LWS inside, not empty */
	if (!v.len || sip_span(v, 0, SIP_CC_WORD) != v.len) {
		fail(err, "Malformed Call-ID", 400);
		return false;
	}
	msg->call_id = v;
	return true;
}

/* CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16); the number must fit 32 bits
 * (RFC 4475 §3.1.2.4: overflow is an error, never a wrap). */
static bool parse_cseq(struct sip_msg *msg, struct sip_parse_err *err)
{
	struct slice v;
	size_t i = 0, j;
	uint64_t n;
	int rc = singleton(msg, SIP_HDR_CSEQ, &v);

	if (rc) {
		fail(err, rc == -ENOENT ? "Missing CSeq" : "Duplicate CSeq", 400);
		return false;
	}
	while (i < v.len && sip_is_digit(v.p[i]))
		i++;
	j = sip_skip_lws(v, i);
	if (j == i || sip_parse_uint(slice_from(v.p, i), UINT32_MAX, &n))
		goto bad;
	i = sip_span(v, j, SIP_CC_TOKEN);
	if (i == j || i != v.len)
		goto bad;
	msg->cseq = (uint32_t)n;
	msg->cseq_method_name = slice_from(v.p + j, i - j);
	msg->cseq_method = sip_method_from(msg->cseq_method_name);
	return true;
bad:
	fail(err, "Malformed CSeq", 400);
	return false;
}

/* Max-Forwards, Expires and Content-Length: numbers with their own rules. */
static void parse_scalars(struct sip_msg *msg, struct sip_parse_err *err)
{
	struct slice v;
	uint64_t n;
	int rc;

	rc = singleton(msg, SIP_HDR_MAX_FORWARDS, &v);
	if (rc == -EEXIST) {
		fail(err, "Duplicate Max-Forwards", 400);
	} else if (rc == 0) {
		rc = sip_parse_uint(v, 255, &n);
		if (rc == -EINVAL)
			fail(err, "Malformed Max-Forwards", 400);
		/* RFC 4475 §3.1.2.4: an overlarge value may be treated as absent */
		msg->max_forwards = rc ? -1 : (int)n;
	}

	rc = singleton(msg, SIP_HDR_EXPIRES, &v);
	if (rc == -EEXIST) {
		fail(err, "Duplicate Expires", 400);
	} else if (rc == 0) {
		rc = sip_parse_uint(v, UINT32_MAX, &n);
		if (rc == -ERANGE)
			msg->expires = UINT32_MAX; /* delta-seconds overflow saturates */
		else if (rc == 0)
			msg->expires = (int64_t)n;
		else if (msg->is_request && msg->method == SIP_REGISTER)
			fail(err, "Malformed Expires", 400);
	}

	rc = singleton(msg, SIP_HDR_CONTENT_LENGTH, &v);
	if (rc == -EEXIST) {
		fail(err, "Bad Content-Length", 400); /* RFC 4475 §3.3.9 */
	} else if (rc == 0) {
		if (sip_parse_uint(v, SW_MAX_MSG_SIZE, &n))
			fail(err, "Bad Content-Length", 400);
		else
			msg->content_length = (int64_t)n;
	}
}

/* Index and validate the message in buf[0..len) (see sip.h). Leading CRLFs
 * are skipped (RFC 3261 §7.5). Without Content-Length the body runs to the
 * end of the buffer; with it, bytes past the body are cut off msg->len
 * (RFC 3261 §18.3, datagram semantics). err may be NULL. Returns 0, or
 * -EBADMSG with err->reason (static), err->status (400 or 505) and
 * err->can_reply (Via, From, To, Call-ID and CSeq usable) filled. */
int sip_msg_parse(struct sip_msg *msg, char *buf, size_t len, struct sip_parse_err *err)
{
	struct sip_parse_err dummy;
	size_t pos = 0;
	bool ok;

	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	/* everything but the header array, which is filled as far as nhdrs says */
	memset(msg, 0, offsetof(struct sip_msg, hdrs));
	memset(&msg->nhdrs, 0, sizeof(*msg) - offsetof(struct sip_msg, nhdrs));
	memset(msg->first, 0xff, sizeof(msg->first));
	msg->max_forwards = -1;
	msg->expires = -1;
	msg->content_length = -1;
	msg->buf = buf;
	msg->len = buf ? len : 0;
	if (msg->len > SW_MAX_MSG_SIZE) {
		fail(err, "Message too large", 400);
		return -EBADMSG;
	}
	while (pos < msg->len && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	if (pos >= msg->len) {
		fail(err, "Empty message", 400);
		return -EBADMSG;
	}
	if (parse_start_line(msg, &pos, err))
		return -EBADMSG;

	ok = parse_headers(msg, &pos, err) == 0;
	err->can_reply = parse_vias(msg, err);
	err->can_reply &= parse_addr_hdr(msg, SIP_HDR_FROM, &msg->from, err);
	err->can_reply &= parse_addr_hdr(msg, SIP_HDR_TO, &msg->to, err);
	err->can_reply &= parse_call_id(msg, err);
	err->can_reply &= parse_cseq(msg, err);
	/* RFC 3261 §8.2.2 / RFC 4475 §3.1.2.17-18: CSeq names the request's method */
	if (msg->is_request && msg->method_name.len && msg->cseq_method_name.len &&
	    !slice_eq(msg->method_name, msg->cseq_method_name))
		fail(err, "CSeq method mismatch", 400);
	parse_scalars(msg, err);

	if (ok) {
		size_t avail = msg->len - pos;
		if (msg->content_length > (int64_t)avail) {
			fail(err, "Truncated body", 400); /* RFC 4475 §3.1.2.2 */
			msg->body = slice_from(buf + pos, avail);
		} else if (msg->content_length >= 0) {
			msg->body = slice_from(buf + pos, (size_t)msg->content_length);
			msg->len = pos + (size_t)msg->content_length;
		} else {
			msg->body = slice_from(buf + pos, avail);
		}
	}
	if (err->reason)
		return -EBADMSG;
	err->can_reply = true;
	return 0;
}
