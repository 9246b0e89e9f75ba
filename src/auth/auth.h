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

/* Stateless nonces: base64url(version | flags | issued (u64 BE) | random(4) |
 * HMAC-SHA256(secret, preceding bytes)[0..15]). No table grows with traffic. */
struct auth_nonce_key {
	uint8_t secret[32];
	unsigned lifetime_s;
};
enum auth_nonce_state { AUTH_NONCE_VALID, AUTH_NONCE_STALE, AUTH_NONCE_INVALID };
/* Key from a configured secret string (HMAC-derived), or random when secret is NULL.
 * lifetime_s 0 means SW_DEFAULT_NONCE_LIFETIME. 0, -EINVAL (empty secret) or
 * -errno from the random source. */
int auth_nonce_key_init(struct auth_nonce_key *key, const char *secret, unsigned lifetime_s);
/* Writes a NUL-terminated nonce (40 chars); returns its length, -ENOSPC
 * (cap < 41) or -EIO (no randomness). */
int auth_nonce_make(const struct auth_nonce_key *key, uint64_t now_s, char *out, size_t cap);
/* VALID: well-signed and issued within lifetime (and not in the future beyond
 * a small skew); STALE: well-signed but too old; INVALID: anything else. */
enum auth_nonce_state auth_nonce_check(const struct auth_nonce_key *key, struct slice nonce, uint64_t now_s);

/* Per-daemon authentication settings, read-only after start. */
struct auth_ctx {
	struct auth_nonce_key nonce_key;
	char opaque[48];          /**< fixed per server, echoed by clients */
	uint8_t dummy_salt[16];   /**< makes unknown-user work equal to a real check */
};
int auth_ctx_init(struct auth_ctx *ctx, const char *secret, unsigned nonce_lifetime_s);

enum auth_verdict {
	AUTH_OK,          /**< response proven right; result->cred loaded */
	AUTH_CHALLENGE,   /**< no credentials for this realm: send a challenge */
	AUTH_STALE,       /**< right answer to an expired nonce: challenge stale=true */
	AUTH_DENIED,      /**< unknown user OR wrong password OR bad nonce (one verdict) */
	AUTH_MALFORMED,   /**< unparseable credentials for our realm: 400 */
	AUTH_UNAVAILABLE, /**< store failure: 500/503 with Retry-After */
};

struct auth_result {
	struct slice username; /**< auth username (view into the message) */
	struct store_cred cred;/**< loaded on AUTH_OK; wipe after use */
	const char *detail;    /**< short log text ("nonce invalid", "user unknown or bad password") */
};

/* Verify the credentials in hdr (SIP_HDR_AUTHORIZATION or
 * SIP_HDR_PROXY_AUTHORIZATION) of msg for realm, using store for the
 * subscriber. Only credentials whose realm equals realm are considered.
 * The work done for an unknown user equals that for a wrong password. */
enum auth_verdict auth_check(const struct auth_ctx *ctx, struct store *store, const struct sip_msg *msg,
			     enum sip_hdr_id hdr, struct slice realm, uint64_t now_s,
			     struct auth_result *result);

/* Append a complete challenge header line ("WWW-Authenticate: Digest ...\r\n"
 * or "Proxy-Authenticate: ..." when proxy) with a fresh nonce to out.
 * 0, -ENOSPC, -EINVAL (empty realm or control characters in it) or -EIO. */
int auth_challenge_build(const struct auth_ctx *ctx, struct slice realm, bool stale, bool proxy,
			 uint64_t now_s, struct sip_buf *out);

#endif
