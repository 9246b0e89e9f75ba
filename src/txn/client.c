/* Client transactions (RFC 3261 §17.1): INVITE (Calling with timers A/B ->
 * Proceeding -> Completed with timer D after the hop-by-hop ACK of a non-2xx;
 * 2xx -> Accepted with timer M, RFC 6026) and non-INVITE (Trying/Proceeding
 * with timers E/F -> Completed with timer K). Also CANCEL (§9.1) and a
 * Timer C (§16.8) that gives up on a branch ringing for three minutes. */
#include "txn/txn_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define CLI_OF(t, m) ((struct txn_client *)((char *)(t)-offsetof(struct txn_client, m)))
#define TXN_TIMER_C_MS 180000u

void txn_client_destroy(struct txn_client *ct)
{
	struct txn_layer *tl = ct->tl;

	txn_timer_stop(tl, &ct->t_retx);
	txn_timer_stop(tl, &ct->t_end);
	txn_client_unlink(tl, ct);
	txn_settle(tl, &ct->pending);
	if (ct->user && tl->ops->on_gone)
		tl->ops->on_gone(ct->user, false, ct);
	free(ct->ack);
	free(ct->req);
	free(ct);
}

static void send_req(struct txn_client *ct)
{
	if (!ct->req)
		return;
	int err = tp_send_dest(ct->tl->w, &ct->dst, ct->req, ct->req_len);
	if (err)
		LOG_DBG("txn %s: send failed: %s", ct->branch, strerror(-err));
}

static void on_end(struct txn_timer *t)
{
	txn_client_destroy(CLI_OF(t, t_end));
}

static int send_cancel(struct txn_client *ct);

/* Timer B, F or C: no final response. */
static void on_timeout(struct txn_timer *t)
{
	struct txn_client *ct = CLI_OF(t, t_end);
	struct txn_layer *tl = ct->tl;

	if (ct->method == SIP_INVITE && ct->state == TXN_PROCEEDING && !ct->cancelled)
		send_cancel(ct); /* Timer C (§16.8): stop the ringing branch */
	ct->state = TXN_TERMINATED;
	if (ct->user && tl->ops->on_timeout)
		tl->ops->on_timeout(ct, ct->user);
	txn_client_destroy(ct);
}

/* Timers A and E. */
static void on_retx(struct txn_timer *t)
{
	struct txn_client *ct = CLI_OF(t, t_retx);

	if (ct->state != TXN_CALLING && ct->state != TXN_TRYING && ct->state != TXN_PROCEEDING)
		return;
	if (ct->method == SIP_INVITE && ct->state != TXN_CALLING)
		return;
	send_req(ct);
	if (ct->method == SIP_INVITE)
		ct->retx_ms *= 2;
	else
		ct->retx_ms = ct->state == TXN_PROCEEDING || ct->retx_ms * 2 > TXN_T2 ? TXN_T2 : ct->retx_ms * 2;
	txn_timer_arm(ct->tl, &ct->t_retx, ct->retx_ms, on_retx);
}

int txn_client_new(struct txn_client **out, struct txn_layer *tl, enum sip_method method, const char *branch,
		   const struct sockaddr_storage *dst, const char *req, size_t len, void *user)
{
	struct tp_dest d = { .proto = TP_UDP, .addr = *dst };

	return txn_client_start(out, tl, method, branch, &d, req, len, user);
}

int txn_client_start(struct txn_client **out, struct txn_layer *tl, enum sip_method method, const char *branch,
		     const struct tp_dest *dst, const char *req, size_t len, void *user)
{
	if (strlen(branch) >= sizeof(((struct txn_client *)0)->branch))
		return -EINVAL;
	struct txn_client *ct = calloc(1, sizeof(*ct));
	if (!ct)
		return -ENOMEM;
	ct->req = malloc(len + 1);
	if (!ct->req) {
		free(ct);
		return -ENOMEM;
	}
	ct->tl = tl;
	ct->method = method;
	ct->state = method == SIP_INVITE ? TXN_CALLING : TXN_TRYING;
	ct->user = user;
	ct->dst = *dst;
	ct->reliable = dst->proto != TP_UDP;
	strcpy(ct->branch, branch);
	memcpy(ct->req, req, len);
	ct->req[len] = '\0';
	ct->req_len = len;
	int err = tp_send_dest(tl->w, dst, req, len);
	if (err) {
		free(ct->req);
		free(ct);
		return err;
	}
	txn_client_link(tl, ct);
	ct->pending = true;
	tl->npending++;
	ct->retx_ms = TXN_T1;
	if (!ct->reliable)
		txn_timer_arm(tl, &ct->t_retx, TXN_T1, on_retx);
	txn_timer_arm(tl, &ct->t_end, 64 * TXN_T1, on_timeout);
	*out = ct;
	return 0;
}

/* Copy every header with id from msg as "Name: value" lines. */
static void copy_hdrs(struct sip_buf *b, const struct sip_msg *msg, enum sip_hdr_id id)
{
	for (const struct sip_hdr *h = sip_msg_hdr(msg, id); h; h = sip_msg_hdr_next(msg, h)) {
		sip_buf_slice(b, h->name);
		sip_buf_puts(b, ": ");
		sip_buf_slice(b, h->value);
		sip_buf_puts(b, "\r\n");
	}
}

/* ACK (§17.1.1.3) or CANCEL (§9.1) for ct's request: same Request-URI, top
 * Via, Route, From, Call-ID and CSeq number; To from rsp (ACK) or the request. */
static int build_ack_cancel(struct txn_client *ct, const struct sip_msg *rsp, bool ack, struct sip_buf *b)
{
	struct txn_layer *tl = ct->tl;
	struct sip_parse_err perr;
	char *copy = tl->out + sizeof(tl->out) / 2;

	if (!ct->req)
		return -EINVAL; /* after the final response */
	if (ct->req_len >= sizeof(tl->out) / 2)
		return -ENOSPC;
	memcpy(copy, ct->req, ct->req_len);
	if (sip_msg_parse(&tl->scratch, copy, ct->req_len, &perr))
		return -EBADMSG;
	const struct sip_msg *req = &tl->scratch;
	const struct sip_hdr *to = sip_msg_hdr(ack ? rsp : req, SIP_HDR_TO);
	const struct sip_hdr *from = sip_msg_hdr(req, SIP_HDR_FROM);
	if (!to || !from)
		return -EBADMSG;
	sip_buf_init(b, tl->out, sizeof(tl->out) / 2);
	sip_buf_printf(b, "%s %.*s SIP/2.0\r\nVia: %.*s\r\n", ack ? "ACK" : "CANCEL", (int)req->ruri_str.len,
		       req->ruri_str.p, (int)req->via1.text.len, req->via1.text.p);
	copy_hdrs(b, req, SIP_HDR_ROUTE);
	sip_buf_puts(b, "Max-Forwards: 70\r\nFrom: ");
	sip_buf_slice(b, from->value);
	sip_buf_puts(b, "\r\nTo: ");
	sip_buf_slice(b, to->value);
	sip_buf_printf(b, "\r\nCall-ID: %.*s\r\nCSeq: %u %s\r\nContent-Length: 0\r\n\r\n", (int)req->call_id.len,
		       req->call_id.p, req->cseq, ack ? "ACK" : "CANCEL");
	return b->overflow ? -ENOSPC : 0;
}

static int send_cancel(struct txn_client *ct)
{
	struct sip_buf b;
	struct txn_client *cc;

	ct->cancelled = true;
	ct->cancel_pending = false;
	int err = build_ack_cancel(ct, NULL, false, &b);
	if (!err)
		err = txn_client_start(&cc, ct->tl, SIP_CANCEL, ct->branch, &ct->dst, b.p, b.len, NULL);
	if (err)
		LOG_DBG("txn %s: CANCEL not sent: %s", ct->branch, strerror(-err));
	return err;
}

int txn_client_cancel(struct txn_client *ct)
{
	if (ct->method != SIP_INVITE || ct->cancelled)
		return 0;
	if (ct->state == TXN_CALLING) {
		ct->cancel_pending = true;
		return 0;
	}
	if (ct->state != TXN_PROCEEDING)
		return 0;
	return send_cancel(ct);
}

/* After the final response nothing is sent or built from the request again
 * (no retransmission, no CANCEL; the ACK for a non-2xx is built first), so
 * the copy goes instead of waiting out timer D, K or M. */
static void drop_request(struct txn_client *ct)
{
	free(ct->req);
	ct->req = NULL;
	ct->req_len = 0;
}

static void report(struct txn_client *ct, const struct sip_msg *rsp)
{
	if (ct->user && ct->tl->ops->on_response)
		ct->tl->ops->on_response(ct, rsp, ct->user);
}

bool txn_client_response(struct txn_layer *tl, const struct sip_msg *rsp)
{
	struct txn_client *ct = txn_client_find(tl, rsp->via1.branch, rsp->cseq_method);
	int code = rsp->status;

	if (!ct)
		return false;
	ct->last_code = code;
	if (code < 200) {
		if (ct->state == TXN_CALLING || ct->state == TXN_TRYING) {
			ct->state = TXN_PROCEEDING;
			if (ct->method == SIP_INVITE) {
				txn_timer_stop(tl, &ct->t_retx);
				txn_timer_arm(tl, &ct->t_end, TXN_TIMER_C_MS, on_timeout);
			} else {
				ct->retx_ms = TXN_T2;
			}
		}
		if (ct->state == TXN_PROCEEDING) {
			if (ct->cancel_pending)
				send_cancel(ct);
			report(ct, rsp);
		}
		return true;
	}
	txn_timer_stop(tl, &ct->t_retx);
	txn_settle(tl, &ct->pending);
	if (ct->method != SIP_INVITE) {
		if (ct->state == TXN_COMPLETED)
			return true; /* retransmission */
		ct->state = TXN_COMPLETED;
		drop_request(ct);
		txn_timer_arm(tl, &ct->t_end, ct->reliable ? 0 : TXN_T4, on_end); /* K */
		report(ct, rsp);
		return true;
	}
	if (code < 300) {
		/* RFC 6026 §8.4: Accepted; every 2xx goes up (the ACK is end-to-end). */
		if (ct->state != TXN_ACCEPTED) {
			ct->state = TXN_ACCEPTED;
			drop_request(ct);
			txn_timer_arm(tl, &ct->t_end, 64 * TXN_T1, on_end); /* M */
		}
		report(ct, rsp);
		return true;
	}
	if (ct->state == TXN_COMPLETED) {
		/* §17.1.1.2: a retransmitted final gets the same ACK again. */
		if (ct->ack)
			tp_send_dest(tl->w, &ct->dst, ct->ack, ct->ack_len);
		return true;
	}
	if (ct->state == TXN_ACCEPTED)
		return true;
	struct sip_buf b;
	if (build_ack_cancel(ct, rsp, true, &b) == 0) {
		ct->ack = malloc(b.len);
		if (ct->ack) {
			memcpy(ct->ack, b.p, b.len);
			ct->ack_len = b.len;
		}
		tp_send_dest(tl->w, &ct->dst, b.p, b.len);
	}
	ct->state = TXN_COMPLETED;
	drop_request(ct);
	txn_timer_arm(tl, &ct->t_end, ct->reliable ? 0 : 32000, on_end); /* D */
	report(ct, rsp);
	return true;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
	const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
	return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

void txn_client_transport_error(struct txn_layer *tl, enum tp_proto proto, const struct sockaddr_storage *peer)
{
	for (unsigned i = 0; i < txn_chains_heads(&tl->clients); i++) {
		for (struct txn_link *l = txn_chains_head(&tl->clients, i); l; l = l->next) {
			struct txn_client *ct = (struct txn_client *)l;
			if (ct->dst.proto != proto || !same_addr(&ct->dst.addr, peer) ||
			    (ct->state != TXN_CALLING && ct->state != TXN_TRYING))
				continue;
			LOG_DBG("txn %s: transport failed", ct->branch);
			txn_timer_stop(tl, &ct->t_retx);
			txn_timer_arm(tl, &ct->t_end, 0, on_timeout);
		}
	}
}

enum txn_state txn_client_state(const struct txn_client *ct)
{
	return ct->state;
}

void *txn_client_user(const struct txn_client *ct)
{
	return ct->user;
}

void txn_client_detach(struct txn_client *ct)
{
	ct->user = NULL;
}
