/* Request routing (RFC 3261 §16): retransmissions and ACKs first (the
 * transaction layer), the cap on pending transactions (503), CANCEL (§16.10),
 * Max-Forwards (483), loop detection (482, loop.c), the seed 001
 * authentication policy, then loose routing of in-dialog requests (§16.4,
 * §16.12; only on a route set we recorded, rrtoken.c) or, for initial
 * requests, the relay policy and the location service: parallel forking to
 * every registered contact, or for foreign domains the configured next hop,
 * else DNS (dns.c). Responses that land on another worker's socket are
 * handed to the worker named in their branch. */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fmt.h"
#include "base/log.h"
#include "base/util.h"

/* Why hand responses between workers instead of one shared outbound socket:
 * every worker sends from its own SO_REUSEPORT socket on the listen port, so
 * Via and Record-Route name the listen address and no extra port is needed.
 * The branch carries the owning worker's index; over UDP the kernel steers a
 * response carrying it to that worker's socket (transport/steer.c). A
 * response that still arrives elsewhere (a Via beyond the steering's scan,
 * TCP) is copied once, unparsed, into a post for the owner (lock-free queue;
 * the eventfd is written only when the owner sleeps), which parses it. */
static _Atomic uint64_t n_handed_over;

struct rsp_post {
	struct tp_post base;
	struct proxy *p;
	struct tp_src src;
	bool peeked;  /**< routed by sip_peek_response_branch, not yet by a full parse */
	size_t len;
	char buf[];
};

static int loop_hook(struct tp_worker *w, uint64_t now_ms, void *arg)
{
	struct proxy_worker *pw = arg;
	(void)w;
	return txn_layer_run(pw->tl, now_ms);
}

int proxy_worker_new(struct proxy_worker **out, struct proxy *p, struct tp_worker *w, struct store *store,
		     struct auth_credcache *creds)
{
	struct proxy_worker *pw = calloc(1, sizeof(*pw));
	if (!pw)
		return -ENOMEM;
	pw->p = p;
	pw->w = w;
	pw->store = store;
	pw->creds = creds;
	if (!p->auth) {
		free(pw);
		return -EINVAL;
	}
	proxy_rr_key(p->auth, pw->rr_key);
	if (txn_layer_new(&pw->tl, w, &proxy_txn_ops)) {
		free(pw);
		return -ENOMEM;
	}
	tp_worker_set_loop(w, loop_hook, pw);
	unsigned idx = tp_worker_index(w);
	if (idx < SW_MAX_WORKERS)
		atomic_store(&p->workers[idx], pw);
	*out = pw;
	return 0;
}

void proxy_worker_free(struct proxy_worker *pw)
{
	if (!pw)
		return;
	unsigned idx = tp_worker_index(pw->w);
	if (idx < SW_MAX_WORKERS)
		atomic_store(&pw->p->workers[idx], NULL);
	tp_worker_set_loop(pw->w, NULL, NULL);
	txn_layer_free(pw->tl);
	proxy_dns_free(pw->dns);
	base_wipe(pw->rr_key, sizeof(pw->rr_key));
	free(pw);
}

/* The To tag of the proxy's own answers: from the Call-ID and From tag only,
 * so that the ACK of a non-2xx answer sent without a transaction is known
 * by its To tag whatever branch it carries (RFC 3261 §8.2.7: ignored). */
static void own_tag(const struct sip_msg *req, char tag[FMT_U64_MAX])
{
	uint64_t h = base_hash_words(req->call_id.p, req->call_id.len);
	h ^= base_hash_words(req->from.tag.p, req->from.tag.len) * 31u;
	fmt_hex64(tag, h, 16);
}

bool proxy_tag_is_ours(const struct sip_msg *msg)
{
	char tag[FMT_U64_MAX];

	own_tag(msg, tag);
	return msg->to.tag.len == 16 && memcmp(msg->to.tag.p, tag, 16) == 0;
}

void proxy_reply(struct proxy_worker *pw, struct txn_server *st, const struct sip_msg *req, int code,
		 const char *reason, const char *extra)
{
	char tag[FMT_U64_MAX];
	(void)pw;
	own_tag(req, tag);
	int err = txn_server_reply_to(st, req, code, reason, tag, extra);
	if (err)
		LOG_DBG("reply %d not sent: %s", code, strerror(-err));
}

void proxy_reply_stateless(struct proxy_worker *pw, const struct tp_src *src, const struct sip_msg *req, int code,
			   const char *reason, const char *extra)
{
	char tag[FMT_U64_MAX];
	own_tag(req, tag);
	int err = txn_reply_stateless(pw->tl, src, req, code, reason, tag, extra);
	if (err)
		LOG_DBG("reply %d not sent: %s", code, strerror(-err));
}

/* The leading Route entries of a request, parsed once: own_routes looks at
 * no more than three (two of ours and the one after them). */
#define ROUTES_HEAD 3
struct routes_head {
	struct sip_addr a[ROUTES_HEAD];
	unsigned n;
	const struct sip_hdr *hdr0;      /**< the Route header of a[0] */
	struct slice rest0;              /**< what follows a[0] in it */
};

static void routes_head(const struct sip_msg *msg, struct routes_head *r)
{
	r->n = 0;
	for (const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_ROUTE); h && r->n < ROUTES_HEAD;
	     h = sip_msg_hdr_next(msg, h)) {
		struct slice cur = h->value;
		while (r->n < ROUTES_HEAD && sip_addr_list_next(&cur, &r->a[r->n]) == 1) {
			if (r->n++ == 0) {
				r->hdr0 = h;
				r->rest0 = cur;
			}
		}
	}
}

/* One Route entry to drop: where it ends, so the request copy need not
 * parse the Route header again (build.c). */
static void pop_hint(const struct routes_head *r, struct proxy_fwd *f)
{
	if (f->pop_routes == 1) {
		f->pop_hdr = r->hdr0;
		f->pop_rest = r->rest0;
	}
}

/* RFC 3261 §16.4 with RFC 5658 §3.2: how many leading Route entries name us
 * (0, 1, or 2 when we record-routed twice: two different entries of ours
 * side by side, one per interface), and the entry after them in *next
 * (*has_next false when none). The same entry twice is a spiral through
 * us: only one is ours to drop now. r gets the leading entries. */
static unsigned own_routes(struct proxy_worker *pw, const struct sip_msg *msg, struct routes_head *r,
			   struct sip_addr *next, bool *has_next)
{
	unsigned n;

	*has_next = false;
	routes_head(msg, r);
	if (r->n == 0 || !proxy_uri_is_me(pw, &r->a[0].uri))
		return 0;
	n = 1;
	if (r->n > 1 && proxy_uri_is_me(pw, &r->a[1].uri) && !slice_caseeq(r->a[1].uri_str, r->a[0].uri_str))
		n = 2;
	if (r->n > n) {
		*next = r->a[n];
		*has_next = true;
	}
	return n;
}

/* Do the n leading Route entries in r all carry token? */
static bool routes_carry(const struct routes_head *r, unsigned n, const char *token)
{
	for (unsigned i = 0; i < n; i++)
		if (i >= r->n || !proxy_rr_token_match(token, &r->a[i].uri))
			return false;
	return true;
}

/* Do our n leading Route entries (from own_routes, in r) all carry the
 * token for the request's Call-ID and the inside address addr, in the
 * current form or the earlier (HMAC) one of dialogs recorded before? */
static bool routes_signed_for(struct proxy_worker *pw, const struct sip_msg *msg, const struct routes_head *r,
			      unsigned n, const struct sockaddr_storage *addr)
{
	char token[PROXY_RR_TOKEN_LEN + 1];

	if (n == 0 || !addr)
		return false;
	if (proxy_rr_token(pw->rr_key, msg->call_id, addr, token) == 0 && routes_carry(r, n, token))
		return true;
	return proxy_rr_token_hmac(pw->rr_key, msg->call_id, addr, token) == 0 && routes_carry(r, n, token);
}

/* Did we record this route set, and does the request come from the dialog's
 * inside party (src) or go to it (dst, NULL: not known yet)? (rrtoken.c) */
static bool routes_signed(struct proxy_worker *pw, const struct sip_msg *msg, const struct routes_head *r,
			  unsigned n, const struct sockaddr_storage *src, const struct sockaddr_storage *dst)
{
	return routes_signed_for(pw, msg, r, n, src) || (dst && routes_signed_for(pw, msg, r, n, dst));
}

/* Identity headers toward one next hop (RFC 3325 §5: only trusted hops see
 * P-Asserted-Identity; it is removed toward anyone else). */
static void identity_for(struct proxy_worker *pw, const struct sockaddr_storage *dst, const struct proxy_identity *id,
			 const struct proxy_caller *caller, struct proxy_fwd *f)
{
	bool trusted = proxy_trusted_find(pw->p->cfg, dst) != NULL;
	f->strip_identity = !trusted;
	f->pai = trusted && caller && caller->authenticated && id && id->pai[0] ? id->pai : NULL;
}

/* Our address for a request leaving over dst's transport: Via (and the
 * outgoing Record-Route entry) name a listen address of that transport
 * (none: the request cannot go, -EAFNOSUPPORT). A sips: Request-URI goes
 * over TLS only (RFC 3261 §26.2.2). */
static int our_addresses(struct proxy_worker *pw, const struct sip_msg *msg, const struct tp_dest *dst,
			 struct proxy_fwd *f)
{
	if (msg->ruri.is_sips && dst->proto != TP_TLS)
		return -EPROTO;
	f->via_lst = tp_worker_listen(pw->w, dst->proto, dst->addr.ss_family);
	if (!f->via_lst)
		return -EAFNOSUPPORT;
	return 0;
}

/* The configured next hop (udp, tcp or tls) as a destination. */
static void outbound_dest(const struct proxy_cfg *cfg, struct tp_dest *d)
{
	memset(d, 0, sizeof(*d));
	d->proto = cfg->outbound.proto;
	d->addr = cfg->outbound.addr;
	memcpy(d->name, cfg->outbound_name, sizeof(d->name));
}

/* One target of a call: build the branch copy and start its transaction. */
static int add_branch(struct proxy_worker *pw, struct proxy_call *c, const struct sip_msg *msg, struct proxy_fwd *f,
		      struct slice ruri, const struct tp_dest *dst, const struct proxy_identity *id,
		      const struct proxy_caller *caller)
{
	char branch[48];
	struct sip_buf b;

	int err = our_addresses(pw, msg, dst, f);
	if (err)
		return err;
	if (f->record_route) {
		/* The dialog's inside party: a caller who proved who it is (or a
		 * trusted peer), else the local phone this branch goes to. */
		bool caller_inside = caller && (caller->authenticated || caller->trusted);
		(void)proxy_rr_token(pw->rr_key, msg->call_id, caller_inside ? &caller->src : &dst->addr,
				     f->rr_token); /* no Call-ID: no token */
	}
	txn_branch_make(pw->tl, branch, sizeof(branch));
	if (proxy_loop_branch_suffix(branch, sizeof(branch), msg))
		return -ENOSPC;
	f->branch = branch;
	f->ruri = ruri;
	identity_for(pw, &dst->addr, id, caller, f);
	sip_buf_init(&b, pw->out, sizeof(pw->out));
	if (proxy_build_request(&b, msg, f))
		return -ENOSPC;
	if (c->st)
		txn_server_trying(c->st, msg);
	return proxy_call_branch(c, branch, dst, b.p, b.len);
}

int proxy_forward_to(struct proxy_worker *pw, struct proxy_call *c, const struct sip_msg *msg, struct proxy_fwd *f,
		     const struct tp_dest *dst, const struct proxy_identity *id, const struct proxy_caller *caller)
{
	return add_branch(pw, c, msg, f, SLICE_NULL, dst, id, caller);
}

/* ---- the location service (RFC 3261 §16.5) ---- */
#define AOR_MAX (SW_MAX_USER + SW_MAX_DOMAIN + 2)

/* The location service's key "user@domain", the domain in lower case, into
 * out (AOR_MAX bytes; user at most SW_MAX_USER, host at most SW_MAX_DOMAIN
 * bytes), NUL-terminated. The user ends at a NUL byte, as with "%.*s". */
static size_t aor_key(char *out, struct slice user, struct slice host)
{
	size_t n = strnlen(user.p, user.len);

	memcpy(out, user.p, n);
	out[n++] = '@';
	for (size_t i = 0; i < host.len; i++) {
		char ch = host.p[i];
		out[n++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	out[n] = '\0';
	return n;
}

struct target {
	char uri[SW_MAX_CONTACT_URI + 1];
	struct tp_dest dst;
};
struct targets {
	struct target t[PROXY_MAX_BRANCHES];
	unsigned n;
};

/* Where each contact is reached (target.c): over TCP/TLS the connection it
 * registered on, over UDP its own address or, behind NAT, its source. A
 * sips: contact is reached over TLS only. */
static void on_binding(const struct registrar_contact *rc, void *arg)
{
	struct targets *ts = arg;
	struct target *t = &ts->t[ts->n];
	struct sip_uri u;

	if (ts->n == PROXY_MAX_BRANCHES || rc->contact_len > SW_MAX_CONTACT_URI)
		return;
	memcpy(t->uri, rc->contact, rc->contact_len);
	t->uri[rc->contact_len] = '\0';
	if (sip_uri_parse(&u, slice_from(t->uri, rc->contact_len)))
		return;
	if (proxy_contact_dest(&u, slice_from(rc->received, rc->received_len), &t->dst))
		return;
	if (u.is_sips && t->dst.proto != TP_TLS)
		return;
	ts->n++;
}

/* In-dialog requests and ACKs aimed at a phone's contact (the Request-URI,
 * no further Route) go where the phone is reachable: when the URI is a
 * contact registered under the To AOR, the way to that binding (the TCP/TLS
 * connection it registered on, or its NAT source; *local true); else the URI
 * itself. */
struct dialog_find {
	struct slice uri;
	struct tp_dest *out;
	bool found;
};

static void on_dialog_binding(const struct registrar_contact *rc, void *arg)
{
	struct dialog_find *df = arg;
	struct sip_uri u;
	struct slice curi = slice_from(rc->contact, rc->contact_len);

	if (df->found || !slice_caseeq(curi, df->uri) || sip_uri_parse(&u, curi))
		return;
	df->found = proxy_contact_dest(&u, slice_from(rc->received, rc->received_len), df->out) == 0;
}

static int dialog_dest(struct proxy_worker *pw, const struct sip_msg *msg, const struct sip_uri *target,
		       struct tp_dest *out, bool *local)
{
	const struct sip_uri *to = &msg->to.uri;
	char aor[AOR_MAX];

	*local = false;
	if (target == &msg->ruri && to->user.len && to->user.len <= SW_MAX_USER && to->host.len &&
	    to->host.len <= SW_MAX_DOMAIN && registrar_domain_is_local(pw->p->reg, to->host)) {
		size_t n = aor_key(aor, to->user, to->host);
		struct dialog_find df = { .uri = msg->ruri_str, .out = out };
		registrar_lookup_bindings(pw->p->reg, slice_from(aor, n), base_wall_s(), on_dialog_binding, &df);
		if (df.found) {
			*local = true;
			return 0;
		}
	}
	return proxy_uri_dest(target, out);
}

/* ---- CANCEL (RFC 3261 §16.10) ---- */
static void handle_cancel(struct proxy_worker *pw, struct txn_server *st, const struct sip_msg *msg)
{
	struct txn_server *inv = txn_server_match(pw->tl, msg, SIP_INVITE);

	if (!inv) {
		proxy_reply(pw, st, msg, 481, "Call/Transaction Does Not Exist", NULL);
		return;
	}
	proxy_reply(pw, st, msg, 200, "OK", NULL);
	struct proxy_call *c = txn_server_user(inv);
	if (c)
		proxy_call_cancel(c);
}

/* ---- ACK for a 2xx and other in-dialog ACKs: stateless (§16.11) ---- */
static void forward_ack(struct proxy_worker *pw, const struct tp_src *src, const struct sip_msg *msg)
{
	struct sip_addr next;
	struct routes_head routes;
	struct proxy_fwd f = { 0 };
	const struct sip_uri *target = &msg->ruri;
	struct tp_dest dst;
	char branch[48], realm[SW_MAX_DOMAIN + 1];
	struct sip_buf b;
	bool has_next, local;

	f.pop_routes = own_routes(pw, msg, &routes, &next, &has_next);
	pop_hint(&routes, &f);
	if (has_next)
		target = &next.uri;
	else if (!f.pop_routes)
		return; /* not on our route: for us end-to-end, or the ACK of an
			 * in-dialog request refused as not ours (stateless: no
			 * transaction absorbs it), which would go nowhere else */
	int err = dialog_dest(pw, msg, target, &dst, &local);
	/* Not an open relay: only on a route set we recorded, to a local
	 * user's phone, or from a trusted peer (an ACK gets no answer: dropped). */
	if (!local && !routes_signed(pw, msg, &routes, f.pop_routes, &src->peer, err ? NULL : &dst.addr) &&
	    !proxy_trusted_find(pw->p->cfg, &src->peer)) {
		LOG_DBG("ACK dropped: not on a route set of ours");
		return;
	}
	if (err) {
		/* Where the dialog's other requests go: the configured next hop,
		 * else DNS, but from the cache only (stateless: no waiting); the
		 * INVITE's lookup usually left the answer there. */
		if (pw->p->cfg->has_outbound) {
			outbound_dest(pw->p->cfg, &dst);
		} else if (proxy_dns_cached(pw, target, &dst)) {
			LOG_DBG("ACK dropped: next hop %.*s not in the DNS cache", (int)target->host.len,
				target->host.p);
			return;
		}
	}
	if (our_addresses(pw, msg, &dst, &f))
		return;
	/* The same incoming ACK always gets the same branch (§16.11). */
	size_t bn = sizeof(TXN_BRANCH_PREFIX) - 1;
	memcpy(branch, TXN_BRANCH_PREFIX, bn);
	bn += fmt_u64(branch + bn, tp_worker_index(pw->w));
	branch[bn++] = 'x';
	branch[bn++] = 'a';
	fmt_hex64(branch + bn, base_hash_words(msg->via1.branch.p, msg->via1.branch.len), 16);
	f.branch = branch;
	if (msg->from.uri.host.len && msg->from.uri.host.len <= SW_MAX_DOMAIN) {
		for (size_t i = 0; i < msg->from.uri.host.len; i++) {
			char c = msg->from.uri.host.p[i];
			realm[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		realm[msg->from.uri.host.len] = '\0';
		f.consume_realm = realm;
	}
	identity_for(pw, &dst.addr, NULL, NULL, &f);
	sip_buf_init(&b, pw->out, sizeof(pw->out));
	if (proxy_build_request(&b, msg, &f) == 0)
		tp_send_dest(pw->w, &dst, b.p, b.len);
}

static bool is_dialog_forming(enum sip_method m)
{
	return m == SIP_INVITE || m == SIP_SUBSCRIBE || m == SIP_REFER;
}

/* A final answer decided here before any branch started: sent as a
 * stateless UAS (RFC 3261 §8.2.7) and the server transaction forgotten, so a
 * refused request keeps nothing for 32 s and a refused INVITE's answer is
 * not resent by timer G to a source that may be forged (a resend of the
 * request is answered again). Once the transaction sent something (a 100
 * Trying before a branch failed to start), the client no longer resends,
 * so the answer goes through the transaction. Drops the transaction's
 * reference to c, which may be gone on return. */
static void refuse(struct proxy_worker *pw, struct txn_server *st, struct proxy_call *c, const struct sip_msg *msg,
		   int code, const char *reason, const char *extra)
{
	if (c) {
		c->final_sent = true;
		st = c->st;
	}
	if (!st)
		return;
	if (txn_server_answered(st)) {
		proxy_reply(pw, st, msg, code, reason, extra);
		return;
	}
	proxy_reply_stateless(pw, txn_server_src(st), msg, code, reason, extra);
	txn_server_discard(st);
}

/* The 404/480 answer for a local user that cannot be reached now. */
static void not_reachable(struct proxy_worker *pw, struct proxy_call *c, const struct sip_msg *msg, bool reveal)
{
	struct store_cred cred;
	int err = store_get_cred(pw->store, msg->ruri.user, msg->ruri.host, &cred);
	store_cred_wipe(&cred);
	if (err && err != -ENOENT) {
		refuse(pw, NULL, c, msg, 503, "Service Unavailable", "Retry-After: 5\r\n");
		return;
	}
	/* Outsiders get one answer for both, so they cannot list users. */
	if (!reveal || err == -ENOENT)
		refuse(pw, NULL, c, msg, 404, "Not Found", NULL);
	else
		refuse(pw, NULL, c, msg, 480, "Temporarily Unavailable", NULL);
}

static void route_request(struct proxy_worker *pw, struct txn_server *st, const struct tp_src *src,
			  const struct sip_msg *msg, struct proxy_caller *caller, bool in_dialog)
{
	const struct proxy_cfg *cfg = pw->p->cfg;
	struct proxy_fwd f = { 0 };
	struct sip_addr next;
	struct routes_head routes;
	bool has_next_route = false;
	bool caller_ok = caller->authenticated || caller->trusted;
	struct proxy_identity id;
	struct tp_dest dst;

	f.consume_realm = caller->authenticated ? caller->realm : NULL;
	f.consumed_hdr = caller->authenticated ? caller->cred_hdr : NULL;
	f.rr_in = src->lst;
	f.pop_routes = own_routes(pw, msg, &routes, &next, &has_next_route);
	pop_hint(&routes, &f);
	if (!f.pop_routes && sip_msg_hdr(msg, SIP_HDR_ROUTE)) {
		/* A Route that does not name us: we are not on this path. */
		refuse(pw, st, NULL, msg, 403, "Not relaying", NULL);
		return;
	}

	struct proxy_call *c = proxy_call_new(pw, st, msg->method);
	if (!c) {
		proxy_reply(pw, st, msg, 500, "Server Internal Error", NULL);
		return;
	}

	if (in_dialog) {
		/* RFC 3261 §16.12: in-dialog requests follow the Route set we
		 * are on; without our Route they are not ours to forward. */
		if (!f.pop_routes) {
			if (caller_ok)
				refuse(pw, NULL, c, msg, 404, "Not Here", NULL);
			else
				refuse(pw, NULL, c, msg, 403, "Not relaying", NULL);
			return;
		}
		const struct sip_uri *target = has_next_route ? &next.uri : &msg->ruri;
		bool local;
		int err = dialog_dest(pw, msg, target, &dst, &local);
		/* Not an open relay: a Route naming us is not enough, it must be
		 * one we recorded (signed), unless the request goes to a local
		 * user's phone or the caller is trusted or proves who it is. */
		if (!local && !caller_ok && !routes_signed(pw, msg, &routes, f.pop_routes, &src->peer, err ? NULL : &dst.addr) &&
		    proxy_policy_prove(pw, src, msg, caller)) {
			LOG_DBG("in-dialog %.*s refused: route set not ours", (int)msg->method_name.len,
				msg->method_name.p);
			refuse(pw, NULL, c, msg, 403, "Not relaying", NULL);
			return;
		}
		if (caller->authenticated) {
			f.consume_realm = caller->realm;
			f.consumed_hdr = caller->cred_hdr;
		}
		if (err && cfg->has_outbound) {
			outbound_dest(cfg, &dst);
		} else if (err == -EINVAL && target->is_sip && target->host.len) {
			/* A host name: RFC 3263 (dns.c). */
			proxy_dns_forward(pw, c, msg, target, &f, NULL, caller);
			return;
		} else if (err) {
			refuse(pw, NULL, c, msg, 404, "No Route To Destination", NULL);
			return;
		}
		add_branch(pw, c, msg, &f, SLICE_NULL, &dst, NULL, caller);
		proxy_call_started(c, msg, 503, "Service Unavailable");
		return;
	}

	/* Initial request: seed 001 relay policy and identity. */
	bool callee_local = msg->ruri.host.len <= SW_MAX_DOMAIN && registrar_domain_is_local(pw->p->reg, msg->ruri.host);
	proxy_identity_decide(msg, caller, &id);
	if (id.from[0])
		f.from_value = id.from;
	f.record_route = is_dialog_forming(msg->method);

	if (has_next_route || !callee_local) {
		/* Foreign destinations only for authenticated local callers (or
		 * trusted peers with a preloaded route): never an open relay. */
		if (!caller->authenticated && !(caller->trusted && has_next_route)) {
			LOG_DBG("%.*s to %.*s refused: not relaying", (int)msg->method_name.len, msg->method_name.p,
				(int)msg->ruri.host.len, msg->ruri.host.p);
			refuse(pw, NULL, c, msg, 403, "Not relaying", NULL);
			return;
		}
		if (has_next_route) {
			int err = proxy_uri_dest(&next.uri, &dst);
			if (err == -EINVAL && next.uri.is_sip && next.uri.host.len) {
				/* A preloaded Route naming a host: RFC 3263 (dns.c). */
				proxy_dns_forward(pw, c, msg, &next.uri, &f, &id, caller);
				return;
			}
			if (err) {
				refuse(pw, NULL, c, msg, 404, "No Route To Destination", NULL);
				return;
			}
		} else if (cfg->has_outbound) {
			outbound_dest(cfg, &dst);
		} else if (proxy_uri_dest(&msg->ruri, &dst)) {
			/* RFC 3263: the domain's SIP server from DNS (dns.c). */
			proxy_dns_forward(pw, c, msg, &msg->ruri, &f, &id, caller);
			return;
		}
		add_branch(pw, c, msg, &f, SLICE_NULL, &dst, &id, caller);
		proxy_call_started(c, msg, 503, "Service Unavailable");
		return;
	}

	/* Guests (callers from other domains, not trusted): refused before any
	 * lookup when the admin says so, so the answer tells nothing about the
	 * callee. ACK has no answer; it is absorbed as ever. */
	if (!cfg->allow_guest && !caller_ok && msg->method != SIP_ACK) {
		LOG_DBG("%.*s from a guest refused (allow_guest = no)", (int)msg->method_name.len,
			msg->method_name.p);
		refuse(pw, NULL, c, msg, 403, "Guests Not Allowed", NULL);
		return;
	}

	/* A local user: every registered contact in parallel (§16.6, §16.7). */
	char aor[AOR_MAX];
	/* Not zeroed: on_binding fills each entry it counts (16 URIs of up to
	 * SW_MAX_CONTACT_URI bytes would be cleared on every call otherwise). */
	struct targets *ts = malloc(sizeof(*ts));
	if (!ts || msg->ruri.user.len == 0 || msg->ruri.user.len > SW_MAX_USER) {
		free(ts);
		refuse(pw, NULL, c, msg, 404, "Not Found", NULL);
		return;
	}
	ts->n = 0;
	size_t n = aor_key(aor, msg->ruri.user, msg->ruri.host);
	registrar_lookup_bindings(pw->p->reg, slice_from(aor, n), base_wall_s(), on_binding, ts);
	for (unsigned i = 0; i < ts->n; i++) {
		int err = add_branch(pw, c, msg, &f, slice_cstr(ts->t[i].uri), &ts->t[i].dst, &id, caller);
		if (err)
			LOG_DBG("branch to %s not started: %s", ts->t[i].uri, strerror(-err));
	}
	unsigned started = c->nbranches;
	free(ts);
	if (started == 0)
		not_reachable(pw, c, msg, caller_ok || cfg->reveal_not_registered);
}

bool proxy_absorb(struct proxy_worker *pw, const struct sip_msg *msg)
{
	return msg->method != SIP_ACK && txn_server_absorb(pw->tl, msg);
}

/* RFC 3261 §8.2.7: a new request that can only be challenged (a local
 * caller, no Proxy-Authorization, not trusted, out of dialog) gets its 407
 * (or the limiter's 403 or silence) without a server transaction, as
 * REGISTER's 401 does: nothing is kept for it, a retransmission gets a fresh
 * challenge, its ACK is recognised by our To tag and ignored. Under the
 * transaction cap, with a looped request or with no hops left it takes the
 * usual path (a 503, 482 or 483 through a transaction). true when answered. */
static bool challenged_statelessly(struct proxy_worker *pw, const struct tp_src *src, const struct sip_msg *msg)
{
	struct proxy_caller caller;

	if (msg->to.tag.len || msg->max_forwards == 0 || !proxy_policy_would_challenge(pw, src, msg) ||
	    txn_layer_pending(pw->tl) >= pw->p->cfg->max_transactions || proxy_loop_detected(pw, msg))
		return false;
	/* A retransmission of a request that did get a transaction (its 503
	 * over the cap) keeps getting that transaction's answer. */
	if (txn_server_absorb(pw->tl, msg))
		return true;
	return proxy_policy_check(pw, NULL, src, msg, false, &caller) != 0;
}

void proxy_on_request(struct proxy_worker *pw, const struct tp_src *src, struct sip_msg *msg)
{
	struct txn_server *st;
	struct proxy_caller caller;

	if (msg->method == SIP_ACK) {
		/* The ACK of an answer of ours: its transaction's, or one sent
		 * without a transaction (a challenge), which ends here. */
		if (!txn_server_absorb(pw->tl, msg) && msg->to.tag.len && !proxy_tag_is_ours(msg))
			forward_ack(pw, src, msg);
		return;
	}
	if (challenged_statelessly(pw, src, msg))
		return;
	/* The cap is checked before any transaction exists, and a refused
	 * request gets its 503 without one (a resend of a request that did get
	 * a transaction still gets that one's answer): overload adds no memory
	 * and no timer-G resends, and a resend is refused again the same way.
	 * CANCEL is never refused: it ends transactions. */
	if (msg->method != SIP_CANCEL && txn_layer_pending(pw->tl) >= pw->p->cfg->max_transactions) {
		char ra[32];

		if (txn_server_absorb(pw->tl, msg))
			return;
		snprintf(ra, sizeof(ra), "Retry-After: %u\r\n", SW_TXN_CAP_RETRY_AFTER_S);
		LOG_DBG("%.*s refused: %u transactions pending", (int)msg->method_name.len, msg->method_name.p,
			txn_layer_pending(pw->tl));
		proxy_reply_stateless(pw, src, msg, 503, "Service Unavailable", ra);
		return;
	}
	/* RFC 3261 §16.3 / §17.2.3: a retransmission gets the last answer
	 * (absorbed: 1), anything else a new transaction. */
	int err = txn_server_take(&st, pw->tl, msg, src, NULL);
	if (err == 1)
		return;
	if (err) {
		LOG_WARN("no transaction for %.*s: %s", (int)msg->method_name.len, msg->method_name.p, strerror(-err));
		return;
	}
	if (msg->method == SIP_CANCEL) {
		handle_cancel(pw, st, msg);
		return;
	}
	if (msg->max_forwards == 0) {
		refuse(pw, st, NULL, msg, 483, "Too Many Hops", NULL);
		return;
	}
	if (proxy_loop_detected(pw, msg)) {
		refuse(pw, st, NULL, msg, 482, "Loop Detected", NULL);
		return;
	}
	bool in_dialog = msg->to.tag.len > 0;
	if (proxy_policy_check(pw, st, src, msg, in_dialog, &caller))
		return;
	route_request(pw, st, src, msg, &caller, in_dialog);
}

void proxy_on_conn_fail(struct proxy_worker *pw, enum tp_proto proto, const struct sockaddr_storage *peer)
{
	txn_client_transport_error(pw->tl, proto, peer);
}

/* ---- responses ---- */
static void handle_response(struct proxy_worker *pw, struct sip_msg *msg)
{
	if (!txn_client_response(pw->tl, msg))
		LOG_DBG("stray response %d dropped (no transaction)", msg->status);
}

static void hand_over(struct proxy_worker *pw, const struct tp_src *src, const char *buf, size_t len,
		      unsigned owner, bool peeked);

static void on_post(struct tp_worker *w, struct tp_post *base)
{
	struct rsp_post *rp = (struct rsp_post *)base;
	unsigned idx = tp_worker_index(w);
	struct proxy_worker *pw = NULL;
	if (idx < SW_MAX_WORKERS)
		pw = atomic_load(&rp->p->workers[idx]);
	struct sip_parse_err perr;

	if (pw && sip_msg_parse(&pw->rmsg, rp->buf, rp->len, &perr) == 0 && !pw->rmsg.is_request) {
		int owner = txn_branch_owner(pw->rmsg.via1.branch);
		/* The peek and the parser disagreed (an odd top Via): the parse
		 * decides, and the response moves once more. */
		if (rp->peeked && owner >= 0 && (unsigned)owner != idx)
			hand_over(pw, &rp->src, rp->buf, rp->len, (unsigned)owner, false);
		else
			handle_response(pw, &pw->rmsg);
	}
	free(rp);
}

static void hand_over(struct proxy_worker *pw, const struct tp_src *src, const char *buf, size_t len,
		      unsigned owner, bool peeked)
{
	struct rsp_post *rp = malloc(sizeof(*rp) + len + 1);
	if (!rp)
		return;
	rp->base.fn = on_post;
	rp->p = pw->p;
	rp->src = *src;
	rp->peeked = peeked;
	rp->len = len;
	memcpy(rp->buf, buf, len);
	rp->buf[len] = '\0';
	/* Capped like every cross-worker message: a stalled owner drops
	 * responses (the far end retransmits) instead of piling up copies. */
	if (tp_worker_post_msg(pw->w, owner, &rp->base))
		free(rp);
	else
		atomic_fetch_add_explicit(&n_handed_over, 1, memory_order_relaxed);
}

uint64_t proxy_responses_handed_over(void)
{
	return atomic_load_explicit(&n_handed_over, memory_order_relaxed);
}

bool proxy_hand_raw_response(struct proxy_worker *pw, const struct tp_src *src, const char *buf, size_t len)
{
	struct slice branch;
	int owner;

	/* One worker owns everything: nothing to peek for. */
	if (!pw || tp_worker_count(pw->w) < 2 || !sip_peek_response_branch(buf, len, &branch))
		return false;
	owner = txn_branch_owner(branch);
	if (owner < 0 || (unsigned)owner == tp_worker_index(pw->w) || (unsigned)owner >= tp_worker_count(pw->w))
		return false;
	hand_over(pw, src, buf, len, (unsigned)owner, true);
	return true;
}

void proxy_on_response(struct proxy_worker *pw, const struct tp_src *src, struct sip_msg *msg)
{
	int owner = txn_branch_owner(msg->via1.branch);

	if (owner < 0) {
		LOG_DBG("response %d not ours (branch): dropped", msg->status);
		return;
	}
	if ((unsigned)owner == tp_worker_index(pw->w)) {
		handle_response(pw, msg);
		return;
	}
	hand_over(pw, src, msg->buf, msg->len, (unsigned)owner, false);
}
