/* sipwarden-bench: the messages of scenario 3, an authenticated call through a
 * proxy as bench/sipp/call_uac.xml makes it: INVITE, 407, ACK, INVITE with
 * Proxy-Authorization, 200, ACK, BYE, 200. The ACK of a non-2xx answer reuses
 * the INVITE's branch (RFC 3261 §17.1.1.3); the 2xx ACK and the BYE are new
 * transactions sent to the callee's Contact along the route set. */
#include "bench/bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char sdp_fmt[] = "v=0\r\no=bench 1 1 IN IP%c %s\r\ns=-\r\nc=IN IP%c %s\r\nt=0 0\r\n"
			      "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

int bench_call_build(const struct bench_cfg *cfg, const struct bench_local *lo, unsigned thread, uint32_t slot,
		     uint32_t gen, uint32_t user, enum bench_call_req kind, uint32_t cseq, bool ack_2xx,
		     const struct bench_chal *chal, const struct bench_dialog *dlg, char *out, size_t cap)
{
	const char *name = cfg->users[user];
	const char *method = kind == BENCH_CALL_INVITE ? "INVITE" : kind == BENCH_CALL_ACK ? "ACK" : "BYE";
	bool in_dialog = kind == BENCH_CALL_BYE || (kind == BENCH_CALL_ACK && ack_2xx);
	char callee_uri[SW_MAX_USER + SW_MAX_DOMAIN + 8];
	char sdp[320];
	int sdp_len = 0;
	struct sip_buf b;

	snprintf(callee_uri, sizeof(callee_uri), "sip:%s@%s", cfg->callee, cfg->domain);
	if (kind == BENCH_CALL_INVITE) {
		char v = lo->v6 ? '6' : '4';

		sdp_len = snprintf(sdp, sizeof(sdp), sdp_fmt, v, lo->ip, v, lo->ip);
		if (sdp_len < 0 || (size_t)sdp_len >= sizeof(sdp))
			return -ENOSPC;
	}
	sip_buf_init(&b, out, cap);
	sip_buf_puts(&b, method);
	sip_buf_put(&b, " ", 1);
	if (in_dialog)
		sip_buf_put(&b, dlg->target, dlg->target_len);
	else
		sip_buf_puts(&b, callee_uri);
	sip_buf_puts(&b, " SIP/2.0\r\nVia: SIP/2.0/UDP ");
	bench_put_host(&b, lo);
	sip_buf_put(&b, ":", 1);
	sip_buf_u64(&b, lo->port);
	sip_buf_puts(&b, ";branch=z9hG4bK-");
	bench_put_id(&b, cfg, thread, slot, gen);
	sip_buf_put(&b, "-", 1);
	sip_buf_u64(&b, cseq);
	if (kind == BENCH_CALL_ACK && ack_2xx)
		sip_buf_put(&b, "a", 1); /* a 2xx ACK is a transaction of its own */
	sip_buf_puts(&b, ";rport\r\nMax-Forwards: 70\r\n");
	if (in_dialog)
		sip_buf_put(&b, dlg->route, dlg->route_len);
	sip_buf_puts(&b, "From: \"");
	sip_buf_puts(&b, name);
	sip_buf_puts(&b, "\" <sip:");
	sip_buf_puts(&b, name);
	sip_buf_put(&b, "@", 1);
	sip_buf_puts(&b, cfg->domain);
	sip_buf_puts(&b, ">;tag=");
	bench_put_id(&b, cfg, thread, slot, gen);
	sip_buf_puts(&b, "\r\nTo: <");
	sip_buf_puts(&b, callee_uri);
	sip_buf_put(&b, ">", 1);
	if (kind != BENCH_CALL_INVITE && dlg->tag_len) {
		sip_buf_puts(&b, ";tag=");
		sip_buf_put(&b, dlg->tag, dlg->tag_len);
	}
	sip_buf_puts(&b, "\r\nCall-ID: ");
	bench_put_id(&b, cfg, thread, slot, gen);
	sip_buf_put(&b, "@", 1);
	bench_put_host(&b, lo);
	sip_buf_puts(&b, "\r\nCSeq: ");
	sip_buf_u64(&b, cseq);
	sip_buf_put(&b, " ", 1);
	sip_buf_puts(&b, method);
	sip_buf_puts(&b, "\r\n");
	if (kind == BENCH_CALL_INVITE) {
		sip_buf_puts(&b, "Contact: <sip:");
		sip_buf_puts(&b, name);
		sip_buf_put(&b, "@", 1);
		bench_put_host(&b, lo);
		sip_buf_put(&b, ":", 1);
		sip_buf_u64(&b, lo->port);
		sip_buf_puts(&b, ">\r\n");
		if (cseq >= 2) {
			int rc = bench_put_auth(&b, cfg, "Proxy-Authorization", "INVITE", callee_uri, user, slot, gen,
						1, chal);

			if (rc)
				return rc;
		}
		sip_buf_puts(&b, "Content-Type: application/sdp\r\n");
	}
	sip_buf_puts(&b, "User-Agent: sipwarden-bench\r\nContent-Length: ");
	sip_buf_u64(&b, (uint64_t)sdp_len);
	sip_buf_puts(&b, "\r\n\r\n");
	if (sdp_len)
		sip_buf_put(&b, sdp, (size_t)sdp_len);
	if (b.overflow)
		return -ENOSPC;
	return (int)b.len;
}

int bench_dialog_take(const struct sip_msg *msg, bool is_2xx, struct bench_dialog *d)
{
	struct sip_addr rr[8];
	unsigned n = 0;
	struct sip_buf b;

	if (msg->to.tag.len > BENCH_MAX_TAG)
		return -EINVAL;
	d->tag_len = (uint8_t)msg->to.tag.len;
	memcpy(d->tag, msg->to.tag.p, msg->to.tag.len);
	d->target_len = 0;
	d->route_len = 0;
	if (!is_2xx)
		return 0;

	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTACT);
	struct sip_addr ct;

	if (!h || sip_addr_parse(&ct, h->value) || ct.star || ct.uri_str.len == 0 ||
	    ct.uri_str.len > BENCH_MAX_TARGET)
		return -EINVAL;
	d->target_len = (uint8_t)ct.uri_str.len;
	memcpy(d->target, ct.uri_str.p, ct.uri_str.len);
	for (h = sip_msg_hdr(msg, SIP_HDR_RECORD_ROUTE); h; h = sip_msg_hdr_next(msg, h)) {
		struct slice cur = h->value;
		int rc;

		while ((rc = sip_addr_list_next(&cur, &rr[n])) == 1)
			if (++n == sizeof(rr) / sizeof(rr[0]))
				return -EINVAL;
		if (rc < 0)
			return -EINVAL;
	}
	if (n == 0)
		return 0;
	sip_buf_init(&b, d->route, sizeof(d->route));
	sip_buf_puts(&b, "Route: ");
	for (unsigned i = n; i-- > 0;) {
		sip_buf_put(&b, "<", 1);
		sip_buf_slice(&b, rr[i].uri_str);
		sip_buf_put(&b, ">", 1);
		if (i)
			sip_buf_puts(&b, ", ");
	}
	sip_buf_puts(&b, "\r\n");
	if (b.overflow)
		return -EINVAL;
	d->route_len = (uint16_t)b.len;
	return 0;
}
