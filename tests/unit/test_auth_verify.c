/* auth_check end to end on parsed REGISTER/MESSAGE requests against a real
 * SQLite store (RFC 3261 §22, RFC 2617 §3.2.2), plus the exact shape of the
 * challenge header auth_challenge_build produces (RFC 2617 §3.2.1). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "auth/auth_int.h"

#define T0 1700000000ull
#define DOMAIN "example.com"
#define S(x) slice_cstr(x)

struct fx {
	char path[128];
	struct store *st;
	struct auth_ctx ctx;
	char nonce[64];
	/* message under test; must outlive the parsed index */
	char buf[4096];
	struct sip_msg msg;
	struct auth_result res;
};

static int setup(void **state)
{
	static unsigned seq;
	static struct fx f;
	char ha1[65], ha1b[65];

	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "/tmp/sw_test_auth_verify_%ld_%u.db", (long)getpid(), seq++);
	unlink(f.path);
	{
		char url[160];

		snprintf(url, sizeof(url), "sqlite:%s", f.path);
		assert_int_equal(store_open(&f.st, url), 0);
	}
	/* alice: Kamailio-style ha1 only */
	auth_digest_ha1(AUTH_ALGO_MD5, S("alice"), S(DOMAIN), S("alice pw"), ha1);
	assert_int_equal(store_user_add(f.st, "alice", DOMAIN,
					&(struct store_user_secrets){ .ha1 = ha1 }), 0);
	/* carol: cleartext password only */
	assert_int_equal(store_user_add(f.st, "carol", DOMAIN,
					&(struct store_user_secrets){ .password = "carol pw" }), 0);
	/* dave: ha1 and ha1b (username "dave@example.com") */
	auth_digest_ha1(AUTH_ALGO_MD5, S("dave"), S(DOMAIN), S("dave pw"), ha1);
	auth_digest_ha1(AUTH_ALGO_MD5, S("dave@" DOMAIN), S(DOMAIN), S("dave pw"), ha1b);
	assert_int_equal(store_user_add(f.st, "dave", DOMAIN,
					&(struct store_user_secrets){ .ha1 = ha1, .ha1b = ha1b }), 0);
	/* eve: a row with no secret at all */
	assert_int_equal(store_user_add(f.st, "eve", DOMAIN, &(struct store_user_secrets){ 0 }), 0);
	/* frank: upper-case hex stored */
	auth_digest_ha1(AUTH_ALGO_MD5, S("frank"), S(DOMAIN), S("frank pw"), ha1);
	for (char *p = ha1; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(store_user_add(f.st, "frank", DOMAIN,
					&(struct store_user_secrets){ .ha1 = ha1 }), 0);

	assert_int_equal(auth_ctx_init(&f.ctx, "unit secret", 300), 0);
	assert_int_equal(auth_nonce_make(&f.ctx.nonce_key, T0, f.nonce, sizeof(f.nonce)), AUTH_NONCE_TEXT_MAX);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char side[160];

	store_close(f->st);
	auth_ctx_fini(&f->ctx);
	unlink(f->path);
	snprintf(side, sizeof(side), "%s-wal", f->path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", f->path);
	unlink(side);
	return 0;
}

/* What a phone would send. */
struct answer {
	const char *user, *realm, *password;
	const char *nonce;          /* NULL: the fixture's */
	const char *uri;            /* NULL: the Request-URI */
	const char *qop;            /* NULL: RFC 2069 */
	enum auth_algo algo;
	const char *algo_text;      /* NULL: omitted */
	const char *opaque;         /* NULL: omitted */
	const char *method;         /* NULL: REGISTER */
	const char *body;           /* for auth-int */
	bool upper;                 /* send the response in upper-case hex */
};

static void credentials(const struct fx *f, const struct answer *a, char *out, size_t cap)
{
	char ha1[65], resp[65], extra[256] = "";
	const char *uri = a->uri ? a->uri : "sip:" DOMAIN;
	struct auth_digest_in in = {
		.algo = a->algo,
		.nonce = S(a->nonce ? a->nonce : f->nonce),
		.nc = S(a->qop ? "00000001" : ""),
		.cnonce = S(a->qop ? "0a4f113b" : ""),
		.qop = S(a->qop ? a->qop : ""),
		.method = S(a->method ? a->method : "REGISTER"),
		.uri = S(uri),
		.body = S(a->body ? a->body : ""),
	};
	size_t n;

	auth_digest_ha1(a->algo, S(a->user), S(a->realm), S(a->password), ha1);
	in.ha1 = S(ha1);
	assert_int_equal(auth_digest_response(&in, resp), 0);
	if (a->upper)
		for (char *p = resp; *p; p++)
			if (*p >= 'a' && *p <= 'f')
				*p = (char)(*p - 'a' + 'A');
	if (a->qop)
		snprintf(extra, sizeof(extra), ", qop=%s, nc=00000001, cnonce=\"0a4f113b\"", a->qop);
	n = strlen(extra);
	if (a->algo_text)
		snprintf(extra + n, sizeof(extra) - n, ", algorithm=%s", a->algo_text);
	n = strlen(extra);
	if (a->opaque)
		snprintf(extra + n, sizeof(extra) - n, ", opaque=\"%s\"", a->opaque);
	snprintf(out, cap,
		 "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", response=\"%s\"%s",
		 a->user, a->realm, a->nonce ? a->nonce : f->nonce, uri, resp, extra);
}

/* Build and parse a request carrying the given credential header lines. */
static void request(struct fx *f, const char *method, const char *hdrs, const char *body)
{
	struct sip_parse_err err;
	int n;

	if (!method)
		method = "REGISTER";
	if (!body)
		body = "";
	n = snprintf(f->buf, sizeof(f->buf),
		     "%s sip:%s SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds\r\n"
		     "Max-Forwards: 70\r\n"
		     "To: <sip:alice@" DOMAIN ">\r\n"
		     "From: <sip:alice@" DOMAIN ">;tag=1928301774\r\n"
		     "Call-ID: a84b4c76e66710@192.0.2.10\r\n"
		     "CSeq: 2 %s\r\n"
		     "Contact: <sip:alice@192.0.2.10>\r\n"
		     "%s"
		     "Content-Length: %zu\r\n"
		     "\r\n%s",
		     method, DOMAIN, method, hdrs, strlen(body), body);
	assert_true(n > 0 && (size_t)n < sizeof(f->buf));
	assert_int_equal(sip_msg_parse(&f->msg, f->buf, (size_t)n, &err), 0);
}

static enum auth_verdict run_hdr(struct fx *f, const struct answer *a, const char *hdr_name,
				 enum sip_hdr_id id)
{
	char cred[1024], hdrs[1200];

	/* A fresh nonce each time: nonce-count tracking refuses a second nc=1. */
	if (!a->nonce)
		assert_int_equal(auth_nonce_make(&f->ctx.nonce_key, T0, f->nonce, sizeof(f->nonce)),
				 AUTH_NONCE_TEXT_MAX);
	credentials(f, a, cred, sizeof(cred));
	snprintf(hdrs, sizeof(hdrs), "%s: %s\r\n", hdr_name, cred);
	request(f, a->method, hdrs, a->body);
	return auth_check(&f->ctx, f->st, &f->msg, id, S(DOMAIN), T0 + 1, &f->res);
}

static enum auth_verdict run(struct fx *f, const struct answer *a)
{
	return run_hdr(f, a, "Authorization", SIP_HDR_AUTHORIZATION);
}

static enum auth_verdict run_raw(struct fx *f, const char *hdrs)
{
	request(f, NULL, hdrs, NULL);
	return auth_check(&f->ctx, f->st, &f->msg, SIP_HDR_AUTHORIZATION, S(DOMAIN), T0 + 1, &f->res);
}

/* Every secret field (cleartext password, each HA1/HA1b) is zero to its last byte. */
static bool wiped(const struct store_cred *c)
{
	static const struct store_cred zero;

	return !memcmp(c->password, zero.password, sizeof(zero.password)) &&
	       !memcmp(c->ha1, zero.ha1, sizeof(zero.ha1)) && !memcmp(c->ha1b, zero.ha1b, sizeof(zero.ha1b)) &&
	       !memcmp(c->ha1_sha256, zero.ha1_sha256, sizeof(zero.ha1_sha256)) &&
	       !memcmp(c->ha1b_sha256, zero.ha1b_sha256, sizeof(zero.ha1b_sha256)) &&
	       !memcmp(c->ha1_sha512t256, zero.ha1_sha512t256, sizeof(zero.ha1_sha512t256)) &&
	       !memcmp(c->ha1b_sha512t256, zero.ha1b_sha512t256, sizeof(zero.ha1b_sha512t256));
}

static void test_good_md5_qop_auth(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw",
			    .qop = "auth", .algo_text = "MD5",
			    .opaque = f->ctx.opaque };

	assert_int_equal(run(f, &a), AUTH_OK);
	assert_true(slice_eq_cstr(f->res.username, "alice"));
	assert_string_equal(f->res.cred.username, "alice");
	assert_string_equal(f->res.cred.domain, DOMAIN);
	assert_int_equal(f->res.cred.status, 0);
	store_cred_wipe(&f->res.cred);
}

static void test_rfc2069_form(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw" };

	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
}

static void test_wrong_password_equals_unknown_user(void **state)
{
	struct fx *f = *state;
	struct answer bad = { .user = "alice", .realm = DOMAIN, .password = "guess", .qop = "auth" };
	struct answer unknown = { .user = "mallory", .realm = DOMAIN, .password = "guess", .qop = "auth" };
	struct answer nosecret = { .user = "eve", .realm = DOMAIN, .password = "", .qop = "auth" };
	char d1[64], d2[64];

	assert_int_equal(run(f, &bad), AUTH_DENIED);
	assert_true(wiped(&f->res.cred));
	snprintf(d1, sizeof(d1), "%s", f->res.detail);
	assert_int_equal(run(f, &unknown), AUTH_DENIED);
	assert_true(wiped(&f->res.cred));
	snprintf(d2, sizeof(d2), "%s", f->res.detail);
	assert_string_equal(d1, d2);
	assert_int_equal(run(f, &nosecret), AUTH_DENIED);
	assert_string_equal(f->res.detail, d1);
	/* an over-long username is just another unknown user, not a store fault */
	{
		char longname[200];
		struct answer huge = { .user = longname, .realm = DOMAIN, .password = "x", .qop = "auth" };

		memset(longname, 'u', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(run(f, &huge), AUTH_DENIED);
		assert_string_equal(f->res.detail, d1);
	}
}

static void test_stale_nonce(void **state)
{
	struct fx *f = *state;
	char old[64];
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw",
			    .qop = "auth", .nonce = old };

	assert_int_equal(auth_nonce_make(&f->ctx.nonce_key, T0 - 1000, old, sizeof(old)), AUTH_NONCE_TEXT_MAX);
	assert_int_equal(run(f, &a), AUTH_STALE);
	assert_true(wiped(&f->res.cred));
	/* a stale nonce with a wrong answer is plainly denied */
	a.password = "guess";
	assert_int_equal(run(f, &a), AUTH_DENIED);
}

static void test_forged_nonce(void **state)
{
	struct fx *f = *state;
	char forged[64];
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw",
			    .qop = "auth", .nonce = forged };
	struct auth_nonce_key other;

	assert_int_equal(auth_nonce_key_init(&other, "not the server's", 300), 0);
	assert_int_equal(auth_nonce_make(&other, T0, forged, sizeof(forged)), AUTH_NONCE_TEXT_MAX);
	assert_int_equal(run(f, &a), AUTH_DENIED);
	assert_string_equal(f->res.detail, "nonce invalid");
	a.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	assert_string_equal(f->res.detail, "nonce invalid");
}

static void test_other_realm_only(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "alice", .realm = "other.net", .password = "alice pw", .qop = "auth" };
	char c1[1024], c2[1024], hdrs[2200];

	assert_int_equal(run(f, &a), AUTH_CHALLENGE);
	assert_int_equal(run_raw(f, ""), AUTH_CHALLENGE);
	/* another hop's credentials first, ours second (RFC 3261 §22.3) */
	credentials(f, &a, c1, sizeof(c1));
	a.realm = DOMAIN;
	credentials(f, &a, c2, sizeof(c2));
	snprintf(hdrs, sizeof(hdrs), "Authorization: %s\r\nAuthorization: %s\r\n", c1, c2);
	assert_int_equal(run_raw(f, hdrs), AUTH_OK);
	/* the header checked is named: the second, ours */
	assert_true(f->res.cred_hdr == sip_msg_hdr_next(&f->msg, sip_msg_hdr(&f->msg, SIP_HDR_AUTHORIZATION)));
	store_cred_wipe(&f->res.cred);
	assert_int_equal(run_raw(f, ""), AUTH_CHALLENGE);
	assert_null(f->res.cred_hdr);
	/* unparseable credentials visibly for another realm are left alone */
	assert_int_equal(run_raw(f, "Authorization: Digest realm=\"other.net\", junk\r\n"), AUTH_CHALLENGE);
	/* realm compared case-insensitively; the client hashed the realm as it
	 * wrote it, which only a cleartext row can reproduce */
	a.realm = "EXAMPLE.com";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	a.user = "carol";
	a.password = "carol pw";
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw", .qop = "auth" };
	char c[1024], hdrs[1200], *p;

	assert_int_equal(run_raw(f, "Authorization: Digest garbage\r\n"), AUTH_MALFORMED);
	assert_int_equal(run_raw(f, "Authorization: Digest realm=\"" DOMAIN "\", \"junk\r\n"),
			 AUTH_MALFORMED);
	/* Another scheme is not ours to judge: challenged like no credentials (RFC 4475 regaut01). */
	assert_int_equal(run_raw(f, "Authorization: Basic YWxpY2U6cHc=\r\n"), AUTH_CHALLENGE);
	assert_int_equal(run_raw(f, "Authorization: NoOneKnowsThisScheme opaque-data=here\r\n"), AUTH_CHALLENGE);
	/* qop without nc/cnonce */
	assert_int_equal(run_raw(f, "Authorization: Digest username=\"alice\", realm=\"" DOMAIN
				    "\", nonce=\"n\", uri=\"sip:" DOMAIN "\", response=\"00\", qop=auth\r\n"),
			 AUTH_MALFORMED);
	/* unknown qop */
	credentials(f, &a, c, sizeof(c));
	p = strstr(c, "qop=auth");
	assert_non_null(p);
	memcpy(p, "qop=xxxx", 8);
	snprintf(hdrs, sizeof(hdrs), "Authorization: %s\r\n", c);
	assert_int_equal(run_raw(f, hdrs), AUTH_MALFORMED);
	/* empty username */
	assert_int_equal(run_raw(f, "Authorization: Digest username=\"\", realm=\"" DOMAIN
				    "\", nonce=\"n\", uri=\"sip:" DOMAIN "\", response=\"00\"\r\n"),
			 AUTH_MALFORMED);
}

static void test_cleartext_row(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "carol", .realm = DOMAIN, .password = "carol pw", .qop = "auth" };

	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	/* stronger algorithms work when the password is known */
	a.algo = AUTH_ALGO_SHA256;
	a.algo_text = "SHA-256";
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	/* an algorithm the server did not offer gets a challenge, however right */
	a.algo = AUTH_ALGO_SHA512_256_SESS;
	a.algo_text = "SHA-512-256-sess";
	assert_int_equal(run(f, &a), AUTH_CHALLENGE);
	assert_string_equal(f->res.detail, "algorithm not offered");
	a.algo = AUTH_ALGO_SHA256;
	a.algo_text = "SHA-256";
	a.password = "nope";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	assert_string_equal(f->res.detail, "user unknown or bad password");
}

static void test_ha1b_row(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "dave@" DOMAIN, .realm = DOMAIN, .password = "dave pw", .qop = "auth" };

	assert_int_equal(run(f, &a), AUTH_OK);
	assert_string_equal(f->res.cred.username, "dave");
	assert_true(slice_eq_cstr(f->res.username, "dave@" DOMAIN));
	store_cred_wipe(&f->res.cred);
	a.user = "dave";
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	/* ha1b is not a free pass for another domain's user part */
	a.user = "dave@elsewhere.org";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	a.user = "dave@" DOMAIN;
	a.password = "bad";
	assert_int_equal(run(f, &a), AUTH_DENIED);
}

static void test_uppercase_hex(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw",
			    .qop = "auth", .upper = true };
	struct answer b = { .user = "frank", .realm = DOMAIN, .password = "frank pw", .qop = "auth" };

	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	assert_int_equal(run(f, &b), AUTH_OK); /* upper-case HA1 in the store */
	store_cred_wipe(&f->res.cred);
}

static void test_opaque_uri_algo(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw",
			    .qop = "auth", .opaque = "0123456789abcdef" };

	assert_int_equal(run(f, &a), AUTH_DENIED);
	assert_string_equal(f->res.detail, "opaque mismatch");
	a.opaque = NULL;
	a.uri = "sip:evil.example.org";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	assert_string_equal(f->res.detail, "digest-uri mismatch");
	a.uri = "sip:EXAMPLE.COM:5060;transport=udp"; /* same URI, written differently */
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	a.uri = "sips:" DOMAIN;
	assert_int_equal(run(f, &a), AUTH_DENIED);
	a.uri = "sip:" DOMAIN ":5070";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	a.uri = "not a uri";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	a.uri = NULL;
	a.algo_text = "SHA-1";
	assert_int_equal(run(f, &a), AUTH_CHALLENGE);
	/* SHA-256 cannot be checked against an MD5-only row: denied like any other */
	a.algo = AUTH_ALGO_SHA256;
	a.algo_text = "SHA-256";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	assert_string_equal(f->res.detail, "user unknown or bad password");
}

static void test_wrong_length_response(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run_raw(f, "Authorization: Digest username=\"alice\", realm=\"" DOMAIN "\", "
				    "nonce=\"x\", uri=\"sip:" DOMAIN "\", response=\"6629fae4\"\r\n"),
			 AUTH_DENIED); /* nonce "x" is invalid first */
	{
		char hdrs[512];

		snprintf(hdrs, sizeof(hdrs),
			 "Authorization: Digest username=\"alice\", realm=\"" DOMAIN "\", nonce=\"%s\", "
			 "uri=\"sip:" DOMAIN "\", response=\"6629fae4\"\r\n",
			 f->nonce);
		assert_int_equal(run_raw(f, hdrs), AUTH_DENIED);
		assert_string_equal(f->res.detail, "user unknown or bad password");
	}
}

static void test_proxy_auth_int(void **state)
{
	struct fx *f = *state;
	struct answer a = { .user = "carol", .realm = DOMAIN, .password = "carol pw",
			    .qop = "auth-int", .method = "MESSAGE", .algo = AUTH_ALGO_SHA256,
			    .algo_text = "SHA-256", .body = "hello world" };

	assert_int_equal(run_hdr(f, &a, "Proxy-Authorization", SIP_HDR_PROXY_AUTHORIZATION), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	/* Authorization is not looked at when Proxy-Authorization is asked for */
	assert_int_equal(run_hdr(f, &a, "Authorization", SIP_HDR_PROXY_AUTHORIZATION), AUTH_CHALLENGE);
}

/* Default: one challenge per algorithm, SHA-256 first then MD5 (RFC 8760
 * §2.4), both offering auth and auth-int, sharing one nonce. */
static void test_challenge_shape(void **state)
{
	struct fx *f = *state;
	char mem[1024], expect[1024], nonce[AUTH_NONCE_TEXT_MAX + 1];
	struct sip_buf b;
	struct sip_digest_chal chal;
	const char *p;

	sip_buf_init(&b, mem, sizeof(mem));
	assert_int_equal(auth_challenge_build(&f->ctx, S(DOMAIN), false, false, T0, &b), 0);
	mem[b.len] = '\0';
	p = strstr(mem, "nonce=\"");
	assert_non_null(p);
	memcpy(nonce, p + 7, AUTH_NONCE_TEXT_MAX);
	nonce[AUTH_NONCE_TEXT_MAX] = '\0';
	snprintf(expect, sizeof(expect),
		 "WWW-Authenticate: Digest realm=\"" DOMAIN "\", nonce=\"%s\", opaque=\"%s\", "
		 "qop=\"auth,auth-int\", algorithm=SHA-256\r\n"
		 "WWW-Authenticate: Digest realm=\"" DOMAIN "\", nonce=\"%s\", opaque=\"%s\", "
		 "qop=\"auth,auth-int\", algorithm=MD5\r\n",
		 nonce, f->ctx.opaque, nonce, f->ctx.opaque);
	assert_string_equal(mem, expect);
	assert_null(strstr(mem, "stale"));
	assert_int_equal(auth_nonce_check(&f->ctx.nonce_key, S(nonce), T0), AUTH_NONCE_VALID);
	/* the sip layer reads back what we wrote */
	p = strchr(mem, '\r');
	assert_int_equal(sip_digest_chal_parse(&chal, slice_from(mem + 18, (size_t)(p - mem) - 18)), 0);
	assert_true(slice_eq_cstr(chal.realm, DOMAIN));
	assert_true(slice_eq_cstr(chal.algorithm, "SHA-256"));
	assert_false(chal.stale);

	sip_buf_init(&b, mem, sizeof(mem));
	assert_int_equal(auth_challenge_build(&f->ctx, S(DOMAIN), true, true, T0, &b), 0);
	mem[b.len] = '\0';
	assert_int_equal(strncmp(mem, "Proxy-Authenticate: Digest realm=", 33), 0);
	p = strstr(mem, "\r\nProxy-Authenticate: ");
	assert_non_null(p);
	assert_non_null(strstr(mem, "algorithm=SHA-256, stale=true\r\n"));
	assert_non_null(strstr(p, "algorithm=MD5, stale=true\r\n"));
	assert_int_equal(sip_digest_chal_parse(&chal, slice_from(mem + 20, (size_t)(strchr(mem, '\r') - mem) - 20)), 0);
	assert_true(chal.stale);
}

static void test_challenge_escaping_and_limits(void **state)
{
	struct fx *f = *state;
	char mem[512];
	struct sip_buf b;

	sip_buf_init(&b, mem, sizeof(mem));
	assert_int_equal(auth_challenge_build(&f->ctx, S("a\"b\\c"), false, false, T0, &b), 0);
	mem[b.len] = '\0';
	assert_non_null(strstr(mem, "realm=\"a\\\"b\\\\c\", nonce=\""));

	sip_buf_init(&b, mem, sizeof(mem));
	assert_int_equal(auth_challenge_build(&f->ctx, S("x\r\nEvil: 1"), false, false, T0, &b), -EINVAL);
	assert_int_equal(auth_challenge_build(&f->ctx, S(""), false, false, T0, &b), -EINVAL);
	assert_int_equal(b.len, 0);

	sip_buf_init(&b, mem, 200);
	assert_int_equal(auth_challenge_build(&f->ctx, S(DOMAIN), false, false, T0, &b), -ENOSPC);
}

/* A subscriber with only SHA-256 columns (no cleartext): SHA-256 works from
 * the stored HA1; replay, Authentication-Info, account states after proof,
 * and the downgrade pin. */
static void test_sha_columns_policy_replay(void **state)
{
	struct fx *f = *state;
	char h256[65], hmd5[65], cred[1024], hdrs[1200], mem[512];
	struct answer a = { .user = "gina", .realm = DOMAIN, .password = "gina pw", .qop = "auth",
			    .algo = AUTH_ALGO_SHA256, .algo_text = "SHA-256" };
	struct sip_buf b;

	auth_digest_ha1(AUTH_ALGO_SHA256, S("gina"), S(DOMAIN), S("gina pw"), h256);
	auth_digest_ha1(AUTH_ALGO_MD5, S("gina"), S(DOMAIN), S("gina pw"), hmd5);
	assert_int_equal(store_user_add(f->st, "gina", DOMAIN,
					&(struct store_user_secrets){ .ha1 = hmd5, .ha1_sha256 = h256 }), 0);
	assert_int_equal(run(f, &a), AUTH_OK);
	assert_int_equal(f->res.algo, AUTH_ALGO_SHA256);
	/* rspauth = response with an empty method (RFC 7616 §3.5) */
	{
		struct auth_digest_in in = { .algo = AUTH_ALGO_SHA256, .ha1 = S(h256), .nonce = S(f->nonce),
					     .nc = S("00000001"), .cnonce = S("0a4f113b"), .qop = S("auth"),
					     .method = S(""), .uri = S("sip:" DOMAIN), .body = S("") };
		char want[65];

		assert_int_equal(auth_digest_response(&in, want), 0);
		assert_string_equal(f->res.rspauth, want);
	}
	sip_buf_init(&b, mem, sizeof(mem));
	assert_int_equal(auth_info_add(&f->ctx, &f->res, false, NULL, T0, &b), 0);
	mem[b.len] = '\0';
	assert_int_equal(strncmp(mem, "Authentication-Info: qop=auth, rspauth=\"", 40), 0);
	assert_non_null(strstr(mem, "\", cnonce=\"0a4f113b\", nc=00000001\r\n"));
	store_cred_wipe(&f->res.cred);
	/* the same header again: replayed */
	credentials(f, &a, cred, sizeof(cred));
	snprintf(hdrs, sizeof(hdrs), "Authorization: %s\r\n", cred);
	assert_int_equal(run_raw(f, hdrs), AUTH_REPLAYED);
	/* pinned to SHA-256 now: MD5 refused after proof, allowed again after a reset */
	a.algo = AUTH_ALGO_MD5;
	a.algo_text = "MD5";
	assert_int_equal(run(f, &a), AUTH_FORBIDDEN);
	assert_string_equal(f->res.reason, "Stronger Digest Algorithm Required");
	assert_int_equal(store_user_set_field(f->st, "gina", DOMAIN, STORE_FIELD_PIN, STORE_RANK_NONE), 0);
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	/* account states: only after the right password */
	a.algo = AUTH_ALGO_SHA256;
	a.algo_text = "SHA-256";
	assert_int_equal(store_user_set_field(f->st, "gina", DOMAIN, STORE_FIELD_LOCKED_UNTIL, (int64_t)T0 + 100), 0);
	assert_int_equal(run(f, &a), AUTH_FORBIDDEN);
	assert_string_equal(f->res.reason, "Account Locked");
	a.password = "wrong";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	assert_string_equal(f->res.detail, "user unknown or bad password");
	a.password = "gina pw";
	assert_int_equal(store_user_set_field(f->st, "gina", DOMAIN, STORE_FIELD_LOCKED_UNTIL, 0), 0);
	assert_int_equal(store_user_set_field(f->st, "gina", DOMAIN, STORE_FIELD_VALID_UNTIL, (int64_t)T0 - 1), 0);
	assert_int_equal(run(f, &a), AUTH_FORBIDDEN);
	assert_string_equal(f->res.reason, "Account Expired");
	assert_int_equal(store_user_set_field(f->st, "gina", DOMAIN, STORE_FIELD_VALID_UNTIL, 0), 0);
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
}

static int pin_of(struct fx *f, const char *user)
{
	struct store_cred c;
	int pin;

	assert_int_equal(store_get_cred(f->st, S(user), S(DOMAIN), &c), 0);
	pin = c.pin_algo;
	store_cred_wipe(&c);
	return pin;
}

/* With a first-use queue: a first MD5 login (which pins nothing) is queued,
 * not written, until the queue is flushed; a SHA-256 login's pin is written
 * before the verdict; a queued MD5 record never lowers a SHA pin; a full
 * queue makes the login write at once. */
static void test_first_use_queue(void **state)
{
	struct fx *f = *state;
	char h256[65], hmd5[65];
	struct answer a = { .user = "hank", .realm = DOMAIN, .password = "hank pw", .qop = "auth",
			    .algo = AUTH_ALGO_MD5, .algo_text = "MD5" };
	struct auth_pinq *q;

	auth_digest_ha1(AUTH_ALGO_SHA256, S("hank"), S(DOMAIN), S("hank pw"), h256);
	auth_digest_ha1(AUTH_ALGO_MD5, S("hank"), S(DOMAIN), S("hank pw"), hmd5);
	assert_int_equal(store_user_add(f->st, "hank", DOMAIN,
					&(struct store_user_secrets){ .ha1 = hmd5, .ha1_sha256 = h256 }), 0);
	assert_int_equal(auth_pinq_new(&q), 0);
	f->ctx.pins = q;

	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	assert_int_equal(pin_of(f, "hank"), STORE_RANK_NONE);
	assert_int_equal(auth_pinq_len(q), 1);
	assert_int_equal(auth_pinq_flush(q, f->st), 0);
	assert_int_equal(auth_pinq_len(q), 0);
	assert_int_equal(pin_of(f, "hank"), STORE_HASH_MD5);
	/* recorded: the next MD5 login changes nothing and queues nothing */
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	assert_int_equal(auth_pinq_len(q), 0);

	/* SHA-256: pinned at once, MD5 refused right after, a late MD5 record does not lower it */
	assert_int_equal(auth_pinq_push(q, "hank", DOMAIN, STORE_HASH_MD5), 0);
	a.algo = AUTH_ALGO_SHA256;
	a.algo_text = "SHA-256";
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	assert_int_equal(pin_of(f, "hank"), STORE_HASH_SHA256);
	assert_int_equal(auth_pinq_len(q), 1);
	assert_int_equal(auth_pinq_flush(q, f->st), 0);
	assert_int_equal(pin_of(f, "hank"), STORE_HASH_SHA256);
	a.algo = AUTH_ALGO_MD5;
	a.algo_text = "MD5";
	assert_int_equal(run(f, &a), AUTH_FORBIDDEN);
	assert_string_equal(f->res.reason, "Stronger Digest Algorithm Required");

	/* a full queue: the login writes its record itself */
	for (unsigned i = 0; i < SW_MAX_PIN_QUEUE; i++)
		assert_int_equal(auth_pinq_push(q, "nobody", DOMAIN, STORE_HASH_MD5), 0);
	assert_int_equal(auth_pinq_push(q, "nobody", DOMAIN, STORE_HASH_MD5), -ENOSPC);
	assert_int_equal(store_user_set_field(f->st, "hank", DOMAIN, STORE_FIELD_PIN, STORE_RANK_NONE), 0);
	assert_int_equal(run(f, &a), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	assert_int_equal(pin_of(f, "hank"), STORE_HASH_MD5);
	/* unknown users in a batch are skipped, the rest is written */
	assert_int_equal(auth_pinq_flush(q, f->st), 0);
	assert_int_equal(auth_pinq_len(q), 0);

	f->ctx.pins = NULL;
	auth_pinq_free(q);
}

/* RFC 7616 §3.4.4: the store finds the user by H(user:realm), any hex case;
 * the columns are computed by the store when a writer does not give them. */
static void test_userhash_lookup(void **state)
{
	struct fx *f = *state;
	char uh[65];
	struct store_cred c;

	auth_digest_userhash(AUTH_ALGO_SHA512_256, S("carol"), S(DOMAIN), uh);
	assert_int_equal(store_get_cred_by_userhash(f->st, STORE_HASH_SHA512_256, S(uh), S(DOMAIN), &c), 0);
	assert_string_equal(c.username, "carol");
	store_cred_wipe(&c);
	for (char *p = uh; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(store_get_cred_by_userhash(f->st, STORE_HASH_SHA512_256, S(uh), S(DOMAIN), &c), 0);
	store_cred_wipe(&c);
	assert_int_equal(store_get_cred_by_userhash(f->st, STORE_HASH_SHA256, S(uh), S(DOMAIN), &c), -ENOENT);
}

/* Replace the fixture's context by one set up from cfg (the secret kept). */
static void reconfigure(struct fx *f, struct auth_cfg *cfg)
{
	auth_ctx_fini(&f->ctx);
	cfg->secret = "unit secret";
	assert_int_equal(auth_ctx_setup(&f->ctx, cfg), 0);
}

static void challenge_text(struct fx *f, const char *realm, char *mem, size_t cap)
{
	struct sip_buf b;

	sip_buf_init(&b, mem, cap - 1);
	assert_int_equal(auth_challenge_build(&f->ctx, S(realm), false, false, T0, &b), 0);
	mem[b.len] = '\0';
}

/* [auth] realm_min_algorithm: one realm neither offers nor accepts MD5, any
 * other still does; the strictest of global, realm and user minimum wins. */
static void test_realm_minimum(void **state)
{
	struct fx *f = *state;
	struct auth_cfg cfg;
	const char *why;
	char mem[1024];
	struct answer md5 = { .user = "alice", .realm = DOMAIN, .password = "alice pw", .qop = "auth",
			      .algo_text = "MD5" };

	auth_cfg_defaults(&cfg);
	assert_int_equal(auth_cfg_add_realm_min_algorithm(&cfg, "Example.COM SHA-256", &why), 0);
	assert_int_equal(auth_cfg_add_realm_min_algorithm(&cfg, "other.org  MD5", &why), 0);
	assert_int_equal(auth_cfg_add_realm_min_algorithm(&cfg, "example.com MD5", &why), -EINVAL);
	assert_int_equal(auth_cfg_add_realm_min_algorithm(&cfg, "example.net", &why), -EINVAL);
	assert_int_equal(auth_cfg_add_realm_min_algorithm(&cfg, "example.net SHA-1", &why), -EINVAL);
	assert_int_equal(auth_cfg_add_realm_min_algorithm(&cfg, "example.net SHA-256 extra", &why), -EINVAL);
	assert_int_equal(auth_cfg_check(&cfg, &why), 0);
	reconfigure(f, &cfg);
	assert_int_equal(auth_min_rank(&f->ctx, S("EXAMPLE.com")), 1);
	assert_int_equal(auth_min_rank(&f->ctx, S("other.org")), 0);
	assert_int_equal(auth_min_rank(&f->ctx, S("third.net")), 0);

	challenge_text(f, DOMAIN, mem, sizeof(mem));
	assert_non_null(strstr(mem, "algorithm=SHA-256"));
	assert_null(strstr(mem, "algorithm=MD5"));
	challenge_text(f, "other.org", mem, sizeof(mem));
	assert_non_null(strstr(mem, "algorithm=SHA-256"));
	assert_non_null(strstr(mem, "algorithm=MD5"));

	/* MD5 in the strict realm: a fresh challenge, even with the right password */
	assert_int_equal(run(f, &md5), AUTH_CHALLENGE);
	assert_string_equal(f->res.detail, "algorithm not offered");
	/* the policy check holds on its own too (defence in depth) */
	{
		struct store_cred c = { .min_algo = STORE_RANK_NONE, .pin_algo = STORE_RANK_NONE };
		const char *ev;

		assert_non_null(auth_policy_refusal(&f->ctx, &c, S(DOMAIN), AUTH_ALGO_MD5, T0, &ev));
		assert_string_equal(ev, "algorithm_below_minimum");
		assert_null(auth_policy_refusal(&f->ctx, &c, S("other.org"), AUTH_ALGO_MD5, T0, &ev));
		/* the global minimum is stricter than other.org's own */
		f->ctx.cfg.min_rank = 2;
		assert_non_null(auth_policy_refusal(&f->ctx, &c, S("other.org"), AUTH_ALGO_SHA256, T0, &ev));
		f->ctx.cfg.min_rank = 0;
	}

	/* a minimum that leaves nothing to offer is a configuration error */
	assert_int_equal(auth_cfg_set_algorithms(&cfg, "MD5", &why), 0);
	assert_int_equal(auth_cfg_check(&cfg, &why), -EINVAL);
	assert_non_null(strstr(why, "example.com"));
	auth_cfg_defaults(&cfg);
	reconfigure(f, &cfg);
}

/* [auth] load_columns and require: columns come in the credentials query;
 * a failed requirement gets the disabled-account answer, only after proof. */
static void test_require_columns(void **state)
{
	struct fx *f = *state;
	struct auth_cfg cfg;
	const char *why;
	char url[160];
	sqlite3 *db;
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw", .qop = "auth" };

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE subscriber ADD COLUMN plan TEXT DEFAULT NULL;"
				      "UPDATE subscriber SET plan = 'gold' WHERE username = 'alice'",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	auth_cfg_defaults(&cfg);
	assert_int_equal(auth_cfg_add_load_columns(&cfg, "rpid, status", &why), 0);
	assert_int_equal(auth_cfg_add_load_columns(&cfg, "plan plan", &why), -EINVAL);
	assert_int_equal(auth_cfg_add_load_columns(&cfg, "ha1", &why), -EINVAL);
	assert_int_equal(auth_cfg_add_load_columns(&cfg, "", &why), -EINVAL);
	assert_int_equal(auth_cfg_add_require(&cfg, "plan = gold", &why), 0);
	assert_int_equal(auth_cfg_add_require(&cfg, "status=0", &why), 0);
	assert_int_equal(auth_cfg_add_require(&cfg, "=x", &why), -EINVAL);
	assert_int_equal(auth_cfg_add_require(&cfg, "plan", &why), -EINVAL);
	assert_int_equal(auth_cfg_add_require(&cfg, "pass word=x", &why), -EINVAL);
	assert_int_equal(cfg.nload_columns, 3);
	assert_string_equal(cfg.load_columns[2], "plan");
	assert_int_equal(cfg.require[0].col, 2);
	assert_string_equal(cfg.require[0].value, "gold");
	reconfigure(f, &cfg);
	/* a store opened after the setup reads the columns */
	store_close(f->st);
	snprintf(url, sizeof(url), "sqlite:%s", f->path);
	assert_int_equal(store_open(&f->st, url), 0);

	assert_int_equal(run(f, &a), AUTH_OK);
	assert_string_equal(f->res.cred.extra[2], "gold");
	store_cred_wipe(&f->res.cred);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE subscriber SET plan = 'bronze' WHERE username = 'alice'",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(run(f, &a), AUTH_FORBIDDEN);
	assert_string_equal(f->res.reason, "Account Disabled");
	assert_true(wiped(&f->res.cred));
	/* a wrong password learns nothing of the requirement */
	a.password = "guess";
	assert_int_equal(run(f, &a), AUTH_DENIED);
	assert_string_equal(f->res.detail, "user unknown or bad password");

	/* back to no extra columns for the other tests */
	store_close(f->st);
	auth_cfg_defaults(&cfg);
	reconfigure(f, &cfg);
	assert_int_equal(store_open(&f->st, url), 0);
}

/* auth_verify through a worker's credential cache. */
static enum auth_verdict run_cached(struct fx *f, const struct answer *a, struct auth_credcache *cc)
{
	char cred[1024], hdrs[1200];
	struct auth_req req = { .msg = &f->msg, .hdr = SIP_HDR_AUTHORIZATION, .realm = S(DOMAIN),
				.now_s = T0 + 1, .creds = cc };

	assert_int_equal(auth_nonce_make(&f->ctx.nonce_key, T0, f->nonce, sizeof(f->nonce)), AUTH_NONCE_TEXT_MAX);
	credentials(f, a, cred, sizeof(cred));
	snprintf(hdrs, sizeof(hdrs), "Authorization: %s\r\n", cred);
	request(f, NULL, hdrs, NULL);
	return auth_verify(&f->ctx, f->st, &req, &f->res);
}

/* Store reads (misses and re-reads) and hits since *base, then *base = now. */
static void reads_since(struct auth_credcache_stats *base, uint64_t *reads, uint64_t *hits)
{
	struct auth_credcache_stats now;

	auth_credcache_stats(&now);
	*reads = (now.misses - base->misses) + (now.rereads - base->rereads);
	*hits = now.hits - base->hits;
	*base = now;
}

static void exec_sql(struct fx *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_cache_rereads_failures(void **state)
{
	struct fx *f = *state;
	struct auth_credcache *cc;
	struct auth_credcache_stats st;
	struct answer a = { .user = "alice", .realm = DOMAIN, .password = "alice pw", .qop = "auth" };
	struct answer bad = { .user = "alice", .realm = DOMAIN, .password = "guess", .qop = "auth" };
	struct answer unknown = { .user = "mallory", .realm = DOMAIN, .password = "guess", .qop = "auth" };
	char ha1[65];
	uint64_t reads, hits;

	assert_int_equal(auth_credcache_new(&cc, 64, 60), 0);
	auth_credcache_stats(&st);
	/* first login reads the store, the second is answered from the cache:
	 * the row is gone behind its back and the login still succeeds */
	assert_int_equal(run_cached(f, &a, cc), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	reads_since(&st, &reads, &hits);
	assert_int_equal(reads, 1);
	assert_int_equal(hits, 0);
	exec_sql(f, "DELETE FROM subscriber WHERE username = 'alice'");
	assert_int_equal(run_cached(f, &a, cc), AUTH_OK);
	assert_string_equal(f->res.cred.username, "alice");
	store_cred_wipe(&f->res.cred);
	reads_since(&st, &reads, &hits);
	assert_int_equal(reads, 0);
	assert_int_equal(hits, 1);

	/* a failure on a cached row is decided again from the store */
	assert_int_equal(run_cached(f, &bad, cc), AUTH_DENIED);
	assert_true(wiped(&f->res.cred));
	reads_since(&st, &reads, &hits);
	assert_int_equal(reads, 1);
	assert_int_equal(hits, 1);
	/* ... which now holds "no such user", cached like a row: the unknown user
	 * and the wrong password take the same path, one store read each */
	assert_int_equal(run_cached(f, &a, cc), AUTH_DENIED);
	reads_since(&st, &reads, &hits);
	assert_int_equal(reads, 1);
	assert_int_equal(hits, 1);
	assert_int_equal(run_cached(f, &unknown, cc), AUTH_DENIED); /* first sight: store */
	reads_since(&st, &reads, &hits);
	assert_int_equal(reads, 1);
	assert_int_equal(hits, 0);
	assert_int_equal(run_cached(f, &unknown, cc), AUTH_DENIED);
	reads_since(&st, &reads, &hits);
	assert_int_equal(reads, 1);
	assert_int_equal(hits, 1);
	assert_string_equal(f->res.detail, "user unknown or bad password");

	/* a user added (or given a new password) behind the cache works at once */
	auth_digest_ha1(AUTH_ALGO_MD5, S("alice"), S(DOMAIN), S("new pw"), ha1);
	assert_int_equal(store_user_add(f->st, "alice", DOMAIN, &(struct store_user_secrets){ .ha1 = ha1 }), 0);
	a.password = "new pw";
	assert_int_equal(run_cached(f, &a, cc), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	assert_int_equal(run_cached(f, &a, cc), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	reads_since(&st, &reads, &hits);
	assert_int_equal(reads, 1);
	assert_int_equal(hits, 2);
	assert_int_equal(run_cached(f, &(struct answer){ .user = "alice", .realm = DOMAIN, .password = "alice pw",
							 .qop = "auth" }, cc), AUTH_DENIED);

	/* disabled behind the cache: the cached success may lag (until a flush
	 * or the TTL); after the flush sipwarden-ctl asks for, refused at once */
	assert_int_equal(store_user_set_status(f->st, "alice", DOMAIN, 1), 0);
	assert_int_equal(run_cached(f, &a, cc), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	auth_credcache_flush_all();
	assert_int_equal(run_cached(f, &a, cc), AUTH_FORBIDDEN);
	assert_true(wiped(&f->res.cred));
	/* enabled behind the cache: the cached refusal is checked again, accepted */
	assert_int_equal(store_user_set_status(f->st, "alice", DOMAIN, 0), 0);
	reads_since(&st, &reads, &hits);
	assert_int_equal(run_cached(f, &a, cc), AUTH_OK);
	store_cred_wipe(&f->res.cred);
	reads_since(&st, &reads, &hits);
	assert_int_equal(reads, 1);
	assert_int_equal(hits, 1);
	/* the daemon's own MD5 pin write is noted in the entry: not written again */
	assert_int_equal(run_cached(f, &a, cc), AUTH_OK);
	assert_int_equal(f->res.cred.pin_algo, STORE_HASH_MD5);
	store_cred_wipe(&f->res.cred);
	auth_credcache_free(cc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_md5_qop_auth),
		cmocka_unit_test(test_rfc2069_form),
		cmocka_unit_test(test_wrong_password_equals_unknown_user),
		cmocka_unit_test(test_stale_nonce),
		cmocka_unit_test(test_forged_nonce),
		cmocka_unit_test(test_other_realm_only),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_cleartext_row),
		cmocka_unit_test(test_ha1b_row),
		cmocka_unit_test(test_uppercase_hex),
		cmocka_unit_test(test_opaque_uri_algo),
		cmocka_unit_test(test_wrong_length_response),
		cmocka_unit_test(test_proxy_auth_int),
		cmocka_unit_test(test_challenge_shape),
		cmocka_unit_test(test_challenge_escaping_and_limits),
		cmocka_unit_test(test_sha_columns_policy_replay),
		cmocka_unit_test(test_userhash_lookup),
		cmocka_unit_test(test_realm_minimum),
		cmocka_unit_test(test_require_columns),
		cmocka_unit_test(test_first_use_queue),
		cmocka_unit_test(test_cache_rereads_failures),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
