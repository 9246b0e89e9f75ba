/* Private to src/proxy: per-worker state, calls (one forwarded request with its
 * branches), and the helpers the files share. */
#ifndef SW_PROXY_INT_H
#define SW_PROXY_INT_H

#include "proxy/proxy.h"
#include "txn/txn.h"

/* Parallel branches per request: one per registered contact (the registrar's
 * per-AOR cap is SW_MAX_CONTACTS_CAP; more than 16 phones ringing is a
 * misconfiguration, the first 16 are used). */
#define PROXY_MAX_BRANCHES 16

/* rrtoken.c: the ;sw= token of our Record-Route entries, 16 bytes of
 * SipHash-2-4-128(route key, inside address | Call-ID) in hex. The key holds
 * the SipHash key (16 bytes) and the HMAC-SHA256 key of the tokens of earlier
 * versions (32 bytes), still accepted. */
#define PROXY_RR_PARAM "sw"
#define PROXY_RR_KEY_LEN (16 + AUTH_SHA256_LEN)
#define PROXY_RR_TOKEN_LEN 32

struct proxy_worker {
	struct proxy *p;
	struct tp_worker *w;
	struct store *store;
	struct auth_credcache *creds;    /**< the worker's credential cache (borrowed), or NULL */
	struct txn_layer *tl;
	struct proxy_dns *dns;           /**< resolver and cache, made at the first lookup (dns.c) */
	struct sip_msg rmsg;             /**< re-parse of handed-off responses */
	uint8_t rr_key[PROXY_RR_KEY_LEN];/**< signs our Record-Route entries (rrtoken.c) */
	char out[SW_MAX_MSG_SIZE];       /**< message being built */
	char hdrs[8192];                 /**< extra header lines for local replies */
};

/* One stateful forwarded request: its server transaction and client branches. */
struct proxy_call {
	struct proxy_worker *pw;
	struct txn_server *st;
	struct txn_client *ct[PROXY_MAX_BRANCHES];
	int code[PROXY_MAX_BRANCHES];    /**< final status per branch, 0 = pending */
	unsigned nbranches;
	unsigned refs;                   /**< live transactions pointing here */
	bool final_sent;
	bool resolving;                  /**< waiting for DNS (dns.c holds a reference) */
	enum sip_method method;
	int best_code;
	char *best;                      /**< best final response so far, our Via removed */
	size_t best_len;
	char *chal;                      /**< challenge lines of every 401/407 (merge.c) */
	size_t chal_len, chal_cap;
};

/* What the policy decided about the caller (policy.c). */
struct proxy_caller {
	const struct proxy_trusted *trusted; /**< source is a trusted peer */
	bool local;                      /**< From domain is served here */
	bool authenticated;              /**< proved with Proxy-Authorization */
	char realm[SW_MAX_DOMAIN + 1];   /**< realm whose credentials were consumed */
	const struct sip_hdr *cred_hdr;  /**< authenticated: the Proxy-Authorization proven, in the request checked */
	char rpid[SW_MAX_CONTACT_URI + 1]; /**< subscriber's rpid column, "" if none */
	char user[SW_MAX_USER + 1];
	struct sockaddr_storage src;     /**< where the request came from */
};

/* Local reply through the server transaction (To tag derived from the request). */
void proxy_reply(struct proxy_worker *pw, struct txn_server *st, const struct sip_msg *req, int code,
		 const char *reason, const char *extra);

/* The same answer without a transaction (RFC 3261 §8.2.7), to src. */
void proxy_reply_stateless(struct proxy_worker *pw, const struct tp_src *src, const struct sip_msg *req, int code,
			   const char *reason, const char *extra);
/* True when msg's To tag is the one the proxy puts in its own answers. */
bool proxy_tag_is_ours(const struct sip_msg *msg);

/* policy.c: seed 001 route[AUTH]. Returns 0 when the request may go on (caller
 * filled), or the status already answered (407, 403, 400, 503), through st
 * or, when st is NULL, without a transaction. */
int proxy_policy_check(struct proxy_worker *pw, struct txn_server *st, const struct tp_src *src,
		       const struct sip_msg *msg, bool in_dialog, struct proxy_caller *caller);

/* True when proxy_policy_check can only challenge msg (or refuse its
 * source): a local caller's request without Proxy-Authorization, not ACK or
 * CANCEL, not from a trusted peer. */
bool proxy_policy_would_challenge(struct proxy_worker *pw, const struct tp_src *src, const struct sip_msg *msg);

/* Credentials on an in-dialog request that is not challenged, checked
 * without answering anything: 0 and caller->authenticated set when the local
 * caller's Proxy-Authorization proves the From user, else -EACCES. */
int proxy_policy_prove(struct proxy_worker *pw, const struct tp_src *src, const struct sip_msg *msg,
		       struct proxy_caller *caller);

/* rrtoken.c */
/* The route key from the node's secret (the same on nodes sharing [auth] secret). */
void proxy_rr_key(const struct auth_ctx *auth, uint8_t key[PROXY_RR_KEY_LEN]);
/* The token for call_id and the dialog's inside party at address inside
 * (port ignored), NUL-terminated. 0, or -EINVAL (empty Call-ID, no or
 * non-IP address: out ""). */
int proxy_rr_token(const uint8_t key[PROXY_RR_KEY_LEN], struct slice call_id, const struct sockaddr_storage *inside,
		   char out[PROXY_RR_TOKEN_LEN + 1]);
/* The same token as earlier versions made it (HMAC-SHA256): dialogs recorded
 * before an upgrade keep working when the secret is configured. */
int proxy_rr_token_hmac(const uint8_t key[PROXY_RR_KEY_LEN], struct slice call_id,
			const struct sockaddr_storage *inside, char out[PROXY_RR_TOKEN_LEN + 1]);
/* True when route carries ;sw= equal to token (constant time; "" never matches). */
bool proxy_rr_token_match(const char token[PROXY_RR_TOKEN_LEN + 1], const struct sip_uri *route);

/* route.c */
/* True when uri names this server: one of its listen addresses (any
 * transport; no port means 5060, or 5061 for sips: and ;transport=tls). */
bool proxy_uri_is_me(struct proxy_worker *pw, const struct sip_uri *uri);
/* uri's port, else its transport's default (5061 for TLS, else 5060). */
uint16_t proxy_uri_default_port(const struct sip_uri *uri);
/* True when host:port (0: 5060) is one of our listen addresses. */
bool proxy_hostport_is_me(struct proxy_worker *pw, struct slice host, uint16_t port);
/* RFC 3261 §16.3 step 4: one of our Vias whose loop hash matches (loop.c). */
bool proxy_loop_detected(struct proxy_worker *pw, const struct sip_msg *msg);
/* An IP-literal URI host (and port, 5060 by default) as a socket address. 0 or -EINVAL. */
int proxy_uri_addr(const struct sip_uri *uri, struct sockaddr_storage *out);
/* target.c: the transport and address of a next hop. A URI: sips: is TLS,
 * else ;transport=udp|tcp|tls (UDP by default); the host must be an IP
 * literal (maddr first); TLS defaults to port 5061. 0, -EINVAL, or
 * -EPROTONOSUPPORT for a transport not spoken here. */
int proxy_uri_dest(const struct sip_uri *uri, struct tp_dest *out);
/* A registered contact with the "proto:IP:PORT" its REGISTER came from:
 * over TCP/TLS only that connection (TP_DEST_REUSE_ONLY); over UDP the
 * contact's own address, or the source when the contact is private or not an
 * IP literal. 0 or -errno. */
int proxy_contact_dest(const struct sip_uri *contact, struct slice received, struct tp_dest *out);
/* True when an IP text is in RFC 1918, RFC 6598 or link-local space (a phone behind NAT). */
bool proxy_ip_is_private(struct slice host);

/* loop.c: the loop hash (RFC 3261 §16.6 item 8, plus Route) carried at the end of our
 * branches as ".<12 hex digits>". upstream is the Via the request arrived
 * with (its top Via when we forward it). */
#define PROXY_LOOP_HASH_MASK 0xffffffffffffull
uint64_t proxy_loop_hash(const struct sip_msg *msg, const struct sip_via *upstream);
/* Append msg's loop hash to a branch made by txn_branch_make. 0 or -ENOSPC. */
int proxy_loop_branch_suffix(char *branch, size_t cap, const struct sip_msg *msg);
/* port is the Via's sent-by port, or its transport's default when absent. */
typedef bool (*proxy_is_me_fn)(void *arg, struct slice host, uint16_t port);
/* True when msg carries a Via of ours (is_me) whose loop hash equals the one
 * computed from msg now: the request came back unchanged. A Via of ours with
 * another hash is a spiral (false). */
bool proxy_loop_found(const struct sip_msg *msg, proxy_is_me_fn is_me, void *arg);

/* build.c: the request copy sent on one branch (RFC 3261 §16.6). */
struct proxy_fwd {
	struct slice ruri;               /**< new Request-URI (empty: keep) */
	const char *branch;
	const struct tp_listen *via_lst; /**< our address for Via (its transport too) */
	const struct tp_listen *rr_in;   /**< where the request came in (NULL: unknown) */
	bool record_route;               /**< Record-Route naming via_lst, and rr_in before it
					      when that is another address or transport (RFC 5658) */
	char rr_token[PROXY_RR_TOKEN_LEN + 1]; /**< ;sw= of each Record-Route entry ("": none) */
	unsigned pop_routes;             /**< leading Route entries to drop (they name us) */
	const struct sip_hdr *pop_hdr;   /**< pop_routes 1: the Route header holding that entry
					      (NULL: found by parsing the Route headers again) */
	struct slice pop_rest;           /**< with pop_hdr: what follows the entry in it */
	const char *consume_realm;       /**< drop Proxy-Authorization for this realm (NULL: none) */
	const struct sip_hdr *consumed_hdr; /**< one of them known already (the one proven), dropped unparsed */
	const char *from_value;          /**< new From value without the tag params (NULL: keep) */
	const char *pai;                 /**< P-Asserted-Identity value to add (NULL: none) */
	bool strip_identity;             /**< remove P-Asserted-Identity / P-Preferred-Identity */
};
int proxy_build_request(struct sip_buf *out, const struct sip_msg *msg, const struct proxy_fwd *f);
/* The response without its top Via entry (ours) (RFC 3261 §16.7 step 3). */
int proxy_build_response(struct sip_buf *out, const struct sip_msg *rsp);

/* callerid.c: From rewriting and identity headers for an initial request. */
struct proxy_identity {
	char from[SW_MAX_CONTACT_URI + 96];  /**< new From name-addr, "" = unchanged */
	char pai[SW_MAX_CONTACT_URI + 96];   /**< P-Asserted-Identity value, "" = none */
	bool anonymous;
};
void proxy_identity_decide(const struct sip_msg *msg, const struct proxy_caller *caller,
			   struct proxy_identity *id);
/* Split an rpid value ("Name" <sip:u@h>, <sip:u@h>, sip:u@h, or a bare
 * display name) into display and URI slices (either may be empty). 0 or -EINVAL. */
int proxy_rpid_parse(struct slice rpid, struct slice *display, struct slice *uri);

/* merge.c (RFC 3261 §16.7 step 7) */
/* Keep the WWW-/Proxy-Authenticate lines of rsp when it is a 401 or 407.
 * 0, -ENOSPC (past SW_MAX_MERGED_CHALLENGES) or -ENOMEM. */
int proxy_merge_collect(struct proxy_call *c, const struct sip_msg *rsp);
/* When c's best response is a 401/407, rewrite it with every collected
 * challenge instead of its own (built in scratch, then copied). 0 or -errno
 * (best left as it was). */
int proxy_merge_apply(struct proxy_call *c, char *scratch, size_t cap);

/* dns.c: RFC 3263 next hop for a host name (target: the Request-URI of a
 * request to a foreign domain, or the Route entry / remote target an
 * in-dialog request goes to; its scheme and ;transport= pick UDP, TCP or
 * TLS). Answers from the cache at once, else the call waits (holding a
 * reference) for the resolver thread and goes on in the worker when the
 * answer comes: forwarded like f, or 404 (no SIP server for the domain) /
 * 503 + Retry-After (DNS did not answer). id is NULL for in-dialog requests. */
struct proxy_dns;
void proxy_dns_forward(struct proxy_worker *pw, struct proxy_call *c, const struct sip_msg *msg,
		       const struct sip_uri *target, const struct proxy_fwd *f, const struct proxy_identity *id,
		       const struct proxy_caller *caller);
/* target's next hop from the cache only (no lookup: for stateless ACKs).
 * 0, -ENOENT (cached: no such server), -EAGAIN (not cached). */
int proxy_dns_cached(struct proxy_worker *pw, const struct sip_uri *target, struct tp_dest *out);
int proxy_dns_new(struct proxy_dns **out, struct proxy_worker *pw);
/* Stop the resolver thread (joined) and free everything; NULL-safe. */
void proxy_dns_free(struct proxy_dns *d);

/* proxy.c: start one branch of c toward dst (RFC 3261 §16.6). 0 or -errno. */
int proxy_forward_to(struct proxy_worker *pw, struct proxy_call *c, const struct sip_msg *msg, struct proxy_fwd *f,
		     const struct tp_dest *dst, const struct proxy_identity *id, const struct proxy_caller *caller);

/* call.c */
struct proxy_call *proxy_call_new(struct proxy_worker *pw, struct txn_server *st, enum sip_method method);
/* Add a branch sending req to dst. 0 or -errno. */
int proxy_call_branch(struct proxy_call *c, const char *branch, const struct tp_dest *dst, const char *req,
		      size_t len);
/* After the branches were started: when none started, answer fail_code and
 * let the call end with its server transaction. */
void proxy_call_started(struct proxy_call *c, const struct sip_msg *req, int fail_code, const char *fail_reason);
/* CANCEL every pending branch (RFC 3261 §16.10); a call still waiting for
 * DNS is answered 487 at once. */
void proxy_call_cancel(struct proxy_call *c);
/* Drop a reference taken with c->refs++ (frees c at zero). */
void proxy_call_unref(struct proxy_call *c);
extern const struct txn_ops proxy_txn_ops;

#endif
