/* Digest challenges (RFC 3261 §22.1/§22.3 and §20.44/§20.27, RFC 2617 §3.2.1,
 * RFC 7616 §3.3 and §3.7, RFC 8760 §2.4): one WWW-Authenticate (401) or
 * Proxy-Authenticate (407) per configured algorithm, strongest first, sharing
 * one fresh stateless nonce; and the Authentication-Info of a success
 * (RFC 7616 §3.5, RFC 2617 §3.2.3) with rspauth and an optional nextnonce. */
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

static void put_qop(struct sip_buf *out, unsigned qop)
{
	sip_buf_puts(out, ", qop=\"");
	if (qop & AUTH_QOP_AUTH)
		sip_buf_puts(out, qop & AUTH_QOP_AUTH_INT ? "auth,auth-int" : "auth");
	else
		sip_buf_puts(out, "auth-int");
	sip_buf_puts(out, "\"");
}

/* Append the challenge lines to out. 0, -EINVAL (empty realm or control
 * characters), -EIO (no randomness) or -ENOSPC (out overflowed, now or before). */
int auth_challenge_add(const struct auth_ctx *ctx, struct slice realm, bool stale, bool proxy, const char *src_ip,
		       uint64_t now_s, struct sip_buf *out)
{
	char nonce[AUTH_NONCE_TEXT_MAX + 1];
	int n, min_rank;

	if (!realm_ok(realm))
		return -EINVAL;
	min_rank = auth_min_rank(ctx, realm);
	n = auth_nonce_make_for(&ctx->nonce_key, now_s, ctx->cfg.bind_nonce_to_ip ? src_ip : NULL, nonce,
				sizeof(nonce));
	if (n < 0)
		return n;
	for (unsigned i = 0; i < ctx->cfg.nalgos; i++) {
		enum auth_algo a = ctx->cfg.algos[i];

		/* RFC 8760 §2.4: nothing below the realm's minimum is offered. */
		if (auth_algo_rank(a) < min_rank)
			continue;
		sip_buf_puts(out, proxy ? "Proxy-Authenticate: Digest realm=" : "WWW-Authenticate: Digest realm=");
		put_quoted(out, realm);
		sip_buf_puts(out, ", nonce=\"");
		sip_buf_put(out, nonce, (size_t)n);
		sip_buf_puts(out, "\", opaque=\"");
		sip_buf_puts(out, ctx->opaque);
		sip_buf_puts(out, "\"");
		if (ctx->cfg.qop)
			put_qop(out, ctx->cfg.qop);
		sip_buf_puts(out, ", algorithm=");
		sip_buf_puts(out, auth_algo_name(a));
		if (stale)
			sip_buf_puts(out, ", stale=true"); /* RFC 2617 §3.2.1: retry without asking the user */
		if (ctx->cfg.userhash)
			sip_buf_puts(out, ", userhash=true"); /* RFC 7616 §3.3 */
		sip_buf_puts(out, "\r\n");
	}
	return out->overflow ? -ENOSPC : 0;
}

int auth_challenge_build(const struct auth_ctx *ctx, struct slice realm, bool stale, bool proxy,
			 uint64_t now_s, struct sip_buf *out)
{
	return auth_challenge_add(ctx, realm, stale, proxy, NULL, now_s, out);
}

/* Authentication-Info for an AUTH_OK result. 0, -ENOSPC or -EIO. */
int auth_info_add(const struct auth_ctx *ctx, const struct auth_result *res, bool proxy, const char *src_ip,
		  uint64_t now_s, struct sip_buf *out)
{
	char nonce[AUTH_NONCE_TEXT_MAX + 1];
	bool any = false;
	int n = 0;

	if (ctx->cfg.next_nonce) {
		n = auth_nonce_make_for(&ctx->nonce_key, now_s, ctx->cfg.bind_nonce_to_ip ? src_ip : NULL, nonce,
					sizeof(nonce));
		if (n < 0)
			return n;
	}
	if (!res->qop.len && !n)
		return 0; /* RFC 2617 §3.2.3: rspauth only with qop */
	sip_buf_puts(out, proxy ? "Proxy-Authentication-Info: " : "Authentication-Info: ");
	if (res->qop.len) {
		sip_buf_puts(out, "qop=");
		sip_buf_slice(out, res->qop);
		sip_buf_puts(out, ", rspauth=\"");
		sip_buf_puts(out, res->rspauth);
		/* cnonce echoed exactly as the client quoted it (escapes kept). */
		sip_buf_puts(out, "\", cnonce=\"");
		sip_buf_slice(out, res->cnonce);
		sip_buf_puts(out, "\", nc=");
		sip_buf_slice(out, res->nc);
		any = true;
	}
	if (n) {
		sip_buf_puts(out, any ? ", nextnonce=\"" : "nextnonce=\"");
		sip_buf_put(out, nonce, (size_t)n);
		sip_buf_puts(out, "\"");
	}
	sip_buf_puts(out, "\r\n");
	return out->overflow ? -ENOSPC : 0;
}
