/* Outgoing requests of the UA (RFC 3261 §8.1.1, §10.2, §13.2.2.4, §17.1.1.3):
 * REGISTER, out-of-dialog requests, BYE, and the two kinds of ACK, built
 * into fixed buffers; plus the trace hook. */
#include "ua/ua_int.h"

#include <errno.h>
#include <string.h>

void ua_trace(struct sw_ua *ua, bool outgoing, const char *buf, size_t len)
{
	if (ua->trace)
		ua->trace(outgoing, buf, len, ua->trace_arg);
}

static void put_hostport(struct sip_buf *b, const char *ip, uint16_t port)
{
	if (strchr(ip, ':'))
		sip_buf_printf(b, "[%s]:%u", ip, port);
	else
		sip_buf_printf(b, "%s:%u", ip, port);
}

static const char *tp_name(const struct sw_ua *ua)
{
	return ua->transport == SW_UA_TLS ? "TLS" : ua->transport == SW_UA_TCP ? "TCP" : "UDP";
}

/* URI scheme of our AOR (RFC 3261 §19.1): sips: asks for TLS end to end. */
static const char *scheme(const struct sw_ua *ua)
{
	return ua->sips ? "sips" : "sip";
}

static void put_via(struct sw_ua *ua, struct sip_buf *b, const char *branch)
{
	sip_buf_printf(b, "Via: SIP/2.0/%s ", tp_name(ua));
	put_hostport(b, ua->local_ip, ua->local_port);
	/* RFC 3581: ask for the source port so replies cross NATs. */
	sip_buf_printf(b, ";branch=%s;rport\r\n", branch);
}

static void put_from(struct sw_ua *ua, struct sip_buf *b, const char *tag)
{
	sip_buf_puts(b, "From: ");
	if (ua->display[0])
		sip_buf_printf(b, "\"%s\" ", ua->display);
	sip_buf_printf(b, "<%s:%s@%s>;tag=%s\r\n", scheme(ua), ua->user, ua->domain, tag);
}

static void put_contact(struct sw_ua *ua, struct sip_buf *b)
{
	const char *tp = ua->transport == SW_UA_TLS ? ";transport=tls" : ua->transport == SW_UA_TCP ? ";transport=tcp" : "";

	sip_buf_printf(b, "Contact: <%s:%s@", scheme(ua), ua->user);
	put_hostport(b, ua->local_ip, ua->local_port);
	/* A sips: URI implies TLS; transport=tls is deprecated there (RFC 5630 §3.1.3). */
	sip_buf_printf(b, "%s>\r\n", ua->sips ? "" : tp);
}

/* The Request-URI the operation's request goes to. */
static const char *ruri(const struct sw_ua *ua)
{
	return ua->op.target;
}

int ua_msg_build(struct sw_ua *ua)
{
	struct ua_op *op = &ua->op;
	struct ua_txn *t = &ua->txn;
	struct sip_buf b;

	sip_buf_init(&b, t->out, sizeof(t->out) - 1);
	sip_buf_printf(&b, "%s %s SIP/2.0\r\n", op->method_name, ruri(ua));
	put_via(ua, &b, t->branch);
	sip_buf_puts(&b, "Max-Forwards: 70\r\n");
	if (op->in_dialog && op->dlg->route[0])
		sip_buf_printf(&b, "Route: %s\r\n", op->dlg->route);
	if (op->kind == UA_OP_REGISTER) {
		put_from(ua, &b, op->dlg->local_tag);
		sip_buf_printf(&b, "To: <%s:%s@%s>\r\n", scheme(ua), ua->user, ua->domain);
	} else {
		put_from(ua, &b, op->dlg->local_tag);
		sip_buf_printf(&b, "To: <%s>", op->in_dialog ? op->dlg->remote_uri : op->target);
		if (op->in_dialog && op->dlg->remote_tag[0])
			sip_buf_printf(&b, ";tag=%s", op->dlg->remote_tag);
		sip_buf_puts(&b, "\r\n");
	}
	sip_buf_printf(&b, "Call-ID: %s\r\n", op->dlg->call_id);
	sip_buf_printf(&b, "CSeq: %u %s\r\n", t->cseq, op->method_name);
	if (op->wildcard)
		sip_buf_puts(&b, "Contact: *\r\n"); /* RFC 3261 §10.2.2 */
	else if (op->kind == UA_OP_REGISTER || op->method == SIP_INVITE)
		put_contact(ua, &b);
	if (op->kind == UA_OP_REGISTER)
		sip_buf_printf(&b, "Expires: %u\r\n", op->expires);
	if (ua->security) {
		size_t before = b.len;

		ua_cred_put_auth(ua, &b, op->method_name, ruri(ua), op->body, op->body_len);
		op->sent_auth = b.len != before;
	}
	if (op->extra) {
		sip_buf_puts(&b, op->extra);
		op->sent_auth |= strcasestr(op->extra, "authorization:") != NULL;
	}
	if (ua->user_agent[0])
		sip_buf_printf(&b, "User-Agent: %s\r\n", ua->user_agent);
	if (op->body_len && op->ctype)
		sip_buf_printf(&b, "Content-Type: %s\r\n", op->ctype);
	sip_buf_printf(&b, "Content-Length: %zu\r\n\r\n", op->body_len);
	if (op->body_len)
		sip_buf_put(&b, op->body, op->body_len);
	if (b.overflow)
		return -ENOSPC;
	t->len = b.len;
	t->out[t->len] = '\0';
	return 0;
}

int ua_msg_ack(struct sw_ua *ua, const struct sip_msg *resp, char *out, size_t cap, size_t *len)
{
	bool ok = resp->status >= 200 && resp->status < 300;
	char branch[48];
	struct sip_buf b;

	/* §17.1.1.3: the ACK of a non-2xx reuses the INVITE's branch and URI;
	 * §13.2.2.4: the ACK of a 2xx is a new transaction to the remote target. */
	if (ok) {
		strcpy(branch, "z9hG4bK");
		ua_rand_hex(branch + 7, 12);
	} else {
		memcpy(branch, ua->txn.branch, sizeof(branch));
	}
	sip_buf_init(&b, out, cap);
	sip_buf_printf(&b, "ACK %s SIP/2.0\r\n",
		       ok && ua->dlg.remote_target[0] ? ua->dlg.remote_target : ua->op.target);
	put_via(ua, &b, branch);
	sip_buf_puts(&b, "Max-Forwards: 70\r\n");
	if (ok && ua->dlg.route[0])
		sip_buf_printf(&b, "Route: %s\r\n", ua->dlg.route);
	put_from(ua, &b, ua->dlg.local_tag);
	sip_buf_puts(&b, "To: ");
	sip_buf_slice(&b, slice_from(resp->hdrs[resp->first[SIP_HDR_TO]].value.p,
				     resp->hdrs[resp->first[SIP_HDR_TO]].value.len));
	sip_buf_printf(&b, "\r\nCall-ID: %s\r\nCSeq: %u ACK\r\nContent-Length: 0\r\n\r\n", ua->dlg.call_id,
		       ua->txn.cseq);
	if (b.overflow)
		return -ENOSPC;
	*len = b.len;
	return 0;
}
