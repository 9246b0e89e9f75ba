/* Digest arithmetic: HA1, userhash and request-digest (RFC 2617 §3.2.2.1-3,
 * RFC 7616 §3.4.1-3.4.4, RFC 2069 when qop is absent). No I/O, no clock, no
 * store; values are hashed as given (already unquoted). The only state is a
 * per-thread memo of recent H(A2) values, which hold nothing secret. */
#include "auth/auth_int.h"

#include <errno.h>
#include <string.h>

#include "base/util.h"

/* H(Method ":" digest-uri) without a body hash depends on nothing secret and
 * repeats: every REGISTER of a domain has the same A2, and so has every
 * rspauth for it. A few slots per thread, compared byte for byte. */
#define A2_MEMO_SLOTS 4
#define A2_MEMO_KEY_MAX 160

struct a2_memo {
	uint8_t algo;
	uint8_t methodlen;
	uint16_t keylen; /**< 0: empty slot */
	char key[A2_MEMO_KEY_MAX];
	char hex[SW_MAX_HASH_HEX + 1];
};

static __thread struct a2_memo a2_memo[A2_MEMO_SLOTS];
static __thread unsigned a2_memo_next;

static void ha2_plain(enum auth_algo algo, struct slice method, struct slice uri, char *out)
{
	const struct slice p[2] = { method, uri };
	size_t keylen = method.len + uri.len;
	size_t hexlen = auth_algo_hexlen(algo);

	if (method.len > 255 || keylen == 0 || keylen > A2_MEMO_KEY_MAX) {
		auth_hash_join_hex(algo, p, 2, out);
		return;
	}
	for (unsigned i = 0; i < A2_MEMO_SLOTS; i++) {
		const struct a2_memo *m = &a2_memo[i];

		if (m->keylen == keylen && m->algo == algo && m->methodlen == method.len &&
		    (!method.len || memcmp(m->key, method.p, method.len) == 0) &&
		    (!uri.len || memcmp(m->key + method.len, uri.p, uri.len) == 0)) {
			memcpy(out, m->hex, hexlen + 1);
			return;
		}
	}
	auth_hash_join_hex(algo, p, 2, out);
	struct a2_memo *m = &a2_memo[a2_memo_next++ % A2_MEMO_SLOTS];
	m->algo = (uint8_t)algo;
	m->methodlen = (uint8_t)method.len;
	m->keylen = (uint16_t)keylen;
	if (method.len)
		memcpy(m->key, method.p, method.len);
	if (uri.len)
		memcpy(m->key + method.len, uri.p, uri.len);
	memcpy(m->hex, out, hexlen + 1);
}

/* Hex H(username:realm:password) into out (hexlen+1 bytes). */
void auth_digest_ha1(enum auth_algo algo, struct slice username, struct slice realm,
		     struct slice password, char *out)
{
	const struct slice parts[3] = { username, realm, password };

	auth_hash_join_hex(algo, parts, 3, out);
}

/* Hex H(username:realm) into out (RFC 7616 §3.4.4). */
void auth_digest_userhash(enum auth_algo algo, struct slice username, struct slice realm, char *out)
{
	const struct slice parts[2] = { username, realm };

	auth_hash_join_hex(algo, parts, 2, out);
}

/* Hex request-digest into out (hexlen+1 bytes). 0, or -EINVAL for a qop
 * other than auth/auth-int or an unknown algorithm. Only -sess scratch is
 * secret here and it is wiped. */
int auth_digest_response(const struct auth_digest_in *in, char *out)
{
	char sess[SW_MAX_HASH_HEX + 1], ha2[SW_MAX_HASH_HEX + 1];
	struct slice ha1 = in->ha1;
	bool has_qop = in->qop.len != 0;
	bool auth_int = slice_caseeq_cstr(in->qop, "auth-int");
	size_t hexlen = auth_algo_hexlen(in->algo);

	if (hexlen == 0)
		return -EINVAL;
	if (has_qop && !auth_int && !slice_caseeq_cstr(in->qop, "auth"))
		return -EINVAL;

	/* RFC 2617 §3.2.2.2 / RFC 7616 §3.4.2: A1 for -sess is
	 * H(user:realm:pass) ":" nonce ":" cnonce, the inner hash in hex. */
	if (auth_algo_is_sess(in->algo)) {
		const struct slice p[3] = { in->ha1, in->nonce, in->cnonce };

		auth_hash_join_hex(in->algo, p, 3, sess);
		ha1 = slice_from(sess, hexlen);
	}

	/* §3.2.2.3: A2 = Method ":" digest-uri [":" H(entity-body)] */
	if (auth_int) {
		char hbody[SW_MAX_HASH_HEX + 1];
		struct slice p[3] = { in->method, in->uri, SLICE_NULL };

		auth_hash_hex(in->algo, in->body.p, in->body.len, hbody);
		p[2] = slice_from(hbody, hexlen);
		auth_hash_join_hex(in->algo, p, 3, ha2);
	} else {
		ha2_plain(in->algo, in->method, in->uri, ha2);
	}

	if (has_qop) {
		/* §3.2.2.1: KD(H(A1), nonce:nc:cnonce:qop:H(A2)) */
		const struct slice p[6] = { ha1, in->nonce, in->nc, in->cnonce, in->qop,
					    slice_from(ha2, hexlen) };

		auth_hash_join_hex(in->algo, p, 6, out);
	} else {
		/* RFC 2069 §2.1.2 compatibility: KD(H(A1), nonce:H(A2)) */
		const struct slice p[3] = { ha1, in->nonce, slice_from(ha2, hexlen) };

		auth_hash_join_hex(in->algo, p, 3, out);
	}
	base_wipe(sess, sizeof(sess));
	return 0;
}
