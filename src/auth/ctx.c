/* Per-daemon digest settings (RFC 7616 §3.3): the nonce key, a fixed opaque
 * value derived from it (so every node sharing the secret sends the same one)
 * and the random salt that gives unknown users a dummy HA1. */
#include "auth/auth_int.h"

#include <errno.h>
#include <string.h>

#include "base/util.h"

/* Fill ctx from the configured secret (NULL: random, so nonces do not survive
 * a restart nor cross nodes). 0, -EINVAL (empty secret) or -errno from the
 * random source; ctx is wiped on failure. */
int auth_ctx_init(struct auth_ctx *ctx, const char *secret, unsigned nonce_lifetime_s)
{
	static const char label[] = "opaque";
	uint8_t mac[AUTH_SHA256_LEN];
	int err;

	if (!ctx)
		return -EINVAL;
	memset(ctx, 0, sizeof(*ctx));
	err = auth_nonce_key_init(&ctx->nonce_key, secret, nonce_lifetime_s);
	if (!err)
		err = base_random(ctx->dummy_salt, sizeof(ctx->dummy_salt));
	if (err) {
		base_wipe(ctx, sizeof(*ctx));
		return err;
	}
	/* Eight bytes of HMAC(key, "opaque") in hex: stable, reveals nothing of the key. */
	auth_hmac_sha256(ctx->nonce_key.secret, sizeof(ctx->nonce_key.secret), label, sizeof(label) - 1,
			 mac);
	base_hex(mac, 8, ctx->opaque);
	base_wipe(mac, sizeof(mac));
	return 0;
}
