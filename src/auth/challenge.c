/* Digest challenge header line (RFC 3261 §22.1/§22.3 and §20.44/§20.27,
 * RFC 2617 §3.2.1): WWW-Authenticate for 401, Proxy-Authenticate for 407, with
 * a fresh stateless nonce. We offer MD5 and qop=auth, which every SIP phone
 * answers; the verifier still accepts the stronger algorithms when offered. */
#include "auth/auth_int.h"

#include <errno.h>

static bool realm_ok(struct slice realm)
{
	for (size_t i = 0; i < realm.len; i++) {
		unsigned char c = (unsigned char)realm.p[i];

		/* A quoted-string cannot carry CR, LF or other controls, even escaped
		 * (RFC 3261 §25.1 quoted-pair excludes them): refuse, never inject. */
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return realm.len != 0;
}

static void put_quoted(struct sip_buf *out, struct slice s)
{
	size_t start = 0;

	sip_buf_put(out, "\"", 1);
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '"' || s.p[i] == '\\') {
			sip_buf_put(out, s.p + start, i - start);
			sip_buf_put(out, "\\", 1);
			start = i;
		}
	}
	sip_buf_put(out, s.p + start, s.len - start);
	sip_buf_put(out, "\"", 1);
}

/* Append one challenge line to out. 0, -EINVAL (empty realm or control
 * characters), -EIO (no randomness) or -ENOSPC (out overflowed, now or before). */
int auth_challenge_build(const struct auth_ctx *ctx, struct slice realm, bool stale, bool proxy,
			 uint64_t now_s, struct sip_buf *out)
{
	char nonce[64];
	int n;

	if (!realm_ok(realm))
		return -EINVAL;
	n = auth_nonce_make(&ctx->nonce_key, now_s, nonce, sizeof(nonce));
	if (n < 0)
		return n;
	sip_buf_puts(out, proxy ? "Proxy-Authenticate: Digest realm=" : "WWW-Authenticate: Digest realm=");
	put_quoted(out, realm);
	sip_buf_puts(out, ", nonce=\"");
	sip_buf_put(out, nonce, (size_t)n);
	sip_buf_puts(out, "\", opaque=\"");
	sip_buf_puts(out, ctx->opaque);
	sip_buf_puts(out, "\", qop=\"auth\", algorithm=MD5");
	if (stale)
		sip_buf_puts(out, ", stale=true"); /* RFC 2617 §3.2.1: retry without asking the user */
	sip_buf_puts(out, "\r\n");
	return out->overflow ? -ENOSPC : 0;
}
