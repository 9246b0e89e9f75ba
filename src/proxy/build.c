/* Building what a proxy sends (RFC 3261 §16.6, §16.7 step 3): the request
 * copy for one branch (new Request-URI, our Via on top, Max-Forwards - 1,
 * Record-Route with our token, our Route entry removed, our realm's
 * Proxy-Authorization consumed, From and identity headers rewritten), and a
 * response with our Via removed. Headers are copied as slices: nothing is allocated. */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/* "Name: value\r\n". When the message already holds exactly these bytes
 * (one space after the colon, CRLF after the value) they go in one copy. */
static void put_hdr(struct sip_buf *b, const struct sip_msg *msg, const struct sip_hdr *h)
{
	const char *end = msg->buf + msg->len;
	const char *colon = h->name.p + h->name.len;

	if (h->value.p == colon + 2 && colon[0] == ':' && colon[1] == ' ' &&
	    end - (h->value.p + h->value.len) >= 2 && h->value.p[h->value.len] == '\r' &&
	    h->value.p[h->value.len + 1] == '\n') {
		sip_buf_put(b, h->name.p, h->name.len + 2 + h->value.len + 2);
		return;
	}
	sip_buf_slice(b, h->name);
	sip_buf_put(b, ": ", 2);
	sip_buf_slice(b, h->value);
	sip_buf_put(b, "\r\n", 2);
}

/* "IP:PORT" of a listen address, IPv6 in brackets: the part of its text
 * after "proto:" (tp_listen_parse writes it in that form), else printed. */
static void put_hostport(struct sip_buf *b, const struct tp_listen *l)
{
	const char *hp = l->text[0] ? strchr(l->text, ':') : NULL;
	char ip[64];
	uint16_t port;

	if (hp) {
		sip_buf_puts(b, hp + 1);
		return;
	}
	tp_addr_text(&l->addr, ip, sizeof(ip), &port);
	if (l->addr.ss_family == AF_INET6) {
		SIP_BUF_LIT(b, "[");
		sip_buf_puts(b, ip);
		SIP_BUF_LIT(b, "]:");
	} else {
		sip_buf_puts(b, ip);
		SIP_BUF_LIT(b, ":");
	}
	sip_buf_u64(b, port);
}

static bool is_consumed(const struct sip_hdr *h, const char *realm)
{
	struct sip_digest_cred c;

	if (!realm || sip_digest_cred_parse(&c, h->value))
		return false;
	return slice_caseeq_cstr(c.realm, realm);
}

/* One Record-Route line naming l (RFC 3261 §16.6 step 4, loose routing):
 * sips: for TLS, ;transport=tcp for TCP, nothing for UDP; then our token
 * (rrtoken.c) when there is one. */
static void put_rr(struct sip_buf *b, const struct tp_listen *l, const char *token)
{
	sip_buf_puts(b, l->proto == TP_TLS ? "Record-Route: <sips:" : "Record-Route: <sip:");
	put_hostport(b, l);
	sip_buf_puts(b, l->proto == TP_TCP ? ";transport=tcp;lr" : ";lr");
	if (token[0]) {
		SIP_BUF_LIT(b, ";" PROXY_RR_PARAM "=");
		sip_buf_puts(b, token);
	}
	SIP_BUF_LIT(b, ">\r\n");
}

static bool same_listen(const struct tp_listen *a, const struct tp_listen *b)
{
	return a->proto == b->proto && a->addrlen == b->addrlen && !memcmp(&a->addr, &b->addr, a->addrlen);
}

static struct slice skip_separators(struct slice cur)
{
	while (cur.len && (cur.p[0] == ',' || cur.p[0] == ' ' || cur.p[0] == '\t')) {
		cur.p++;
		cur.len--;
	}
	return cur;
}

/* What is left of a Route header, if anything. */
static void put_route_left(struct sip_buf *b, struct slice cur)
{
	if (cur.len) {
		SIP_BUF_LIT(b, "Route: ");
		sip_buf_slice(b, cur);
		SIP_BUF_LIT(b, "\r\n");
	}
}

/* The Route header h without its first *skip entries (those are counted
 * down); nothing when every entry goes. */
static void put_route_rest(struct sip_buf *b, const struct sip_hdr *h, unsigned *skip)
{
	struct slice cur = h->value;
	struct sip_addr a;

	while (*skip && sip_addr_list_next(&cur, &a) == 1) {
		(*skip)--;
		cur = skip_separators(cur);
	}
	put_route_left(b, cur);
}

int proxy_build_request(struct sip_buf *b, const struct sip_msg *msg, const struct proxy_fwd *f)
{
	bool mf_seen = false;
	unsigned to_pop = f->pop_routes;

	sip_buf_slice(b, msg->method_name);
	SIP_BUF_LIT(b, " ");
	sip_buf_slice(b, f->ruri.len ? f->ruri : msg->ruri_str);
	/* RFC 3261 §18.1.1: Via names the transport the request leaves on. */
	sip_buf_puts(b, f->via_lst->proto == TP_TLS ? " SIP/2.0\r\nVia: SIP/2.0/TLS "
			: f->via_lst->proto == TP_TCP ? " SIP/2.0\r\nVia: SIP/2.0/TCP "
						       : " SIP/2.0\r\nVia: SIP/2.0/UDP ");
	put_hostport(b, f->via_lst);
	SIP_BUF_LIT(b, ";branch=");
	sip_buf_puts(b, f->branch);
	SIP_BUF_LIT(b, "\r\n");
	bool rr_done = !f->record_route;
	for (unsigned i = 0; i < msg->nhdrs; i++) {
		const struct sip_hdr *h = &msg->hdrs[i];
		if (!rr_done && (h->id == SIP_HDR_RECORD_ROUTE || i + 1 == msg->nhdrs)) {
			/* RFC 3261 §16.6 step 4: loose-routing Record-Route, topmost;
			 * after the Vias so they stay together. RFC 5658 §4: when the
			 * request changes interface or transport here, one entry per
			 * side: the outgoing one on top (the callee's first Route),
			 * the incoming one below it (the caller's first Route). */
			put_rr(b, f->via_lst, f->rr_token);
			if (f->rr_in && !same_listen(f->rr_in, f->via_lst))
				put_rr(b, f->rr_in, f->rr_token);
			rr_done = true;
		}
		switch (h->id) {
		case SIP_HDR_MAX_FORWARDS:
			/* RFC 3261 §16.6 step 3 */
			mf_seen = true;
			SIP_BUF_LIT(b, "Max-Forwards: ");
			sip_buf_i64(b, msg->max_forwards > 0 ? msg->max_forwards - 1 : 0);
			SIP_BUF_LIT(b, "\r\n");
			continue;
		case SIP_HDR_ROUTE:
			if (to_pop == 1 && h == f->pop_hdr) {
				/* The one entry to drop is known to end at pop_rest. */
				put_route_left(b, skip_separators(f->pop_rest));
				to_pop = 0;
				continue;
			}
			if (to_pop) {
				/* RFC 3261 §16.4: drop only our own entries. */
				put_route_rest(b, h, &to_pop);
				continue;
			}
			break;
		case SIP_HDR_PROXY_AUTHORIZATION:
			/* seed 001 consume_credentials(): ours go no further. */
			if (h == f->consumed_hdr || is_consumed(h, f->consume_realm))
				continue;
			break;
		case SIP_HDR_FROM:
			if (f->from_value) {
				SIP_BUF_LIT(b, "From: ");
				sip_buf_puts(b, f->from_value);
				sip_buf_slice(b, msg->from.params); /* the tag stays */
				SIP_BUF_LIT(b, "\r\n");
				continue;
			}
			break;
		case SIP_HDR_P_ASSERTED_IDENTITY:
			if (f->strip_identity || f->pai)
				continue;
			break;
		default:
			if (f->strip_identity && h->id == SIP_HDR_OTHER &&
			    slice_caseeq_cstr(h->name, "P-Preferred-Identity"))
				continue;
			break;
		}
		put_hdr(b, msg, h);
	}
	if (!mf_seen)
		SIP_BUF_LIT(b, "Max-Forwards: 70\r\n");
	if (f->pai) {
		SIP_BUF_LIT(b, "P-Asserted-Identity: ");
		sip_buf_puts(b, f->pai);
		SIP_BUF_LIT(b, "\r\n");
	}
	SIP_BUF_LIT(b, "\r\n");
	sip_buf_slice(b, msg->body);
	return b->overflow ? -ENOSPC : 0;
}

int proxy_build_response(struct sip_buf *b, const struct sip_msg *rsp)
{
	bool via_done = false;

	SIP_BUF_LIT(b, "SIP/2.0 ");
	sip_buf_i64(b, rsp->status);
	SIP_BUF_LIT(b, " ");
	sip_buf_slice(b, rsp->reason);
	SIP_BUF_LIT(b, "\r\n");
	for (unsigned i = 0; i < rsp->nhdrs; i++) {
		const struct sip_hdr *h = &rsp->hdrs[i];
		if (h->id == SIP_HDR_VIA && !via_done) {
			struct sip_via v;
			struct slice rest;
			via_done = true;
			if (sip_via_parse(&v, h->value, &rest))
				return -EBADMSG;
			while (rest.len && (rest.p[0] == ',' || rest.p[0] == ' ' || rest.p[0] == '\t')) {
				rest.p++;
				rest.len--;
			}
			if (rest.len) {
				sip_buf_slice(b, h->name);
				SIP_BUF_LIT(b, ": ");
				sip_buf_slice(b, rest);
				SIP_BUF_LIT(b, "\r\n");
			}
			continue;
		}
		put_hdr(b, rsp, h);
	}
	SIP_BUF_LIT(b, "\r\n");
	sip_buf_slice(b, rsp->body);
	return b->overflow ? -ENOSPC : 0;
}
