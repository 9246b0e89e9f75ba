/* The auth layer's door: HTTP Digest for SIP (RFC 3261 §22, RFC 2617, RFC 7616,
 * RFC 8760). Pure digest maths (no I/O, no clock), stateless HMAC-signed nonces,
 * challenge building and credential verification against the store.
 * Verdicts never distinguish an unknown user from a wrong password. */
#ifndef SW_AUTH_H
#define SW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "auth/credcache.h"
#include "base/slice.h"
#include "sip/sip.h"
#include "store/store.h"

enum auth_algo {
	AUTH_ALGO_MD5 = 0,
	AUTH_ALGO_MD5_SESS,
	AUTH_ALGO_SHA256,
	AUTH_ALGO_SHA256_SESS,
	AUTH_ALGO_SHA512_256,
	AUTH_ALGO_SHA512_256_SESS,
	AUTH_ALGO__COUNT
};

/* "MD5", "MD5-sess", "SHA-256", ... (case-insensitive). Absent algorithm means
 * MD5 (RFC 2617 §3.2.1). 0 or -EINVAL. */
int auth_algo_parse(struct slice name, enum auth_algo *out);
const char *auth_algo_name(enum auth_algo algo);
bool auth_algo_is_sess(enum auth_algo algo);
/* Hex length of the algorithm's digests: 32 or 64. */
size_t auth_algo_hexlen(enum auth_algo algo);
/* Strength rank of the algorithm's hash family: 0 MD5, 1 SHA-256, 2 SHA-512-256;
 * a -sess form ranks as its base. Equal to the store's enum store_hash. */
int auth_algo_rank(enum auth_algo algo);

/* Hex digest of data with the algorithm's hash; out holds hexlen+1. */
void auth_hash_hex(enum auth_algo algo, const void *data, size_t len, char *out);

/* HA1 = H(username ":" realm ":" password) (the non-sess form). */
void auth_digest_ha1(enum auth_algo algo, struct slice username, struct slice realm,
		     struct slice password, char *out);
/* RFC 7616 §3.4.4 userhash = H(username ":" realm). */
void auth_digest_userhash(enum auth_algo algo, struct slice username, struct slice realm, char *out);

struct auth_digest_in {
	enum auth_algo algo;
	struct slice ha1;    /**< hex HA1 of the non-sess form */
	struct slice nonce;
	struct slice nc;     /**< 8 hex digits, empty for RFC 2069 */
	struct slice cnonce;
	struct slice qop;    /**< "auth", "auth-int" or empty (RFC 2069) */
	struct slice method; /**< empty for rspauth (RFC 2617 §3.2.3) */
	struct slice uri;
	struct slice body;   /**< entity body, used by auth-int */
};
/* request-digest (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1); -sess algorithms derive
 * the session HA1 from ha1, nonce and cnonce. 0 or -EINVAL (bad qop). */
int auth_digest_response(const struct auth_digest_in *in, char *out);

#define AUTH_SHA256_LEN 32
/* HMAC-SHA256(key, msg) into out (32 bytes). Keys longer than the 64-byte
 * block are hashed first, as RFC 2104 §2 says. */
void auth_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
		      uint8_t out[AUTH_SHA256_LEN]);

/* Stateless nonces (layout in nonce.c): version | flags | issued | counter |
 * random, signed with SipHash-2-4-128 (the client's address too when bound). No
 * table grows with traffic; replay.c tracks nonce-counts in fixed memory. */
struct auth_nonce_key {
	uint8_t secret[32];     /**< node secret; other keys derive from it */
	uint8_t mac_key[16];    /**< the nonces' SipHash key, derived from secret */
	unsigned lifetime_s;
};
enum auth_nonce_state { AUTH_NONCE_VALID, AUTH_NONCE_STALE, AUTH_NONCE_INVALID };
/* Key from a configured secret string (HMAC-derived), or random when secret is NULL.
 * lifetime_s 0 means SW_DEFAULT_NONCE_LIFETIME. 0, -EINVAL (empty secret) or
 * -errno from the random source. */
int auth_nonce_key_init(struct auth_nonce_key *key, const char *secret, unsigned lifetime_s);
/* Longest nonce text auth_nonce_make writes, without the NUL. */
#define AUTH_NONCE_TEXT_MAX 44
/* Writes a NUL-terminated nonce; returns its length, -ENOSPC (cap too small)
 * or -EIO (no randomness). bind_ip non-NULL binds the nonce to that client
 * address (it enters the HMAC; it is not carried in the nonce). */
int auth_nonce_make_for(const struct auth_nonce_key *key, uint64_t now_s, const char *bind_ip, char *out,
			size_t cap);
int auth_nonce_make(const struct auth_nonce_key *key, uint64_t now_s, char *out, size_t cap);
/* What a well-signed nonce says about itself. */
struct auth_nonce_info {
	uint64_t issued; /**< UNIX seconds */
	uint64_t tag;    /**< 64 bits of its MAC: keyed, uniform; tells nonces apart */
	uint32_t counter;/**< issue counter of this node: names its replay slot */
	bool bound;      /**< bound to the client address */
};
/* VALID: well-signed (for src_ip when the nonce is bound; NULL src_ip never
 * matches a bound nonce) and issued within lifetime (and not in the future
 * beyond a small skew); STALE: well-signed but too old, or an older format
 * version; INVALID: anything else. info (may be NULL) is filled unless INVALID. */
enum auth_nonce_state auth_nonce_check_from(const struct auth_nonce_key *key, struct slice nonce, uint64_t now_s,
					    const char *src_ip, struct auth_nonce_info *info);
enum auth_nonce_state auth_nonce_check(const struct auth_nonce_key *key, struct slice nonce, uint64_t now_s);

/* Nonce-count replay table (RFC 7616 §3.4 nc, §5.12): a fixed number of slots,
 * each remembering one nonce's highest nc and a 64-bit window below it. A nonce
 * whose slot was taken by another is never trusted again (verdict STALE).
 * Thread-safe (sharded mutexes). */
struct auth_replay;
enum auth_replay_verdict {
	AUTH_REPLAY_FRESH, /**< first use of this (nonce, nc): accepted and recorded */
	AUTH_REPLAY_SEEN,  /**< this (nonce, nc) was accepted before (or nc is 0 / too old) */
	AUTH_REPLAY_STALE, /**< nonce no longer tracked, or one-time nonce already used */
};
/* slots 0 means SW_AUTH_REPLAY_SLOTS. 0, -ENOMEM. */
int auth_replay_new(struct auth_replay **out, unsigned slots);
void auth_replay_free(struct auth_replay *r);
enum auth_replay_verdict auth_replay_use(struct auth_replay *r, const struct auth_nonce_info *nonce, uint32_t nc,
					 bool one_time);

/* An IPv4 or IPv6 network in CIDR form, for trusted (limiter-exempt) sources. */
struct auth_net {
	uint8_t addr[16];
	uint8_t prefix;
	bool v6;
};
/* "10.0.0.0/8", "::1/128" or a bare address. 0 or -EINVAL. */
int auth_net_parse(const char *text, struct auth_net *out);
/* True when the textual address ip lies in net. */
bool auth_net_match(const struct auth_net *net, const char *ip);

#define AUTH_MAX_TRUSTED 16
/* [auth] require lines: a policy is a handful of flags, one per extra column at most. */
#define AUTH_MAX_REQUIRE STORE_MAX_EXTRA_COLS

/* A realm's own minimum algorithm ([auth] realm_min_algorithm); one per served domain at most. */
struct auth_realm_min {
	char realm[SW_MAX_DOMAIN + 1]; /**< lower case */
	int rank;                      /**< auth_algo_rank */
};

/* [auth] require COLUMN=VALUE: checked once the password is proven right. */
struct auth_require {
	unsigned col;                           /**< index into auth_cfg.load_columns */
	char value[STORE_EXTRA_VALUE_MAX + 1];  /**< exact text; "" also matches NULL */
};

/* Every digest setting ([auth] section), read-only after auth_ctx_setup. */
struct auth_cfg {
	const char *secret;           /**< nonce key material; NULL: random per start */
	unsigned nonce_lifetime_s;    /**< 0: SW_DEFAULT_NONCE_LIFETIME */
	enum auth_algo algos[AUTH_ALGO__COUNT]; /**< challenge order of preference */
	unsigned nalgos;
	unsigned qop;                 /**< AUTH_QOP_* offered; 0 = none (RFC 2069 style) */
	bool userhash;                /**< offer userhash=true (RFC 7616 §3.4.4) */
	int min_rank;                 /**< minimum algorithm rank in every realm (auth_algo_rank) */
	struct auth_realm_min realm_min[SW_MAX_DOMAINS]; /**< stricter minimums of single realms */
	unsigned nrealm_min;
	/** extra subscriber columns loaded with the credentials (store_extra_columns_set) */
	char load_columns[STORE_MAX_EXTRA_COLS][STORE_COLUMN_NAME_MAX + 1];
	unsigned nload_columns;
	struct auth_require require[AUTH_MAX_REQUIRE]; /**< all must hold */
	unsigned nrequire;
	bool next_nonce;              /**< nextnonce in Authentication-Info */
	bool one_time_nonce;          /**< a nonce is good for one request */
	bool bind_nonce_to_ip;        /**< nonces carry the client address in their MAC */
	unsigned replay_slots;        /**< nonces tracked at once; 0 = default */
	/* credential cache per worker (credcache.h); either 0 turns it off */
	unsigned cred_cache_size;     /**< entries per worker */
	unsigned cred_cache_ttl_s;    /**< seconds an entry is used */
	/* brute-force limiter (limiter.c) */
	unsigned max_failures;        /**< per (user, source) in the window; 0 disables the limiter */
	unsigned max_source_failures; /**< per source, any user */
	unsigned failure_window_s;
	unsigned block_time_s;
	bool block_drop;              /**< blocked: no answer at all instead of 403 */
	struct auth_net trusted[AUTH_MAX_TRUSTED];
	unsigned ntrusted;
	const char *db_url;           /**< store for the sw_blocks mirror; NULL: none */
};
enum { AUTH_QOP_AUTH = 1u, AUTH_QOP_AUTH_INT = 2u };
/* Defaults as documented in the README's config reference. */
void auth_cfg_defaults(struct auth_cfg *cfg);
/* Parsers for the list-valued settings. 0 or -EINVAL with *why set. */
int auth_cfg_set_algorithms(struct auth_cfg *cfg, const char *list, const char **why);
int auth_cfg_set_qop(struct auth_cfg *cfg, const char *list, const char **why);
int auth_cfg_set_min_algorithm(struct auth_cfg *cfg, const char *name, const char **why);
int auth_cfg_set_trusted(struct auth_cfg *cfg, const char *list, const char **why);
/* "REALM ALGORITHM" (e.g. "example.com SHA-256"): that realm's minimum; a realm given twice is refused. */
int auth_cfg_add_realm_min_algorithm(struct auth_cfg *cfg, const char *value, const char **why);
/* Comma-separated column names added to the loaded set (store_column_name_ok; at
 * most STORE_MAX_EXTRA_COLS in all; a name listed twice on one line is refused). */
int auth_cfg_add_load_columns(struct auth_cfg *cfg, const char *list, const char **why);
/* "COLUMN=VALUE": the column (added to the loaded set when absent) must hold VALUE. */
int auth_cfg_add_require(struct auth_cfg *cfg, const char *value, const char **why);
/* Cross-setting checks once every setting is read: each minimum (global and
 * per realm) leaves at least one configured algorithm to offer. 0 or -EINVAL
 * with *why set (static text, or a per-thread buffer naming the realm). */
int auth_cfg_check(const struct auth_cfg *cfg, const char **why);

/* Brute-force limiter (limiter.c): failures per (user, source) and per source
 * within a window, in a fixed-size table (least recently touched entry
 * overwritten, blocked entries last). Thread-safe. */
struct auth_limiter;
enum auth_limit { AUTH_LIMIT_PASS, AUTH_LIMIT_SLOW, AUTH_LIMIT_BLOCKED };

struct auth_blocksync;

/* Per-daemon authentication state: settings and keys are read-only after
 * start; the replay table and the limiter behind the pointers are shared by
 * all workers and lock internally. */
struct auth_ctx {
	struct auth_nonce_key nonce_key;
	char opaque[48];          /**< fixed per server, echoed by clients */
	uint8_t dummy_salt[16];   /**< makes unknown-user work equal to a real check */
	struct auth_cfg cfg;      /**< copy; cfg.secret and cfg.db_url are NULL afterwards */
	struct auth_replay *replay;
	struct auth_limiter *limiter; /**< NULL when max_failures is 0 */
	struct auth_blocksync *sync;  /**< sw_blocks mirror thread, NULL without db_url */
	/* First-use records left to a writer thread (see auth_pinq below); NULL:
	 * written at once. Not owned: set and freed by whoever drains it. */
	struct auth_pinq *pins;
};
/* Queue of first-use algorithm records that refuse nothing (MD5 logins,
 * kept for reports), written in batches by one writer thread so the worker
 * answering a first login does not wait for a store write. Thread-safe push;
 * one flusher at a time. Pins that refuse a weaker algorithm never go here. */
struct auth_pinq;
int auth_pinq_new(struct auth_pinq **out);
void auth_pinq_free(struct auth_pinq *q);
/* Queue a raise of user@domain's pin to rank: 0, -ENOSPC when full (SW_MAX_PIN_QUEUE), -EINVAL
 * for a name too long to record. The caller writes it at once on failure. */
int auth_pinq_push(struct auth_pinq *q, const char *user, const char *domain, int rank);
/* Records waiting. */
size_t auth_pinq_len(struct auth_pinq *q);
/* Write every queued record to store in one transaction (raises only; users
 * deleted meanwhile are skipped). 0, or the store error with the records
 * queued again as room allows. */
int auth_pinq_flush(struct auth_pinq *q, struct store *store);

/* Set up ctx from cfg: keys, replay table, limiter and (with cfg->db_url) the
 * thread mirroring blocks to the store; registers cfg's load_columns with the
 * store layer for the whole process (store_extra_columns_set), so call it
 * before the daemon opens its stores. 0, -EINVAL, -ENOMEM or -errno; on
 * failure nothing is left to free. Release with auth_ctx_fini. */
int auth_ctx_setup(struct auth_ctx *ctx, const struct auth_cfg *cfg);
/* Minimum algorithm rank in realm: the strictest of [auth] min_algorithm and
 * the realm's own realm_min_algorithm (realms compare case-insensitively). A
 * user's minimum and pin apply on top, once the user is known. */
int auth_min_rank(const struct auth_ctx *ctx, struct slice realm);

/* A 32-byte key for another use of the node's secret: HMAC-SHA256 of label
 * under the nonce key, so nodes sharing [auth] secret derive the same key and
 * a random secret gives a key that lasts until the next start. */
void auth_ctx_derive_key(const struct auth_ctx *ctx, const char *label, uint8_t out[AUTH_SHA256_LEN]);

/* auth_ctx_setup with the defaults and this secret and lifetime. */
int auth_ctx_init(struct auth_ctx *ctx, const char *secret, unsigned nonce_lifetime_s);
/* Stop the mirror thread, free the tables, wipe the keys. NULL-safe, idempotent. */
void auth_ctx_fini(struct auth_ctx *ctx);

enum auth_verdict {
	AUTH_OK,          /**< response proven right and policy passed; result->cred loaded */
	AUTH_CHALLENGE,   /**< no credentials for this realm: send a challenge */
	AUTH_STALE,       /**< right answer to an expired or untracked nonce: challenge stale=true */
	AUTH_DENIED,      /**< unknown user OR wrong password OR bad nonce (one verdict) */
	AUTH_REPLAYED,    /**< this (nonce, nc) was already accepted: fresh challenge, stale=false */
	AUTH_FORBIDDEN,   /**< password proven right, account refused: 403 result->reason */
	AUTH_BLOCKED,     /**< source (or user from it) blocked: 403, or no answer (auth_block_drops) */
	AUTH_SLOWED,      /**< source near its limit, retrying too fast: send no answer */
	AUTH_MALFORMED,   /**< unparseable credentials for our realm: 400 */
	AUTH_UNAVAILABLE, /**< store failure: 500/503 with Retry-After */
};

struct auth_result {
	struct slice username; /**< auth username as sent (view into the message; a hash with userhash) */
	struct store_cred cred;/**< loaded on AUTH_OK; wipe after use */
	const char *detail;    /**< short log text ("nonce invalid", "user unknown or bad password") */
	const char *reason;    /**< AUTH_FORBIDDEN / AUTH_BLOCKED: reason phrase for the 403 */
	/* AUTH_OK: what Authentication-Info needs (RFC 7616 §3.5) */
	enum auth_algo algo;
	struct slice qop, nc, cnonce; /**< views into the message */
	char rspauth[SW_MAX_HASH_HEX + 1];
	/* The header whose credentials (for our realm) were checked, in the
	 * request's index; NULL when none was. Lets a proxy drop it unparsed. */
	const struct sip_hdr *cred_hdr;
};

/* One request to authenticate. */
struct auth_req {
	const struct sip_msg *msg;
	enum sip_hdr_id hdr;    /**< SIP_HDR_AUTHORIZATION or SIP_HDR_PROXY_AUTHORIZATION */
	struct slice realm;     /**< ours, lower case */
	const char *src_ip;     /**< textual source address; NULL: no limiter, no address binding */
	uint64_t now_s;
	struct auth_credcache *creds; /**< the calling worker's credential cache; NULL: none */
};

/* Verify the credentials in req->hdr of req->msg for req->realm, using store
 * for the subscriber (the policy columns come in the same query). Only
 * credentials whose realm equals ours are considered. In order: limiter
 * (BLOCKED/SLOWED), shape (MALFORMED/CHALLENGE), nonce, digest (DENIED: an
 * unknown user costs the same work and gets the same verdict and detail as a
 * wrong password), nonce-count (REPLAYED/STALE), then, only once the password
 * is proven right, account policy (FORBIDDEN: disabled or failing an [auth]
 * require, locked, expired, or an algorithm below the realm's or user's
 * minimum or downgrade pin). DENIED is counted by the limiter and logged as a
 * security event. A successful SHA login raises the user's pin in the store
 * before returning (one write, only when it rises); a user's first MD5 login,
 * which pins nothing, is queued on ctx->pins when set. Synchronous: up to
 * three store calls. With req->creds, subscriber rows come from that cache
 * when it has them; a failure decided from a cached row is decided again
 * from the store (one more lookup, the same for an unknown user as for a
 * wrong password), so only a success can rest on a cached row. */
enum auth_verdict auth_verify(const struct auth_ctx *ctx, struct store *store, const struct auth_req *req,
			      struct auth_result *result);
/* auth_verify without a source address (no limiter, no address binding). */
enum auth_verdict auth_check(const struct auth_ctx *ctx, struct store *store, const struct sip_msg *msg,
			     enum sip_hdr_id hdr, struct slice realm, uint64_t now_s,
			     struct auth_result *result);
/* True when AUTH_BLOCKED must be answered by silence ([auth] block_response = drop). */
bool auth_block_drops(const struct auth_ctx *ctx);

/* Append the challenge lines for realm: one WWW-Authenticate (or, when proxy,
 * Proxy-Authenticate) per configured algorithm in order of preference, sharing
 * one fresh nonce (bound to src_ip when so configured; src_ip may be NULL).
 * 0, -ENOSPC, -EINVAL (empty realm or control characters in it) or -EIO. */
int auth_challenge_add(const struct auth_ctx *ctx, struct slice realm, bool stale, bool proxy, const char *src_ip,
		       uint64_t now_s, struct sip_buf *out);
int auth_challenge_build(const struct auth_ctx *ctx, struct slice realm, bool stale, bool proxy,
			 uint64_t now_s, struct sip_buf *out);

/* Append "Authentication-Info: ..." (RFC 7616 §3.5, RFC 2617 §3.2.3; with
 * proxy "Proxy-Authentication-Info", RFC 7615) for an AUTH_OK result: rspauth,
 * qop, nc and cnonce, and a nextnonce when [auth] next_nonce is on. Nothing
 * for an RFC 2069 answer without nextnonce. 0, -ENOSPC or -EIO. */
int auth_info_add(const struct auth_ctx *ctx, const struct auth_result *res, bool proxy, const char *src_ip,
		  uint64_t now_s, struct sip_buf *out);

/* Identity check (seed 001: REGISTER's To user, other requests' From user,
 * must be the authenticated user; Kamailio's check_to/check_from): 0 when
 * claimed (user@host of the To or From URI) is auth_user@realm itself, or an
 * alias granted to it in the store's sw_alias table (sipwarden-ctl alias add);
 * -EPERM when not; -EAGAIN or -EIO when the store fails. auth_user may be
 * "user@domain" (Kamailio's ha1b form): the domain must then be the realm.
 * For the proxy's From check as well as the registrar's To check. */
int auth_identity_check(struct store *store, struct slice auth_user, struct slice realm,
			const struct sip_uri *claimed);

/* Security events (one line each, stable key=value, see contrib/fail2ban):
 * a value from the network is copied with everything but [A-Za-z0-9._@+-]
 * %-escaped and cut at 64 bytes, so it can neither break the line nor forge
 * a key. Writes a NUL-terminated string into out (cap >= 4). */
void auth_log_value(struct slice v, char *out, size_t cap);

/* Limiter API (used by auth_verify; exposed for tests and other callers). */
int auth_limiter_new(struct auth_limiter **out, const struct auth_cfg *cfg);
void auth_limiter_free(struct auth_limiter *l);
/* Before verifying: the state of src_ip (and user from it, when user.len). */
enum auth_limit auth_limiter_check(struct auth_limiter *l, const char *src_ip, struct slice user, uint64_t now_s);
/* Count a failed attempt; may start a block (logged as event=blocked). */
void auth_limiter_fail(struct auth_limiter *l, const char *src_ip, struct slice user, uint64_t now_s);
/* Lift blocks: src_ip with user (user NULL: every entry of src_ip). Returns how many. */
unsigned auth_limiter_lift(struct auth_limiter *l, const char *src_ip, const char *user, const char *why);

#endif
