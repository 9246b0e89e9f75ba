/* Per-daemon digest state (RFC 7616 §3.3): the nonce key, a fixed opaque
 * value derived from it (so every node sharing the secret sends the same one),
 * the random salt that gives unknown users a dummy HA1, the settings (and the
 * extra credential columns they register with the store layer), the
 * nonce-count replay table, the brute-force limiter and its store mirror. */
#include "auth/auth_int.h"

#include <errno.h>
#include <string.h>

#include "base/util.h"

/* Hand cfg's load_columns to the store layer: every store opened from now on
 * reads them with the credentials. 0, -EINVAL or -E2BIG. */
static int register_columns(const struct auth_cfg *cfg)
{
	const char *cols[STORE_MAX_EXTRA_COLS];

	if (cfg->nload_columns > STORE_MAX_EXTRA_COLS)
		return -E2BIG;
	for (unsigned i = 0; i < cfg->nload_columns; i++)
		cols[i] = cfg->load_columns[i];
	return store_extra_columns_set(cols, cfg->nload_columns);
}

/* Fill ctx from cfg (secret NULL: random, so nonces do not survive a restart
 * nor cross nodes). 0, -EINVAL (empty secret), -ENOMEM or -errno; ctx is
 * wiped and owns nothing on failure. */
int auth_ctx_setup(struct auth_ctx *ctx, const struct auth_cfg *cfg)
{
	static const char label[] = "opaque";
	uint8_t mac[AUTH_SHA256_LEN];
	int err;

	if (!ctx || !cfg || !cfg->nalgos || cfg->nalgos > AUTH_ALGO__COUNT)
		return -EINVAL;
	memset(ctx, 0, sizeof(*ctx));
	err = register_columns(cfg);
	if (err)
		return err;
	ctx->cfg = *cfg;
	ctx->cfg.secret = NULL;
	ctx->cfg.db_url = NULL;
	err = auth_nonce_key_init(&ctx->nonce_key, cfg->secret, cfg->nonce_lifetime_s);
	if (!err)
		err = base_random(ctx->dummy_salt, sizeof(ctx->dummy_salt));
	if (!err)
		err = auth_replay_new(&ctx->replay, cfg->replay_slots);
	if (!err && cfg->max_failures)
		err = auth_limiter_new(&ctx->limiter, cfg);
	if (!err && ctx->limiter && cfg->db_url)
		err = auth_blocksync_start(&ctx->sync, cfg->db_url, ctx->limiter);
	if (err) {
		auth_ctx_fini(ctx);
		return err;
	}
	/* Eight bytes of HMAC(key, "opaque") in hex: stable, reveals nothing of the key. */
	auth_hmac_sha256(ctx->nonce_key.secret, sizeof(ctx->nonce_key.secret), label, sizeof(label) - 1,
			 mac);
	base_hex(mac, 8, ctx->opaque);
	base_wipe(mac, sizeof(mac));
	return 0;
}

void auth_ctx_derive_key(const struct auth_ctx *ctx, const char *label, uint8_t out[AUTH_SHA256_LEN])
{
	auth_hmac_sha256(ctx->nonce_key.secret, sizeof(ctx->nonce_key.secret), label, strlen(label), out);
}

int auth_ctx_init(struct auth_ctx *ctx, const char *secret, unsigned nonce_lifetime_s)
{
	struct auth_cfg cfg;

	auth_cfg_defaults(&cfg);
	cfg.secret = secret;
	cfg.nonce_lifetime_s = nonce_lifetime_s;
	return auth_ctx_setup(ctx, &cfg);
}

void auth_ctx_fini(struct auth_ctx *ctx)
{
	if (!ctx)
		return;
	auth_blocksync_stop(ctx->sync);
	auth_limiter_free(ctx->limiter);
	auth_replay_free(ctx->replay);
	base_wipe(ctx, sizeof(*ctx));
}

bool auth_block_drops(const struct auth_ctx *ctx)
{
	return ctx->cfg.block_drop;
}
