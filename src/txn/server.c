/* Server transactions (RFC 3261 §17.2): INVITE (Proceeding -> Completed with
 * timers G/H -> Confirmed with timer I; 2xx -> Accepted with timer L, RFC 6026)
 * and non-INVITE (Trying/Proceeding -> Completed with timer J). A
 * retransmitted request gets the last response again; the transaction never
 * passes a retransmission up. */
#include "txn/txn_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

#define SRV_OF(t, m) ((struct txn_server *)((char *)(t)-offsetof(struct txn_server, m)))

void txn_reply_dest(const struct tp_src *src, const struct sip_via *via, struct tp_src *out)
{
	*out = *src;
	/* RFC 3261 §18.2.2: over UDP without rport (RFC 3581) the reply goes to
	 * the source address and the port the top Via names (5060 by default). */
	if (src->proto == TP_UDP && via->protocol.len && !via->rport) {
		uint16_t port = via->port ? via->port : 5060;
		if (out->peer.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&out->peer)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&out->peer)->sin_port = htons(port);
	}
}

void txn_server_destroy(struct txn_server *st)
{
	struct txn_layer *tl = st->tl;

	txn_timer_stop(tl, &st->t_retx);
	txn_timer_stop(tl, &st->t_end);
	txn_server_unlink(tl, st);
	txn_settle(tl, &st->pending);
	if (st->user && tl->ops->on_gone)
		tl->ops->on_gone(st->user, true, st);
	free(st->last);
	free(st->req);
	free(st);
}

bool txn_server_answered(const struct txn_server *st)
{
	return st->last_len != 0;
}

void txn_server_discard(struct txn_server *st)
{
	txn_server_destroy(st);
}

static void on_end(struct txn_timer *t)
{
	txn_server_destroy(SRV_OF(t, t_end));
}

/* Timer G: retransmit the final non-2xx response, doubling up to T2. */
static void on_retx(struct txn_timer *t)
{
	struct txn_server *st = SRV_OF(t, t_retx);

	if (st->state != TXN_COMPLETED || !st->last_len)
		return;
	tp_send_reply(&st->dst, st->last, st->last_len);
	st->retx_ms = st->retx_ms * 2 > TXN_T2 ? TXN_T2 : st->retx_ms * 2;
	txn_timer_arm(st->tl, &st->t_retx, st->retx_ms, on_retx);
}

/* txn_server_new with the request's key (and its hash) already built. */
static int server_new(struct txn_server **out, struct txn_layer *tl, const struct sip_msg *req,
		      const struct tp_src *src, void *user, const char *key, uint16_t klen, uint64_t hash)
{
	/* The request copy is a block of its own: it is freed at the final
	 * response, while the record and key stay for the retransmission
	 * timers (up to 32 s), so a finished transaction holds ~0.5 KB. */
	struct txn_server *st = calloc(1, sizeof(*st) + klen);
	if (!st)
		return -ENOMEM;
	st->req = malloc(req->len + 1);
	if (!st->req) {
		free(st);
		return -ENOMEM;
	}
	st->tl = tl;
	st->method = req->method;
	st->state = req->method == SIP_INVITE ? TXN_PROCEEDING : TXN_TRYING;
	st->reliable = src->proto != TP_UDP;
	st->user = user;
	txn_reply_dest(src, &req->via1, &st->dst);
	memcpy(st->req, req->buf, req->len);
	st->req[req->len] = '\0';
	st->req_len = req->len;
	memcpy(st->key, key, klen);
	st->key_len = klen;
	st->link.hash = hash;
	txn_server_link(tl, st);
	st->pending = true;
	tl->npending++;
	/* A transaction nobody answers (a branch that never ends, a request
	 * left unanswered on purpose) still ends: past Timer C for INVITE,
	 * past Timer F for the others. */
	txn_timer_arm(tl, &st->t_end, req->method == SIP_INVITE ? 200000u : 64 * TXN_T1 + 8000u, on_end);
	*out = st;
	return 0;
}

int txn_server_trying(struct txn_server *st, const struct sip_msg *req)
{
	if (st->method != SIP_INVITE || st->state != TXN_PROCEEDING || st->last_len)
		return 0;
	return txn_server_reply_to(st, req, 100, "Trying", NULL, NULL);
}

/* The matching key of a request that may open a server transaction (never
 * ACK) and its hash. 0 or -EINVAL. */
static int request_key(const struct txn_layer *tl, const struct sip_msg *req, char key[TXN_KEY_MAX], uint16_t *klen,
		       uint64_t *hash)
{
	if (req->method == SIP_ACK || txn_server_key(req, req->method, key, klen))
		return -EINVAL;
	*hash = txn_key_hash(tl, key, *klen);
	return 0;
}

static bool absorb(struct txn_layer *tl, struct txn_server *st, const struct sip_msg *req);

/* txn_server_new, and txn_server_take when find is set: one key for the
 * match and the new transaction. */
static int open_keyed(struct txn_server **out, struct txn_layer *tl, const struct sip_msg *req,
		      const struct tp_src *src, void *user, bool find)
{
	char key[TXN_KEY_MAX];
	uint16_t klen;
	uint64_t hash;

	if (request_key(tl, req, key, &klen, &hash))
		return -EINVAL;
	if (find) {
		struct txn_server *st = txn_server_find_hashed(tl, key, klen, hash);
		if (st && absorb(tl, st, req))
			return 1;
	}
	return server_new(out, tl, req, src, user, key, klen, hash);
}

int txn_server_new(struct txn_server **out, struct txn_layer *tl, const struct sip_msg *req,
		   const struct tp_src *src, void *user)
{
	return open_keyed(out, tl, req, src, user, false);
}

struct txn_server *txn_server_match(struct txn_layer *tl, const struct sip_msg *req, enum sip_method method)
{
	char key[TXN_KEY_MAX];
	uint16_t klen;

	if (txn_server_key(req, method, key, &klen))
		return NULL;
	return txn_server_find(tl, key, klen);
}

/* What txn_server_absorb does once st matched req. */
static bool absorb(struct txn_layer *tl, struct txn_server *st, const struct sip_msg *req)
{
	if (req->method == SIP_ACK) {
		if (st->method != SIP_INVITE)
			return false;
		/* RFC 3261 §17.2.1: ACK for our non-2xx final: Confirmed, timer I. */
		if (st->state == TXN_COMPLETED) {
			st->state = TXN_CONFIRMED;
			/* Confirmed only absorbs ACKs: the response is not sent again. */
			free(st->last);
			st->last = NULL;
			st->last_len = st->last_cap = 0;
			txn_timer_stop(tl, &st->t_retx);
			txn_timer_arm(tl, &st->t_end, st->reliable ? 0 : TXN_T4, on_end);
			return true;
		}
		/* An ACK for a 2xx has another branch and never matches; an ACK
		 * with this branch in another state is a retransmission. */
		return st->state == TXN_CONFIRMED;
	}
	/* Retransmission: the last response again (§17.2.1, §17.2.2). In the
	 * Accepted state the 2xx is the UAS's business: absorb silently. */
	if (st->last_len && st->state != TXN_ACCEPTED)
		tp_send_reply(&st->dst, st->last, st->last_len);
	return true;
}

bool txn_server_absorb(struct txn_layer *tl, const struct sip_msg *req)
{
	struct txn_server *st = txn_server_match(tl, req, req->method);

	return st && absorb(tl, st, req);
}

int txn_server_take(struct txn_server **out, struct txn_layer *tl, const struct sip_msg *req,
		    const struct tp_src *src, void *user)
{
	return open_keyed(out, tl, req, src, user, true);
}

int txn_server_send(struct txn_server *st, int code, const char *buf, size_t len)
{
	struct txn_layer *tl = st->tl;

	if (st->state >= TXN_COMPLETED)
		return -EALREADY;
	/* A 2xx to INVITE is never resent from here (RFC 6026: its
	 * retransmissions come from the UAS), so it is not kept: the copy would
	 * sit idle through timer L. */
	bool keep = !(st->method == SIP_INVITE && code >= 200 && code < 300);
	if (!keep) {
		free(st->last);
		st->last = NULL;
		st->last_len = st->last_cap = 0;
	} else {
		if (len > st->last_cap) {
			char *p = realloc(st->last, len);
			if (!p)
				return -ENOMEM;
			st->last = p;
			st->last_cap = len;
		}
		memcpy(st->last, buf, len);
		st->last_len = len;
	}
	st->last_code = code;
	int err = tp_send_reply(&st->dst, buf, len);
	if (code < 200) {
		if (st->state == TXN_TRYING)
			st->state = TXN_PROCEEDING;
		return err;
	}
	txn_settle(tl, &st->pending);
	free(st->req); /* nothing is built from the request after the final response */
	st->req = NULL;
	st->req_len = 0;
	if (st->method == SIP_INVITE && code < 300) {
		/* RFC 6026 §8.7: Accepted; timer L absorbs INVITE retransmissions. */
		st->state = TXN_ACCEPTED;
		txn_timer_arm(tl, &st->t_end, 64 * TXN_T1, on_end);
	} else if (st->method == SIP_INVITE) {
		st->state = TXN_COMPLETED;
		if (!st->reliable) {
			st->retx_ms = TXN_T1;
			txn_timer_arm(tl, &st->t_retx, TXN_T1, on_retx);
		}
		txn_timer_arm(tl, &st->t_end, 64 * TXN_T1, on_end); /* H */
	} else {
		st->state = TXN_COMPLETED;
		txn_timer_arm(tl, &st->t_end, st->reliable ? 0 : 64 * TXN_T1, on_end); /* J */
	}
	return err;
}

/* Build and send a local response to req, a parse of st's request (the
 * reply goes into the first half of the layer's buffer, as ever). */
static int reply_from(struct txn_server *st, const struct sip_msg *req, int code, const char *reason,
		      const char *to_tag, const char *extra_hdrs)
{
	struct txn_layer *tl = st->tl;
	struct sip_src sipsrc;
	struct sip_buf out;

	tp_addr_text(&st->dst.peer, sipsrc.ip, sizeof(sipsrc.ip), &sipsrc.port);
	sip_buf_init(&out, tl->out, sizeof(tl->out) / 2);
	if (sip_reply_build(&out, req, code, reason, code > 100 ? to_tag : NULL, &sipsrc, extra_hdrs))
		return -ENOSPC;
	return txn_server_send(st, code, out.p, out.len);
}

int txn_reply_stateless(struct txn_layer *tl, const struct tp_src *src, const struct sip_msg *req, int code,
			const char *reason, const char *to_tag, const char *extra_hdrs)
{
	struct tp_src dst;
	struct sip_src sipsrc;
	struct sip_buf out;

	if (code < 200)
		return -EINVAL; /* §8.2.7: a stateless UAS sends no provisional response */
	txn_reply_dest(src, &req->via1, &dst);
	tp_addr_text(&src->peer, sipsrc.ip, sizeof(sipsrc.ip), &sipsrc.port);
	sip_buf_init(&out, tl->out, sizeof(tl->out) / 2);
	if (sip_reply_build(&out, req, code, reason, to_tag, &sipsrc, extra_hdrs))
		return -ENOSPC;
	return tp_send_reply(&dst, out.p, out.len);
}

int txn_server_reply(struct txn_server *st, int code, const char *reason, const char *to_tag, const char *extra_hdrs)
{
	struct txn_layer *tl = st->tl;
	struct sip_parse_err perr;

	if (st->state >= TXN_COMPLETED)
		return -EALREADY;
	/* The request copy is parsed again; scratch is the layer's. */
	char *copy = tl->out + sizeof(tl->out) / 2;
	if (st->req_len >= sizeof(tl->out) / 2)
		return -ENOSPC;
	memcpy(copy, st->req, st->req_len);
	if (sip_msg_parse(&tl->scratch, copy, st->req_len, &perr))
		return -EBADMSG;
	return reply_from(st, &tl->scratch, code, reason, to_tag, extra_hdrs);
}

bool txn_server_is_request(const struct txn_server *st, const struct sip_msg *req)
{
	return st->req && req->len == st->req_len && (req->buf == st->req || !memcmp(req->buf, st->req, st->req_len));
}

int txn_server_reply_to(struct txn_server *st, const struct sip_msg *req, int code, const char *reason,
			const char *to_tag, const char *extra_hdrs)
{
	if (!txn_server_is_request(st, req))
		return txn_server_reply(st, code, reason, to_tag, extra_hdrs);
	if (st->state >= TXN_COMPLETED)
		return -EALREADY;
	/* Same limit as a re-parsed copy has. */
	if (st->req_len >= sizeof(st->tl->out) / 2)
		return -ENOSPC;
	return reply_from(st, req, code, reason, to_tag, extra_hdrs);
}

int txn_server_request(struct txn_server *st, struct sip_msg *msg)
{
	struct sip_parse_err perr;
	if (!st->req)
		return -EBADMSG;
	return sip_msg_parse(msg, st->req, st->req_len, &perr) ? -EBADMSG : 0;
}

enum txn_state txn_server_state(const struct txn_server *st)
{
	return st->state;
}

enum sip_method txn_server_method(const struct txn_server *st)
{
	return st->method;
}

void txn_server_set_user(struct txn_server *st, void *user)
{
	st->user = user;
}

const struct tp_src *txn_server_src(const struct txn_server *st)
{
	return &st->dst;
}

void txn_server_detach(struct txn_server *st)
{
	st->user = NULL;
}

void *txn_server_user(const struct txn_server *st)
{
	return st->user;
}
