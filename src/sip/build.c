/* Building outgoing messages: a bounded output buffer, stateless replies to a
 * parsed request (RFC 3261 §8.2.6, §18.2.1 received; RFC 3581 rport), and the
 * reason-phrase table (RFC 3261 §21 and the extensions sipwarden sends). */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Start an empty buffer over mem[0..cap). mem is not NUL-terminated by the
 * sip_buf functions except as a side effect of sip_buf_printf. */
void sip_buf_init(struct sip_buf *b, char *mem, size_t cap)
{
	b->p = mem;
	b->len = 0;
	b->cap = mem ? cap : 0;
	b->overflow = false;
}

/* Append len bytes; on lack of room nothing is written and overflow sticks. */
void sip_buf_put(struct sip_buf *b, const void *data, size_t len)
{
	if (b->overflow)
		return;
	if (len > b->cap - b->len) {
		b->overflow = true;
		return;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* Append a C string (NULL appends nothing). */
void sip_buf_puts(struct sip_buf *b, const char *s)
{
	if (s)
		sip_buf_put(b, s, strlen(s));
}

/* Append the bytes of a slice. */
void sip_buf_slice(struct sip_buf *b, struct slice s)
{
	sip_buf_put(b, s.p, s.len);
}

/* Append v in decimal (no padding); the reply path's replacement for "%u". */
void sip_buf_u64(struct sip_buf *b, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sip_buf_put(b, tmp + i, sizeof(tmp) - i);
}

/* Append v in decimal with a '-' when negative. */
void sip_buf_i64(struct sip_buf *b, int64_t v)
{
	if (v < 0) {
		sip_buf_put(b, "-", 1);
		sip_buf_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		sip_buf_u64(b, (uint64_t)v);
	}
}

/* Append formatted text; overflow sticks when it does not fit. Kept off the
 * REGISTER and challenge reply paths (see sip_buf_u64). */
void sip_buf_printf(struct sip_buf *b, const char *fmt, ...)
{
	char tmp[256];
	size_t room;
	va_list ap;
	int n;

	if (b->overflow)
		return;
	room = b->cap - b->len;
	va_start(ap, fmt);
	n = vsnprintf(room ? b->p + b->len : tmp, room ? room : 1, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->overflow = true;
	} else if ((size_t)n < room) {
		b->len += (size_t)n;
	} else if ((size_t)n == room && (size_t)n < sizeof(tmp)) {
		/* fits exactly but vsnprintf needed room for its NUL: format again aside */
		va_start(ap, fmt);
		vsnprintf(tmp, sizeof(tmp), fmt, ap);
		va_end(ap);
		sip_buf_put(b, tmp, (size_t)n);
	} else {
		b->overflow = true;
	}
}

/* Via host without IPv6 brackets, for comparison with a textual source address. */
static struct slice bare_host(struct slice h)
{
	if (h.len >= 2 && h.p[0] == '[' && h.p[h.len - 1] == ']')
		return slice_from(h.p + 1, h.len - 2);
	return h;
}

/* The top via-parm with received= and rport= set from src (RFC 3261 §18.2.1:
 * received when the host differs; RFC 3581 §4: received always and rport
 * filled when the client asked with a bare rport). */
static void put_top_via(struct sip_buf *out, const struct sip_via *via, const struct sip_src *src)
{
	bool add_received = src && (via->rport || !slice_caseeq(bare_host(via->host), slice_cstr(src->ip)));
	struct slice cur = via->params;
	struct sip_param prm;

	SIP_BUF_LIT(out, "Via: ");
	if (!src || !via->params.len) {
		sip_buf_slice(out, via->text);
	} else {
		sip_buf_put(out, via->text.p, (size_t)(via->params.p - via->text.p));
		while (sip_param_next(&cur, &prm) == 1) {
			if (slice_caseeq_cstr(prm.name, "received") && add_received)
				continue;
			if (slice_caseeq_cstr(prm.name, "rport") && prm.value.len == 0)
			{
				sip_buf_put(out, ";rport=", 7);
				sip_buf_u64(out, src->port);
			}
			else
				sip_buf_slice(out, prm.raw);
		}
	}
	if (add_received)
	{
		sip_buf_put(out, ";received=", 10);
		sip_buf_puts(out, src->ip);
	}
	SIP_BUF_LIT(out, "\r\n");
}

/* Build a stateless response to req into out (see sip.h). Returns 0, -ENOSPC
 * when out is too small (its contents are then unusable), or -EINVAL when
 * code is outside 100..699 or req lacks Via, From, To, Call-ID or CSeq. */
int sip_reply_build(struct sip_buf *out, const struct sip_msg *req, int code, const char *reason,
		    const char *to_tag, const struct sip_src *src, const char *extra_hdrs)
{
	const struct sip_hdr *via = sip_msg_hdr(req, SIP_HDR_VIA);
	const struct sip_hdr *from = sip_msg_hdr(req, SIP_HDR_FROM);
	const struct sip_hdr *to = sip_msg_hdr(req, SIP_HDR_TO);
	struct sip_via first;
	struct slice rest;

	if (code < 100 || code > 699 || !via || !from || !to || !req->call_id.len ||
	    !req->cseq_method_name.len || !req->via1.text.len)
		return -EINVAL;
	if (!reason)
		reason = sip_reason_phrase(code);
	sip_buf_put(out, "SIP/2.0 ", 8);
	sip_buf_u64(out, (uint64_t)code);
	sip_buf_put(out, " ", 1);
	sip_buf_puts(out, reason);
	sip_buf_put(out, "\r\n", 2);

	/* RFC 3261 §8.2.6.2: every Via, in order; the top one carries received/rport */
	put_top_via(out, &req->via1, src);
	/* More entries in the first Via header only after a comma: without one
	 * there is nothing to parse (the usual single Via of a UA). */
	if (memchr(via->value.p, ',', via->value.len) && sip_via_parse(&first, via->value, &rest) == 0 && rest.len) {
		SIP_BUF_LIT(out, "Via: ");
		sip_buf_slice(out, rest);
		SIP_BUF_LIT(out, "\r\n");
	}
	for (via = sip_msg_hdr_next(req, via); via; via = sip_msg_hdr_next(req, via)) {
		SIP_BUF_LIT(out, "Via: ");
		sip_buf_slice(out, via->value);
		SIP_BUF_LIT(out, "\r\n");
	}

	SIP_BUF_LIT(out, "From: ");
	sip_buf_slice(out, from->value);
	SIP_BUF_LIT(out, "\r\nTo: ");
	sip_buf_slice(out, to->value);
	if (code > 100 && req->to.tag.len == 0 && to_tag && *to_tag)
	{
		sip_buf_put(out, ";tag=", 5);
		sip_buf_puts(out, to_tag);
	}
	SIP_BUF_LIT(out, "\r\nCall-ID: ");
	sip_buf_slice(out, req->call_id);
	sip_buf_put(out, "\r\nCSeq: ", 8);
	sip_buf_u64(out, (uint32_t)req->cseq);
	sip_buf_put(out, " ", 1);
	sip_buf_slice(out, req->cseq_method_name);
	sip_buf_put(out, "\r\n", 2);
	sip_buf_puts(out, extra_hdrs);
	SIP_BUF_LIT(out, SIP_REPLY_TRAILER);
	return out->overflow ? -ENOSPC : 0;
}

struct reason {
	int code;
	const char *text;
};

static const struct reason reasons[] = {
	{ 100, "Trying" },
	{ 180, "Ringing" },
	{ 181, "Call Is Being Forwarded" },
	{ 182, "Queued" },
	{ 183, "Session Progress" },
	{ 199, "Early Dialog Terminated" },
	{ 200, "OK" },
	{ 202, "Accepted" },
	{ 204, "No Notification" },
	{ 300, "Multiple Choices" },
	{ 301, "Moved Permanently" },
	{ 302, "Moved Temporarily" },
	{ 305, "Use Proxy" },
	{ 380, "Alternative Service" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 402, "Payment Required" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" },
	{ 407, "Proxy Authentication Required" },
	{ 408, "Request Timeout" },
	{ 410, "Gone" },
	{ 412, "Conditional Request Failed" },
	{ 413, "Request Entity Too Large" },
	{ 414, "Request-URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 416, "Unsupported URI Scheme" },
	{ 417, "Unknown Resource-Priority" },
	{ 420, "Bad Extension" },
	{ 421, "Extension Required" },
	{ 422, "Session Interval Too Small" },
	{ 423, "Interval Too Brief" },
	{ 424, "Bad Location Information" },
	{ 428, "Use Identity Header" },
	{ 429, "Provide Referrer Identity" },
	{ 430, "Flow Failed" },
	{ 433, "Anonymity Disallowed" },
	{ 436, "Bad Identity-Info" },
	{ 437, "Unsupported Certificate" },
	{ 438, "Invalid Identity Header" },
	{ 439, "First Hop Lacks Outbound Support" },
	{ 440, "Max-Breadth Exceeded" },
	{ 469, "Bad Info Package" },
	{ 470, "Consent Needed" },
	{ 480, "Temporarily Unavailable" },
	{ 481, "Call/Transaction Does Not Exist" },
	{ 482, "Loop Detected" },
	{ 483, "Too Many Hops" },
	{ 484, "Address Incomplete" },
	{ 485, "Ambiguous" },
	{ 486, "Busy Here" },
	{ 487, "Request Terminated" },
	{ 488, "Not Acceptable Here" },
	{ 489, "Bad Event" },
	{ 491, "Request Pending" },
	{ 493, "Undecipherable" },
	{ 494, "Security Agreement Required" },
	{ 500, "Server Internal Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Server Time-out" },
	{ 505, "Version Not Supported" },
	{ 513, "Message Too Large" },
	{ 555, "Push Notification Service Not Supported" },
	{ 580, "Precondition Failure" },
	{ 600, "Busy Everywhere" },
	{ 603, "Decline" },
	{ 604, "Does Not Exist Anywhere" },
	{ 606, "Not Acceptable" },
	{ 607, "Unwanted" },
	{ 608, "Rejected" },
};

/* Standard reason phrase for code (RFC 3261 §21 plus registered extensions),
 * "Unknown" for codes without one. Static storage. */
const char *sip_reason_phrase(int code)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].text;
	return "Unknown";
}
