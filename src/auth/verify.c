/* Digest credential verification for REGISTER and proxied requests (RFC 3261
 * §22.2-22.3, RFC 2617 §3.2.2 and §3.2.2.5, RFC 7616 §3.4, RFC 8760). Limiter
 * first, then the credentials for our realm: shape, algorithm offered, nonce
 * (and its client address), opaque and digest-uri, the response against the
 * HA1 of the chosen hash family (user found by name or by userhash, §3.4.4),
 * then nonce-count replay and, only once the password is proven right, the
 * account policy. An unknown user costs the same hashing as a wrong password
 * and yields the same verdict and detail. Rows may come from the worker's
 * credential cache: a failure (unknown user, wrong answer, account refused)
 * decided from a cached row is decided again from a fresh store read, so
 * only a change that turns a success into a failure can wait for the TTL. */
#include "auth/auth_int.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/util.h"

#define DETAIL_BAD_CRED "user unknown or bad password"

/* Compare a quoted-string value as received (backslash escapes kept) with our
 * realm, case-insensitively: realms here are domains. */
static bool realm_eq(struct slice raw, struct slice ours)
{
	size_t j = 0;

	if (raw.len == 0)
		return false;
	for (size_t i = 0; i < raw.len; i++, j++) {
		char c = raw.p[i];

		if (c == '\\' && i + 1 < raw.len)
			c = raw.p[++i];
		if (j >= ours.len || tolower((unsigned char)c) != tolower((unsigned char)ours.p[j]))
			return false;
	}
	return j == ours.len;
}

/* Best-effort realm of a header the sip parser refused, so that garbage meant
 * for another hop does not stop us. false when no realm can be seen. */
static bool find_realm(struct slice v, struct slice *out)
{
	for (size_t i = 0; i + 5 <= v.len; i++) {
		size_t j = i + 5;

		if (strncasecmp(v.p + i, "realm", 5) != 0)
			continue;
		if (i && v.p[i - 1] != ' ' && v.p[i - 1] != '\t' && v.p[i - 1] != ',')
			continue;
		while (j < v.len && (v.p[j] == ' ' || v.p[j] == '\t'))
			j++;
		if (j >= v.len || v.p[j] != '=')
			continue;
		j++;
		while (j < v.len && (v.p[j] == ' ' || v.p[j] == '\t'))
			j++;
		if (j < v.len && v.p[j] == '"') {
			size_t k = ++j;

			while (k < v.len && v.p[k] != '"')
				k += v.p[k] == '\\' ? 2 : 1;
			*out = slice_from(v.p + j, (k < v.len ? k : v.len) - j);
		} else {
			size_t k = j;

			while (k < v.len && v.p[k] != ',' && v.p[k] != ' ' && v.p[k] != '\t')
				k++;
			*out = slice_from(v.p + j, k - j);
		}
		return true;
	}
	return false;
}

static bool all_hex(struct slice s)
{
	for (size_t i = 0; i < s.len; i++)
		if (!isxdigit((unsigned char)s.p[i]))
			return false;
	return true;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Next character of a URI user part with %HH decoded (RFC 3261 §19.1.4). */
static int user_char(struct slice s, size_t *i)
{
	char c = s.p[(*i)++];

	if (c == '%' && *i + 1 < s.len && unhex(s.p[*i]) >= 0 && unhex(s.p[*i + 1]) >= 0) {
		c = (char)(unhex(s.p[*i]) << 4 | unhex(s.p[*i + 1]));
		*i += 2;
	}
	return (unsigned char)c;
}

static bool user_eq(struct slice a, struct slice b)
{
	size_t i = 0, j = 0;

	while (i < a.len && j < b.len)
		if (user_char(a, &i) != user_char(b, &j))
			return false;
	return i == a.len && j == b.len;
}

static unsigned uri_port(const struct sip_uri *u)
{
	if (u->port || !u->is_sip)
		return u->port;
	return u->is_sips ? 5061 : 5060;
}

/* RFC 2617 §3.2.2.5: the digest-uri must name the Request-URI. Lenient for
 * phones: case-insensitive scheme and host, %-escapes decoded in the user part,
 * default port implied, URI parameters and headers ignored. */
static bool uri_matches(const struct sip_msg *msg, struct slice uri)
{
	const struct sip_uri *r = &msg->ruri;
	struct sip_uri u;

	if (slice_eq(uri, msg->ruri_str))
		return true;
	if (sip_uri_parse(&u, uri))
		return false;
	return slice_caseeq(u.scheme, r->scheme) && user_eq(u.user, r->user) &&
	       slice_caseeq(u.host, r->host) && uri_port(&u) == uri_port(r);
}

/* Copy a stored hex HA1 lower-cased; false when it does not fit the algorithm. */
static bool take_stored(const char *stored, size_t hexlen, char *out)
{
	size_t n = strlen(stored);

	if (n != hexlen)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)stored[i]);
	out[n] = '\0';
	return true;
}

struct check {
	const struct auth_ctx *ctx;
	struct store *store;
	struct auth_credcache *creds; /* NULL: every row from the store */
	bool cached;                  /* a row (or its absence) came from creds */
	bool fresh;                   /* deciding again: skip creds */
	enum auth_cred_by by;         /* how the row in res->cred was found */
	struct slice by_user;         /* ... and with what text */
	const struct sip_msg *msg;
	struct slice realm;   /* ours: the domain */
	uint64_t now_s;
	const char *src_ip;
	struct auth_nonce_info info;
	struct auth_result *res;
	struct sip_digest_cred c;
	enum auth_algo algo;
	size_t hexlen;
	struct slice derive_user, derive_realm; /* load_ha1 LOAD_PASSWORD: HA1 inputs */
	/* secrets, wiped on every exit */
	char dummy[SW_MAX_HASH_HEX + 1];
	char ha1[SW_MAX_HASH_HEX + 1];
	char calc[SW_MAX_HASH_HEX + 1];
	char given[SW_MAX_HASH_HEX + 1];
};

static enum auth_verdict verdict(struct check *k, enum auth_verdict v, const char *detail)
{
	k->res->detail = detail;
	if (v != AUTH_OK)
		store_cred_wipe(&k->res->cred);
	base_wipe(k->dummy, sizeof(k->dummy));
	base_wipe(k->ha1, sizeof(k->ha1));
	base_wipe(k->calc, sizeof(k->calc));
	base_wipe(k->given, sizeof(k->given));
	return v;
}

/* The stored HA1 (or HA1b) of the algorithm's hash family. */
static const char *stored_ha1(const struct store_cred *c, int rank, bool b)
{
	switch (rank) {
	case STORE_HASH_SHA256:
		return b ? c->ha1b_sha256 : c->ha1_sha256;
	case STORE_HASH_SHA512_256:
		return b ? c->ha1b_sha512t256 : c->ha1_sha512t256;
	default:
		return b ? c->ha1b : c->ha1;
	}
}

enum { LOAD_NONE = 0, LOAD_STORED = 1, LOAD_PASSWORD = 2 };

/* One subscriber lookup into res->cred, through the cache unless deciding
 * again. The store's answer (0, -ENOENT or an error). */
static int get_cred(struct check *k, enum auth_cred_by by, struct slice user)
{
	bool hit;
	int rc = auth_credcache_lookup(k->creds, k->store, by, user, k->realm, k->fresh, &k->res->cred, &hit);

	k->cached |= hit;
	k->by = by;
	k->by_user = user;
	return rc;
}

/* Load the subscriber into res->cred. LOAD_STORED: its HA1 is in k->ha1;
 * LOAD_PASSWORD: only a cleartext password, the HA1 is to be derived from
 * k->derive_user and k->derive_realm (the caller does it, so every path makes
 * the same one derivation); LOAD_NONE: unknown or unusable (the caller uses
 * the dummy); <0: store fault. Kamailio's ha1b: a username "user@domain" is
 * looked up as user and answered with ha1b = H(user@domain:realm:password).
 * With userhash the username is H(user:realm) and finds the row through its
 * indexed column. */
static int load_ha1(struct check *k)
{
	struct store_cred *cred = &k->res->cred;
	struct slice user = k->c.username, rrealm = k->c.realm;
	const char *at = memchr(user.p, '@', user.len);
	int rank = auth_algo_rank(k->algo);
	bool via_b = false;
	int rc;

	if (memchr(user.p, '\\', user.len))
		return 0; /* escaped quotes in a username: no such subscriber can exist */
	if (k->c.userhash_true) {
		rc = get_cred(k, (enum auth_cred_by)(AUTH_CRED_BY_USERHASH + rank), user);
		if (rc == -ENOENT || rc == -EINVAL)
			return 0;
		if (rc)
			return rc;
		if (take_stored(stored_ha1(cred, rank, false), k->hexlen, k->ha1))
			return LOAD_STORED;
		if (cred->password[0]) {
			k->derive_user = slice_cstr(cred->username);
			k->derive_realm = k->realm;
			return LOAD_PASSWORD;
		}
		return LOAD_NONE;
	}
	rc = get_cred(k, AUTH_CRED_BY_NAME, user);
	if (rc == -ENOENT && at && at > user.p &&
	    slice_caseeq(slice_from(at + 1, (size_t)(user.p + user.len - at - 1)), k->realm)) {
		via_b = true;
		rc = get_cred(k, AUTH_CRED_BY_NAME, slice_from(user.p, (size_t)(at - user.p)));
	}
	if (rc == -ENOENT || rc == -EINVAL)
		return 0; /* -EINVAL: over-long name, cannot exist either */
	if (rc)
		return rc;

	if (take_stored(stored_ha1(cred, rank, via_b), k->hexlen, k->ha1))
		return LOAD_STORED;
	if (cred->password[0]) {
		/* The client hashed the realm it was given; ours modulo case. */
		if (memchr(rrealm.p, '\\', rrealm.len))
			rrealm = k->realm;
		k->derive_user = user;
		k->derive_realm = rrealm;
		return LOAD_PASSWORD;
	}
	return LOAD_NONE; /* row without any usable secret: cannot authenticate */
}

/* The algorithm is one we offer in realm (not below its minimum). */
static bool offered(const struct auth_ctx *ctx, struct slice realm, enum auth_algo a)
{
	for (unsigned i = 0; i < ctx->cfg.nalgos; i++)
		if (ctx->cfg.algos[i] == a)
			return auth_algo_rank(a) >= auth_min_rank(ctx, realm);
	return false;
}

static uint32_t parse_nc(struct slice nc)
{
	uint32_t v = 0;

	for (size_t i = 0; i < nc.len; i++)
		v = v << 4 | (uint32_t)unhex(nc.p[i]);
	return v;
}

enum { PROVEN = 0, NOT_PROVEN = 1 };

/* Load the subscriber and compare the response with the one its HA1 gives.
 * PROVEN, NOT_PROVEN (unknown user, unusable row or wrong answer), -EPROTO
 * (the qop cannot be computed) or the store's error. */
static int prove(struct check *k)
{
	struct sip_digest_cred *c = &k->c;
	struct auth_digest_in in;
	char salt_hex[2 * sizeof(k->ctx->dummy_salt) + 1];
	bool len_ok, match;
	int usable;

	/* One store lookup on every path (two for the "user@domain" form, known
	 * or not), then exactly one HA1 derivation on every path: from the
	 * cleartext password when that is all the row has, else the dummy HA1 =
	 * H(username:realm:hex(salt)) with the per-start random salt, which an
	 * unknown user is then answered against. A known user with a stored HA1,
	 * one with a password and an unknown one thus cost the same hashing. */
	usable = load_ha1(k);
	if (usable < 0)
		return usable;
	base_hex(k->ctx->dummy_salt, sizeof(k->ctx->dummy_salt), salt_hex);
	if (usable == LOAD_PASSWORD)
		auth_digest_ha1(k->algo, k->derive_user, k->derive_realm, slice_cstr(k->res->cred.password), k->ha1);
	else
		auth_digest_ha1(k->algo, c->username, k->realm, slice_from(salt_hex, sizeof(salt_hex) - 1), k->dummy);
	base_wipe(salt_hex, sizeof(salt_hex));
	if (usable == LOAD_NONE)
		memcpy(k->ha1, k->dummy, sizeof(k->ha1));

	in = (struct auth_digest_in){
		.algo = k->algo,
		.ha1 = slice_from(k->ha1, k->hexlen),
		.nonce = c->nonce,
		.nc = c->nc,
		.cnonce = c->cnonce,
		.qop = c->qop,
		.method = k->msg->method_name,
		.uri = c->uri,
		.body = k->msg->body,
	};
	if (auth_digest_response(&in, k->calc))
		return -EPROTO;

	/* Hex may arrive in upper case; a wrong length still pays for a compare. */
	len_ok = c->response.len == k->hexlen;
	for (size_t i = 0; i < k->hexlen; i++)
		k->given[i] = len_ok ? (char)tolower((unsigned char)c->response.p[i]) : k->calc[i];
	match = base_ct_equal(k->calc, k->given, k->hexlen);
	return (match & len_ok & (usable != LOAD_NONE)) ? PROVEN : NOT_PROVEN;
}

static enum auth_verdict proof_error(struct check *k, int err)
{
	if (err == -EPROTO)
		return verdict(k, AUTH_MALFORMED, "bad qop");
	return verdict(k, AUTH_UNAVAILABLE, "store unavailable");
}

/* The password is proven right: account state and algorithm policy, the
 * downgrade pin, and rspauth for Authentication-Info. */
static enum auth_verdict policy(struct check *k)
{
	struct store_cred *cred = &k->res->cred;
	const char *why = NULL, *refusal;
	int rank = auth_algo_rank(k->algo);
	struct auth_digest_in in;
	char u[200];

	if (k->c.userhash_true)
		k->res->username = slice_cstr(cred->username);
	refusal = auth_policy_refusal(k->ctx, cred, k->realm, k->algo, k->now_s, &why);
	if (refusal && k->cached && !k->fresh) {
		/* Refused on a cached row: the account may have been enabled since. */
		int proven;

		k->fresh = true;
		proven = prove(k);
		if (proven < 0)
			return proof_error(k, proven);
		if (proven == NOT_PROVEN)
			return verdict(k, AUTH_DENIED, DETAIL_BAD_CRED);
		if (k->c.userhash_true)
			k->res->username = slice_cstr(cred->username);
		refusal = auth_policy_refusal(k->ctx, cred, k->realm, k->algo, k->now_s, &why);
	}
	if (refusal) {
		auth_log_value(k->res->username, u, sizeof(u));
		log_security("account_refused", "src=%s user=\"%s\" realm=\"%.*s\" reason=%s algorithm=%s",
			     k->src_ip ? k->src_ip : "-", u, (int)k->realm.len, k->realm.p, why,
			     auth_algo_name(k->algo));
		k->res->reason = refusal;
		return verdict(k, AUTH_FORBIDDEN, why);
	}
	/* Downgrade pin: written only when the strongest family used rises. A
	 * first MD5 login refuses nothing later (no rank is below MD5's), so that
	 * record may wait for the write-back thread; a stronger pin is written
	 * before the answer, so no worker accepts a weaker login after it. */
	if (rank > cred->pin_algo) {
		int err = -ENOSPC;

		if (rank == STORE_HASH_MD5 && k->ctx->pins)
			err = auth_pinq_push(k->ctx->pins, cred->username, cred->domain, rank);
		if (err)
			err = store_user_raise_pin(k->store, cred->username, cred->domain, rank);
		if (err && err != -ENOENT)
			LOG_WARN("auth: cannot record the algorithm used by a subscriber: %s", strerror(-err));
		/* Cached rows must not let a weaker login through on any worker: a
		 * pin that refuses something empties every cache; an MD5 one, which
		 * refuses nothing, only updates ours (so it is not queued again). */
		if (!err && rank > STORE_HASH_MD5)
			auth_credcache_flush_all();
		else if (!err)
			auth_credcache_note_pin(k->creds, k->by, k->by_user, k->realm, rank);
	}
	/* RFC 2617 §3.2.3 / RFC 7616 §3.5: rspauth has an empty method. */
	in = (struct auth_digest_in){
		.algo = k->algo,
		.ha1 = slice_from(k->ha1, k->hexlen),
		.nonce = k->c.nonce,
		.nc = k->c.nc,
		.cnonce = k->c.cnonce,
		.qop = k->c.qop,
		.method = slice_from("", 0),
		.uri = k->c.uri,
		.body = slice_from("", 0),
	};
	if (k->c.qop.len && auth_digest_response(&in, k->res->rspauth) == 0) {
		k->res->qop = k->c.qop;
		k->res->nc = k->c.nc;
		k->res->cnonce = k->c.cnonce;
	}
	k->res->algo = k->algo;
	return verdict(k, AUTH_OK, "ok");
}

static enum auth_verdict check_cred(struct check *k)
{
	struct sip_digest_cred *c = &k->c;
	enum auth_nonce_state ns;
	int proven;

	/* A view into the message, kept on every verdict for security logs. */
	k->res->username = c->username;
	if (!c->username.len || !c->nonce.len || !c->uri.len || !c->response.len)
		return verdict(k, AUTH_MALFORMED, "missing digest parameter");
	if (c->userhash_true && !k->ctx->cfg.userhash)
		return verdict(k, AUTH_MALFORMED, "userhash not offered");
	if (auth_algo_parse(c->algorithm, &k->algo))
		return verdict(k, AUTH_CHALLENGE, "algorithm unsupported");
	if (!offered(k->ctx, k->realm, k->algo))
		return verdict(k, AUTH_CHALLENGE, "algorithm not offered");
	k->hexlen = auth_algo_hexlen(k->algo);
	if (c->qop.len) {
		/* RFC 2617 §3.2.2: with qop, nc and cnonce are mandatory. */
		if (!slice_caseeq_cstr(c->qop, "auth") && !slice_caseeq_cstr(c->qop, "auth-int"))
			return verdict(k, AUTH_MALFORMED, "bad qop");
		if (c->nc.len != 8 || !all_hex(c->nc) || !c->cnonce.len)
			return verdict(k, AUTH_MALFORMED, "bad nc or cnonce");
	} else if (auth_algo_is_sess(k->algo) && !c->cnonce.len) {
		return verdict(k, AUTH_MALFORMED, "bad nc or cnonce");
	}
	if (c->opaque.len && !slice_eq_cstr(c->opaque, k->ctx->opaque))
		return verdict(k, AUTH_DENIED, "opaque mismatch");
	if (!k->msg->is_request)
		return verdict(k, AUTH_MALFORMED, "not a request");
	if (!uri_matches(k->msg, c->uri))
		return verdict(k, AUTH_DENIED, "digest-uri mismatch");
	ns = auth_nonce_check_from(&k->ctx->nonce_key, c->nonce, k->now_s, k->src_ip, &k->info);
	if (ns == AUTH_NONCE_INVALID)
		return verdict(k, AUTH_DENIED, "nonce invalid");
	if (k->ctx->cfg.bind_nonce_to_ip && !k->info.bound && k->src_ip)
		return verdict(k, AUTH_DENIED, "nonce not bound to the client address");

	/* Decided from a cached row, a failure is decided again from the store:
	 * the password or the user may be new. Unknown user and wrong password
	 * both take this second round, at the same cost. */
	proven = prove(k);
	if (proven == NOT_PROVEN && k->cached) {
		k->fresh = true;
		proven = prove(k);
	}
	if (proven < 0)
		return proof_error(k, proven);
	if (proven == NOT_PROVEN)
		return verdict(k, AUTH_DENIED, DETAIL_BAD_CRED);
	if (ns == AUTH_NONCE_STALE)
		return verdict(k, AUTH_STALE, "nonce stale");

	/* RFC 7616 §3.4: nc counts the requests on one nonce; without qop (RFC
	 * 2069) a nonce is good for one request, counted as nc 1. */
	switch (auth_replay_use(k->ctx->replay, &k->info, c->qop.len ? parse_nc(c->nc) : 1,
				k->ctx->cfg.one_time_nonce)) {
	case AUTH_REPLAY_FRESH:
		break;
	case AUTH_REPLAY_SEEN:
		return verdict(k, AUTH_REPLAYED, "nonce-count replayed");
	case AUTH_REPLAY_STALE:
		return verdict(k, AUTH_STALE, "nonce no longer tracked");
	}
	return policy(k);
}

static enum auth_verdict find_cred(struct check *k, enum sip_hdr_id hdr)
{
	const struct sip_hdr *h;

	/* RFC 3261 §22.3: several hops may have challenged; use the first
	 * credentials for our realm, leave the others for their owners. */
	for (h = sip_msg_hdr(k->msg, hdr); h; h = sip_msg_hdr_next(k->msg, h)) {
		struct slice r;

		if (h->id != hdr)
			continue;
		/* Other schemes belong to someone else (RFC 4475 §3.3.12 regaut01). */
		struct slice v = slice_trim(h->value);
		if (v.len < 7 || strncasecmp(v.p, "Digest", 6) != 0 || (v.p[6] != ' ' && v.p[6] != '\t'))
			continue;
		if (sip_digest_cred_parse(&k->c, h->value) == 0) {
			if (!k->c.realm.len)
				return verdict(k, AUTH_MALFORMED, "malformed credentials");
			if (realm_eq(k->c.realm, k->realm)) {
				k->res->cred_hdr = h;
				/* (user, source) blocks apply before any work on the answer. */
				if (k->ctx->limiter && k->src_ip) {
					enum auth_limit l = auth_limiter_check(k->ctx->limiter, k->src_ip,
									       k->c.username, k->now_s);
					k->res->username = k->c.username;
					if (l == AUTH_LIMIT_BLOCKED) {
						k->res->reason = "Forbidden";
						return verdict(k, AUTH_BLOCKED, "blocked");
					}
					if (l == AUTH_LIMIT_SLOW)
						return verdict(k, AUTH_SLOWED, "slowed");
				}
				return check_cred(k);
			}
			continue;
		}
		if (find_realm(h->value, &r) && r.len && !realm_eq(r, k->realm))
			continue;
		return verdict(k, AUTH_MALFORMED, "malformed credentials");
	}
	return verdict(k, AUTH_CHALLENGE, "no credentials for realm");
}

/* Verdict for the credentials of our realm in the request (see auth.h). On
 * AUTH_OK result->cred holds the row (wipe it after use) and result->username
 * views the message (or, with userhash, result->cred.username); otherwise
 * result->cred is wiped. result->detail is static text safe to log. */
enum auth_verdict auth_verify(const struct auth_ctx *ctx, struct store *store, const struct auth_req *req,
			      struct auth_result *result)
{
	struct check k = { .ctx = ctx, .store = store, .creds = req->creds, .msg = req->msg, .realm = req->realm, .now_s = req->now_s,
			   .src_ip = req->src_ip, .res = result };
	enum auth_verdict v;

	memset(result, 0, sizeof(*result));
	/* A blocked source gets no work at all, whatever it sends. */
	if (ctx->limiter && req->src_ip) {
		enum auth_limit l = auth_limiter_check(ctx->limiter, req->src_ip, slice_from("", 0), req->now_s);

		if (l == AUTH_LIMIT_BLOCKED) {
			result->reason = "Forbidden";
			return verdict(&k, AUTH_BLOCKED, "blocked");
		}
	}
	v = find_cred(&k, req->hdr);
	if (v == AUTH_DENIED) {
		char u[200];

		auth_log_value(result->username, u, sizeof(u));
		/* src first: fail2ban's filter anchors on it (contrib/fail2ban). */
		log_security("auth_failed", "src=%s user=\"%s\" realm=\"%.*s\" method=%.*s reason=\"%s\"",
			     req->src_ip ? req->src_ip : "-", u, (int)req->realm.len, req->realm.p,
			     (int)(req->msg->method_name.len > 16 ? 16 : req->msg->method_name.len),
			     req->msg->method_name.p ? req->msg->method_name.p : "", result->detail);
		auth_limiter_fail(ctx->limiter, req->src_ip, result->username, req->now_s);
	} else if (v == AUTH_REPLAYED) {
		char u[200];

		auth_log_value(result->username, u, sizeof(u));
		log_security("auth_replay", "src=%s user=\"%s\" realm=\"%.*s\"", req->src_ip ? req->src_ip : "-", u,
			     (int)req->realm.len, req->realm.p);
	}
	return v;
}

enum auth_verdict auth_check(const struct auth_ctx *ctx, struct store *store, const struct sip_msg *msg,
			     enum sip_hdr_id hdr, struct slice realm, uint64_t now_s,
			     struct auth_result *result)
{
	struct auth_req req = { .msg = msg, .hdr = hdr, .realm = realm, .now_s = now_s };

	return auth_verify(ctx, store, &req, result);
}
