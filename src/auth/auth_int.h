/* Private to src/auth: streaming hash helpers over reused per-thread OpenSSL
 * digest contexts (HMAC-SHA256 for nonces and key derivation is in auth.h),
 * the limiter and store-mirror hooks. Nothing here touches the sip or store
 * layers. */
#ifndef SW_AUTH_INT_H
#define SW_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"

/* Nonces tracked at once by the replay table (40 bytes each: 2.5 MiB). At
 * 1000 new logins a second a nonce keeps its slot for about a minute. */
#define SW_AUTH_REPLAY_SLOTS 65536
/* Limiter entries, (user, source) and source keys together (~200 bytes each). */
#define SW_AUTH_LIMITER_SLOTS 8192
/* Blocks the mirror thread can have queued for the store. */
#define SW_AUTH_BLOCK_QUEUE 256
/* How often the mirror thread writes blocks and looks for lifted ones. */
#define SW_AUTH_SYNC_MS 1000

/* Account policy after proof (policy.c): NULL, or the 403 reason phrase with
 * *event_reason set to a key=value-safe word. */
const char *auth_policy_refusal(const struct auth_ctx *ctx, const struct store_cred *c, struct slice realm,
				enum auth_algo algo, uint64_t now_s, const char **event_reason);

/* A block start or end for the store mirror (blocksync.c). */
struct auth_block_ev {
	bool start;
	char src[48];
	char user[SW_MAX_USER + 1];
	int64_t since, until;
	char reason[32];
};
/* Queue a block event for the mirror thread (dropped with a warning when full). */
void auth_blocksync_push(struct auth_blocksync *bs, const struct auth_block_ev *ev);
/* Start the mirror thread on db_url for limiter l. 0 or -errno. */
int auth_blocksync_start(struct auth_blocksync **out, const char *db_url, struct auth_limiter *l);
void auth_blocksync_stop(struct auth_blocksync *bs);
/* Limiter hooks for the mirror thread. */
void auth_limiter_set_sync(struct auth_limiter *l, struct auth_blocksync *bs);
/* Walk the blocked entries: fn(src, user, until, arg) under the entry's lock. */
typedef void (*auth_limiter_block_fn)(const char *src, const char *user, int64_t until, void *arg);
/* Only blocks whose store row was written (so a missing row means lifted). */
void auth_limiter_each_block(struct auth_limiter *l, auth_limiter_block_fn fn, void *arg);
/* The row for the block (src, user) ending at until was written. */
void auth_limiter_mark_persisted(struct auth_limiter *l, const char *src, const char *user, int64_t until);
/* Re-create a block found in the store at start-up. */
void auth_limiter_restore(struct auth_limiter *l, const char *src, const char *user, int64_t since, int64_t until,
			  uint64_t now_s);
/* End blocks whose time is over (event=unblocked reason=expired). */
void auth_limiter_expire(struct auth_limiter *l, uint64_t now_s);

/* Hex digest of parts[0] ":" parts[1] ":" ... parts[n-1] with the algorithm's
 * hash, without building the joined string; out holds hexlen+1. */
void auth_hash_join_hex(enum auth_algo algo, const struct slice *parts, size_t n, char *out);

#endif
