/* Request dispatch for the daemon. A new request that waited in its socket's
 * receive queue (UDP, TCP or TLS: tp_src.queued_ms) past [server]
 * overload_delay_ms is shed first: 503 + Retry-After, built from the parsed
 * headers alone (no auth, no database); ACK, CANCEL, in-dialog
 * requests and retransmissions (reply cache, server transactions) are never
 * shed. Then checks run in RFC order: syntax (400/505),
 * Request-URI scheme (416), Max-Forwards (483) and Require (420) for what would
 * be forwarded, then REGISTER -> registrar, OPTIONS to the server -> 200, the
 * methods a proxy relays (and every ACK) -> proxy (RFC 3261 §16), anything else
 * -> 501. Responses go to the proxy's client transactions, never answered. */
#include "app/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/log.h"
#include "base/overload.h"
#include "base/util.h"
#include "txn/txn.h"

#define ALLOW_HDR                                                                                 \
	"Allow: REGISTER, INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY, REFER, INFO, "  \
	"UPDATE, PRACK\r\n"

struct worker_ctx {
	struct store *store;
	struct auth_credcache *creds;   /**< this worker's credential cache, NULL when off */
	struct proxy_worker *proxy;
	struct txn_reply_cache *rcache; /**< final answers to REGISTER, for retransmissions */
	uint64_t cache_key;             /**< non-zero: remember the final reply sent for it */
	/* The registrar's answer being sent, while it is: lets a kept 200 leave
	 * its Contact lines out (registrar_answer_keep). */
	const struct registrar_reply *reg_rep;
	struct overload ovl;            /**< shedding state of this worker */
	struct sip_msg msg;
	char out[SW_MAX_MSG_SIZE];
	char hdrs[16384];
};

int daemon_on_thread(struct tp_worker *w, unsigned index, bool starting, void *arg)
{
	struct daemon *d = arg;

	if (starting) {
		struct worker_ctx *ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return -1;
		int err = store_open(&ctx->store, d->cfg->db_url);
		if (err) {
			char shown[256];

			LOG_ERR("worker %u: cannot open %s: %s", index,
				store_url_redact(d->cfg->db_url, shown, sizeof(shown)), strerror(-err));
			free(ctx);
			return -1;
		}
		err = txn_reply_cache_new(&ctx->rcache);
		if (!err)
			err = auth_credcache_new(&ctx->creds, d->auth.cfg.cred_cache_size, d->auth.cfg.cred_cache_ttl_s);
		if (!err)
			err = proxy_worker_new(&ctx->proxy, &d->proxy, w, ctx->store, ctx->creds);
		if (err) {
			auth_credcache_free(ctx->creds);
			txn_reply_cache_free(ctx->rcache);
			LOG_ERR("worker %u: cannot start the proxy: %s", index, strerror(-err));
			store_close(ctx->store);
			free(ctx);
			return -1;
		}
		/* One read transaction per batch of requests (daemon_on_idle ends it). */
		store_share_snapshot(ctx->store, true);
		overload_init(&ctx->ovl, d->cfg->overload_delay_ms, index);
		tp_worker_set_data(w, ctx);
		return 0;
	}
	struct worker_ctx *ctx = tp_worker_data(w);
	if (ctx) {
		overload_tick(&ctx->ovl, UINT64_MAX / 2); /* an open episode gets its closing line */
		proxy_worker_free(ctx->proxy);
		txn_reply_cache_free(ctx->rcache);
		auth_credcache_free(ctx->creds); /* wipes the cached secrets */
		store_close(ctx->store);
		free(ctx);
		tp_worker_set_data(w, NULL);
	}
	return 0;
}

void daemon_on_idle(struct tp_worker *w, void *arg)
{
	struct worker_ctx *ctx = tp_worker_data(w);

	(void)arg;
	if (ctx)
		store_release_snapshot(ctx->store);
}

/* Stateless To tag: the same request (and its retransmissions) gets the same tag. */
static void make_to_tag(const struct sip_msg *msg, char *out)
{
	uint64_t h = base_hash_words(msg->call_id.p, msg->call_id.len);
	h ^= base_hash_words(msg->from.tag.p, msg->from.tag.len) * 31u;
	h ^= base_hash_words(msg->via1.branch.p, msg->via1.branch.len) * 131u;
	for (int i = 15; i >= 0; i--, h >>= 4)
		out[i] = "0123456789abcdef"[h & 15];
	out[16] = '\0';
}

/* Send a built response where RFC 3261 §18.2.2 says: over UDP without rport
 * (RFC 3581) to the source address and the port the top Via names (5060 by
 * default); otherwise back to the source / on the same connection. */
static void send_bytes(struct worker_ctx *ctx, const struct tp_src *src, int code, const char *buf, size_t len)
{
	struct tp_src dst = *src;
	const struct sip_via *via = &ctx->msg.via1;

	if (src->proto == TP_UDP && via->protocol.len && !via->rport) {
		uint16_t port = via->port ? via->port : 5060;
		if (dst.peer.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&dst.peer)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&dst.peer)->sin_port = htons(port);
	}
	int err = tp_send_reply(&dst, buf, len);
	if (err)
		LOG_DBG("reply %d not sent: %s", code, strerror(-err));
}

static void send_reply(struct worker_ctx *ctx, const struct tp_src *src, const struct sip_src *sipsrc, int code,
		       const char *reason, const char *extra)
{
	struct sip_buf out;
	char tag[20];

	make_to_tag(&ctx->msg, tag);
	sip_buf_init(&out, ctx->out, sizeof(ctx->out));
	if (sip_reply_build(&out, &ctx->msg, code, reason, tag, sipsrc, extra)) {
		LOG_WARN("reply %d too large to build; dropped", code);
		return;
	}
	if (ctx->cache_key && code >= 200)
		registrar_answer_keep(ctx->rcache, ctx->cache_key, base_mono_ms(), out.p, out.len, ctx->reg_rep);
	send_bytes(ctx, src, code, out.p, out.len);
}

/* Option-tags this server supports in Require (none yet). */
static bool require_ok(const struct sip_msg *msg, struct sip_buf *hdrs)
{
	bool ok = true;

	for (const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_REQUIRE); h; h = sip_msg_hdr_next(msg, h)) {
		struct slice v = slice_trim(h->value);
		if (v.len == 0)
			continue;
		if (ok)
			sip_buf_puts(hdrs, "Unsupported: ");
		else
			sip_buf_puts(hdrs, ", ");
		sip_buf_slice(hdrs, v);
		ok = false;
	}
	if (!ok)
		sip_buf_puts(hdrs, "\r\n");
	return ok;
}

void daemon_on_tick(struct tp_worker *w, void *arg)
{
	struct worker_ctx *ctx = tp_worker_data(w);

	(void)arg;
	if (ctx)
		overload_tick(&ctx->ovl, base_mono_ms());
}

void daemon_on_conn_fail(struct tp_worker *w, enum tp_proto proto, const struct sockaddr_storage *peer, void *arg)
{
	struct worker_ctx *ctx = tp_worker_data(w);

	(void)arg;
	if (ctx && ctx->proxy)
		proxy_on_conn_fail(ctx->proxy, proto, peer);
}

/* Shed msg when it is a new request that queued too long: answer 503 with
 * Retry-After, or absorb it when it retransmits something already answered.
 * true when msg was dealt with here. ACK (handled before), CANCEL and
 * in-dialog requests always go on: they end or continue work already paid for. */
/* The source address as text (received= of local replies, the registrar,
 * logs), made when first asked for: responses and the requests the proxy
 * takes never need it. */
struct lazy_src {
	const struct tp_src *src;
	bool done;
	struct sip_src text;
};

static const struct sip_src *src_text(struct lazy_src *l)
{
	if (!l->done) {
		tp_addr_text(&l->src->peer, l->text.ip, sizeof(l->text.ip), &l->text.port);
		l->done = true;
	}
	return &l->text;
}

/* A REGISTER with credentials whose answer is cached (a retransmission): the
 * answer goes out again, true. Only answers to credentials are kept (a
 * retransmitted unauthenticated REGISTER may as well get a fresh challenge),
 * so other REGISTERs are not looked up. *key, when given, gets the request's
 * cache key, 0 without credentials. */
static bool resend_cached_answer(struct worker_ctx *ctx, struct registrar *reg, const struct tp_src *src,
				 const struct sip_msg *msg, uint64_t *key)
{
	size_t len = 0;
	uint64_t k = 0;

	if (sip_msg_hdr(msg, SIP_HDR_AUTHORIZATION)) {
		k = txn_reply_cache_key(ctx->rcache, msg->buf, msg->len, src);
		len = registrar_answer_again(reg, ctx->rcache, k, base_mono_ms(), base_wall_s(), ctx->out,
					     sizeof(ctx->out));
	}
	if (key)
		*key = k;
	if (!len)
		return false;
	send_bytes(ctx, src, 0, ctx->out, len);
	return true;
}

static bool shed_if_overloaded(struct worker_ctx *ctx, struct registrar *reg, const struct tp_src *src,
			       struct lazy_src *txt)
{
	struct sip_msg *msg = &ctx->msg;

	if (!overload_exceeded(&ctx->ovl, src->queued_ms) || msg->method == SIP_CANCEL || msg->to.tag.len)
		return false;
	if (msg->method == SIP_REGISTER) {
		if (resend_cached_answer(ctx, reg, src, msg, NULL))
			return true;
	} else if (proxy_absorb(ctx->proxy, msg)) {
		return true;
	}
	overload_note_shed(&ctx->ovl, src->queued_ms, base_mono_ms());
	char extra[40];
	snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", (unsigned)SW_OVERLOAD_RETRY_AFTER_S);
	send_reply(ctx, src, src_text(txt), 503, "Service Unavailable", extra);
	return true;
}

void daemon_on_msg(const struct tp_src *src, char *buf, size_t len, void *arg)
{
	struct daemon *d = arg;
	struct worker_ctx *ctx = tp_worker_data(src->worker);
	struct sip_parse_err perr = { 0 };
	struct lazy_src txt = { .src = src };
	struct sip_buf hdrs;
	struct sip_msg *msg;

	if (!ctx)
		return;
	ctx->cache_key = 0;
	ctx->reg_rep = NULL;
	msg = &ctx->msg;
	/* A response for another worker's transaction goes there unparsed: the
	 * owner parses it anyway. A steered datagram is nearly always on its
	 * owner already; the rare one that is not (branch past the kernel's
	 * scan) is handed over after the parse, in proxy_on_response. */
	if (len && buf[0] == 'S' && !src->steered && proxy_hand_raw_response(ctx->proxy, src, buf, len))
		return;
	if (sip_msg_parse(msg, buf, len, &perr)) {
		if (perr.can_reply && msg->is_request && msg->method != SIP_ACK) {
			LOG_DBG("400 to %s:%u: %s", src_text(&txt)->ip, src_text(&txt)->port, perr.reason);
			send_reply(ctx, src, src_text(&txt), perr.status ? perr.status : 400,
				   perr.reason ? perr.reason : "Bad Request", NULL);
		} else {
			LOG_DBG("dropped unparseable message from %s:%u: %s", src_text(&txt)->ip, src_text(&txt)->port,
				perr.reason ? perr.reason : "?");
		}
		return;
	}
	/* UDP requests are served by the worker their Call-ID names (the
	 * kernel places most of them there already, transport/steer.c): a
	 * transaction's retransmissions, its CANCEL and ACK, and a dialog's
	 * requests meet on one worker whoever sends them. */
	if (msg->is_request && src->by_call_id) {
		unsigned owner = tp_callid_worker(msg->call_id.p, msg->call_id.len, tp_worker_count(src->worker));
		if (owner != tp_worker_index(src->worker)) {
			int err = tp_udp_hand_over(src, owner, buf, len);
			if (err)
				LOG_DBG("request from %s:%u dropped, not handed to worker %u: %s", src_text(&txt)->ip,
					src_text(&txt)->port, owner, strerror(-err));
			return;
		}
	}
	if (!msg->is_request) {
		proxy_on_response(ctx->proxy, src, msg); /* matched to its client transaction */
		return;
	}
	if (msg->method == SIP_ACK) {
		proxy_on_request(ctx->proxy, src, msg); /* absorbed, or forwarded end-to-end */
		return;
	}
	if (shed_if_overloaded(ctx, d->reg, src, &txt))
		return;

	sip_buf_init(&hdrs, ctx->hdrs, sizeof(ctx->hdrs));
	/* RFC 3261 §8.2.2.1 / §16.3 step 2 */
	if (!msg->ruri.is_sip) {
		send_reply(ctx, src, src_text(&txt), 416, "Unsupported URI Scheme", NULL);
		return;
	}
	/* RFC 3261 §8.2.2.3 */
	if (!require_ok(msg, &hdrs)) {
		sip_buf_put(&hdrs, "", 1);
		send_reply(ctx, src, src_text(&txt), 420, "Bad Extension", hdrs.p);
		return;
	}

	switch (msg->method) {
	case SIP_REGISTER: {
		/* A retransmission gets the answer its original got, unprocessed: a
		 * second digest check would take it for a replay (nonce-count). */
		if (resend_cached_answer(ctx, d->reg, src, msg, &ctx->cache_key))
			return;
		/* "proto:ip:port" (IPv6 in brackets), appended directly: no printf per request */
		char received[96];
		struct sip_buf rb;
		bool v6 = src->peer.ss_family == AF_INET6;
		struct registrar_reply rep = { .hdrs = hdrs };
		sip_buf_init(&rb, received, sizeof(received));
		sip_buf_puts(&rb, tp_proto_name(src->proto));
		sip_buf_puts(&rb, v6 ? ":[" : ":");
		sip_buf_puts(&rb, src_text(&txt)->ip);
		sip_buf_puts(&rb, v6 ? "]:" : ":");
		sip_buf_u64(&rb, src_text(&txt)->port);
		sip_buf_put(&rb, "", 1);
		if (rb.overflow)
			received[0] = '\0';
		struct registrar_req req = {
			.msg = msg,
			.auth = &d->auth,
			.store = ctx->store,
			.creds = ctx->creds,
			.received = received,
			.src_ip = src_text(&txt)->ip,
			.secure = src->proto == TP_TLS,
			.peer_identity = src->peer_identity,
			.now_s = base_wall_s(),
		};
		registrar_handle(d->reg, &req, &rep);
		sip_buf_put(&rep.hdrs, "", 1);
		if (rep.hdrs.overflow) {
			send_reply(ctx, src, src_text(&txt), 500, "Reply Too Large", NULL);
			return;
		}
		LOG_DBG("REGISTER %.*s from %s:%u -> %d", (int)msg->to.uri_str.len, msg->to.uri_str.p, src_text(&txt)->ip,
			src_text(&txt)->port, rep.code);
		if (rep.code == 0) {
			ctx->cache_key = 0;
			return; /* the auth limiter answers a blocked or hurried source with silence */
		}
		ctx->reg_rep = &rep;
		send_reply(ctx, src, src_text(&txt), rep.code, rep.reason, rep.hdrs.p);
		ctx->reg_rep = NULL;
		ctx->cache_key = 0;
		return;
	}
	case SIP_OPTIONS:
		if (msg->max_forwards == 0 && msg->ruri.user.len) {
			send_reply(ctx, src, src_text(&txt), 483, "Too Many Hops", NULL);
			return;
		}
		if (msg->ruri.user.len == 0) {
			send_reply(ctx, src, src_text(&txt), 200, "OK", ALLOW_HDR "Accept: application/sdp\r\n");
			return;
		}
		break;
	default:
		break;
	}
	if (msg->max_forwards == 0) {
		send_reply(ctx, src, src_text(&txt), 483, "Too Many Hops", NULL);
		return;
	}
	switch (msg->method) {
	case SIP_INVITE: case SIP_BYE: case SIP_CANCEL: case SIP_OPTIONS: case SIP_MESSAGE:
	case SIP_SUBSCRIBE: case SIP_NOTIFY: case SIP_REFER: case SIP_INFO: case SIP_UPDATE: case SIP_PRACK:
		proxy_on_request(ctx->proxy, src, msg); /* RFC 3261 §16 */
		return;
	default:
		send_reply(ctx, src, src_text(&txt), 501, "Not Implemented", ALLOW_HDR);
	}
}
