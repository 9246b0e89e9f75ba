/* Client side of HTTP Digest (RFC 7616 §3.3-§3.4, RFC 8760, RFC 2617 §3.2.2):
 * parse a challenge into a self-contained struct, rank algorithms, and build
 * the Authorization / Proxy-Authorization value. The maths is auth/digest.c. */
#include "ua/ua_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "base/util.h"

static const struct {
	enum sw_ua_algo ua;
	enum auth_algo auth;
} algo_map[] = {
	{ SW_UA_MD5, AUTH_ALGO_MD5 },
	{ SW_UA_MD5_SESS, AUTH_ALGO_MD5_SESS },
	{ SW_UA_SHA256, AUTH_ALGO_SHA256 },
	{ SW_UA_SHA256_SESS, AUTH_ALGO_SHA256_SESS },
	{ SW_UA_SHA512_256, AUTH_ALGO_SHA512_256 },
	{ SW_UA_SHA512_256_SESS, AUTH_ALGO_SHA512_256_SESS },
};

static enum auth_algo to_auth(enum sw_ua_algo a)
{
	for (size_t i = 0; i < sizeof(algo_map) / sizeof(algo_map[0]); i++)
		if (algo_map[i].ua == a)
			return algo_map[i].auth;
	return AUTH_ALGO_MD5;
}

static enum sw_ua_algo from_auth(enum auth_algo a)
{
	for (size_t i = 0; i < sizeof(algo_map) / sizeof(algo_map[0]); i++)
		if (algo_map[i].auth == a)
			return algo_map[i].ua;
	return SW_UA_MD5;
}

const char *sw_ua_algo_name(enum sw_ua_algo algo)
{
	return auth_algo_name(to_auth(algo));
}

const char *sw_ua_class_name(enum sw_ua_class cls)
{
	switch (cls) {
	case SW_UA_OK: return "ok";
	case SW_UA_AUTH_FAILED: return "auth failed";
	case SW_UA_TIMEOUT: return "timeout";
	case SW_UA_TRANSPORT: return "transport error";
	case SW_UA_SIP_FAILURE: return "SIP failure";
	}
	return "unknown";
}

const char *sw_ua_auth_header_name(const struct sw_ua_challenge *ch)
{
	return ch && ch->proxy ? "Proxy-Authorization" : "Authorization";
}

void ua_rand_hex(char *out, size_t nbytes)
{
	uint8_t r[32];

	if (nbytes > sizeof(r))
		nbytes = sizeof(r);
	if (base_random(r, nbytes) != 0) {
		/* No randomness source: uniqueness still matters more than secrecy
		 * for tags and branches; mix the clock in rather than failing. */
		uint64_t t = base_mono_ms() ^ ((uint64_t)(uintptr_t)out << 16);

		for (size_t i = 0; i < nbytes; i++)
			r[i] = (uint8_t)(t >> ((i % 8) * 8)) ^ (uint8_t)i;
	}
	base_hex(r, nbytes, out);
}

/* Copy a parsed value, dropping quoted-pair backslashes (RFC 3261 §25.1). */
static int unescape(char *dst, size_t cap, struct slice v)
{
	size_t n = 0;

	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];

		if (c == '\\' && i + 1 < v.len)
			c = v.p[++i];
		if (n + 1 >= cap) {
			dst[0] = '\0';
			return -ENOSPC;
		}
		dst[n++] = c;
	}
	dst[n] = '\0';
	return 0;
}

/* Split the qop-options list ("auth,auth-int", any spacing) into flags. */
static void qop_flags(struct sw_ua_challenge *ch)
{
	const char *p = ch->qop;

	while (*p) {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, " \t,");
		if (n == 4 && strncasecmp(p, "auth", 4) == 0)
			ch->qop_auth = true;
		else if (n == 8 && strncasecmp(p, "auth-int", 8) == 0)
			ch->qop_auth_int = true;
		p += n;
	}
}

int sw_ua_challenge_parse(struct sw_ua_challenge *ch, const char *value, bool proxy)
{
	struct sip_digest_chal c;
	enum auth_algo a;
	int err = 0;

	if (!ch || !value)
		return -EINVAL;
	memset(ch, 0, sizeof(*ch));
	ch->proxy = proxy;
	if (sip_digest_chal_parse(&c, slice_cstr(value)) != 0 || c.nonce.len == 0)
		return -EINVAL;
	err |= unescape(ch->realm, sizeof(ch->realm), c.realm);
	err |= unescape(ch->nonce, sizeof(ch->nonce), c.nonce);
	err |= unescape(ch->opaque, sizeof(ch->opaque), c.opaque);
	err |= unescape(ch->qop, sizeof(ch->qop), c.qop);
	if (c.algorithm.len)
		err |= unescape(ch->algorithm, sizeof(ch->algorithm), c.algorithm);
	else
		strcpy(ch->algorithm, "MD5");
	if (err)
		return -ENOSPC;
	ch->stale = c.stale;
	ch->algo_known = auth_algo_parse(slice_cstr(ch->algorithm), &a) == 0;
	ch->algo = ch->algo_known ? from_auth(a) : SW_UA_MD5;
	qop_flags(ch);
	return 0;
}

/* Hash families ranked: MD5 < SHA-256 < SHA-512/256; -sess ranks with its base
 * (RFC 8760 §2.4: the client uses the first it supports, we use the strongest). */
static int rank(enum sw_ua_algo a)
{
	return (int)a / 2;
}

int sw_ua_challenge_pick(const struct sw_ua_challenge *chs, unsigned n)
{
	int best = -ENOENT;

	for (unsigned i = 0; i < n; i++) {
		if (!chs[i].algo_known)
			continue;
		if (best < 0 || rank(chs[i].algo) > rank(chs[best].algo))
			best = (int)i;
	}
	return best;
}

static bool is_hex(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

static void put_quoted(struct sip_buf *b, const char *s)
{
	sip_buf_puts(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sip_buf_puts(b, "\\");
		sip_buf_put(b, s, 1);
	}
	sip_buf_puts(b, "\"");
}

int sw_ua_build_authorization(char *out, size_t cap, const struct sw_ua_challenge *ch,
			      const struct sw_ua_auth_input *in)
{
	enum auth_algo algo;
	char ha1[SW_MAX_HASH_HEX + 1], resp[SW_MAX_HASH_HEX + 1], cnonce[128], nc[9];
	const char *qop, *method, *uri;
	struct auth_digest_in d;
	struct sip_buf b;
	size_t hexlen;

	if (!out || !ch || !in || !in->user || !ch->algo_known)
		return -EINVAL;
	algo = to_auth(ch->algo);
	hexlen = auth_algo_hexlen(algo);
	method = in->method ? in->method : ch->method;
	uri = in->uri ? in->uri : ch->uri;
	if (!method[0] || !uri[0] || (in->cnonce && strlen(in->cnonce) >= sizeof(cnonce)))
		return -EINVAL;
	if (in->ha1) {
		if (!is_hex(in->ha1, hexlen))
			return -EINVAL;
		memcpy(ha1, in->ha1, hexlen + 1);
		for (size_t i = 0; i < hexlen; i++)
			if (ha1[i] >= 'A' && ha1[i] <= 'F')
				ha1[i] = (char)(ha1[i] - 'A' + 'a');
	} else if (in->password) {
		auth_digest_ha1(algo, slice_cstr(in->user), slice_cstr(ch->realm), slice_cstr(in->password),
				ha1);
	} else {
		return -EINVAL;
	}

	/* RFC 7616 §3.4: prefer auth; auth-int only when it is all that is offered;
	 * neither offered means the RFC 2069 form without qop, nc and cnonce. */
	if (in->qop)
		qop = in->qop;
	else if (ch->qop_auth)
		qop = "auth";
	else if (ch->qop_auth_int)
		qop = "auth-int";
	else
		qop = "";
	if (in->cnonce)
		snprintf(cnonce, sizeof(cnonce), "%s", in->cnonce);
	else
		ua_rand_hex(cnonce, 8);
	snprintf(nc, sizeof(nc), "%08x", in->nc ? in->nc : 1u);

	d = (struct auth_digest_in){
		.algo = algo,
		.ha1 = slice_from(ha1, hexlen),
		.nonce = slice_cstr(ch->nonce),
		.nc = qop[0] ? slice_cstr(nc) : SLICE_NULL,
		.cnonce = slice_cstr(cnonce),
		.qop = slice_cstr(qop),
		.method = slice_cstr(method),
		.uri = slice_cstr(uri),
		.body = slice_from(in->body, in->body ? in->body_len : 0),
	};
	if (auth_digest_response(&d, resp) != 0) {
		base_wipe(ha1, sizeof(ha1));
		return -EINVAL;
	}
	base_wipe(ha1, sizeof(ha1));

	sip_buf_init(&b, out, cap);
	sip_buf_puts(&b, "Digest username=");
	put_quoted(&b, in->user);
	sip_buf_puts(&b, ", realm=");
	put_quoted(&b, ch->realm);
	sip_buf_puts(&b, ", nonce=");
	put_quoted(&b, ch->nonce);
	sip_buf_puts(&b, ", uri=");
	put_quoted(&b, uri);
	sip_buf_printf(&b, ", response=\"%s\", algorithm=%s", resp, auth_algo_name(algo));
	if (qop[0] || auth_algo_is_sess(algo)) {
		sip_buf_puts(&b, ", cnonce=");
		put_quoted(&b, cnonce);
	}
	if (ch->opaque[0]) {
		sip_buf_puts(&b, ", opaque=");
		put_quoted(&b, ch->opaque);
	}
	if (qop[0])
		sip_buf_printf(&b, ", qop=%s, nc=%s", qop, nc);
	sip_buf_put(&b, "", 1);
	if (b.overflow) {
		if (cap)
			out[0] = '\0';
		return -ENOSPC;
	}
	return (int)(b.len - 1);
}
