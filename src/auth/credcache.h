/* Per-worker cache of subscriber rows for digest verification ([auth]
 * credential_cache_size, credential_cache_ttl). One cache belongs to one
 * worker thread and is used without locks; only the flush generation and
 * the counters are shared (atomics). A lookup is keyed by what it searched
 * by (user name or the userhash of one family), the text searched for and
 * the domain. Rows and "no such user" answers are kept alike, for at most
 * the TTL; store errors never. Secrets in a cached row are wiped when the
 * entry is dropped or replaced and when the cache is freed.
 *
 * Freshness is the caller's part (verify.c): a failure decided from a
 * cached row is decided again from the store before it is answered, and
 * sipwarden-ctl tells the daemon to flush (auth_credcache_flush_all) after
 * every change to a subscriber. */
#ifndef SW_AUTH_CREDCACHE_H
#define SW_AUTH_CREDCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/slice.h"
#include "store/store.h"

struct auth_credcache;

/* What a lookup searched by: the name, or the RFC 7616 §3.4.4 userhash of a
 * hash family (AUTH_CRED_BY_USERHASH + enum store_hash). */
enum auth_cred_by { AUTH_CRED_BY_NAME = 0, AUTH_CRED_BY_USERHASH = 1 };

/* Entries are grouped in sets of this many; a new entry replaces an expired
 * one of its set, else the oldest. */
#define AUTH_CREDCACHE_WAYS 4
/* Defaults of [auth] credential_cache_size and credential_cache_ttl: room
 * for 10,000 subscribers per worker; a minute of lag at most for a change
 * made behind sipwarden-ctl's back that turns a success into a failure. */
#define AUTH_CREDCACHE_DEFAULT_SIZE 16384
#define AUTH_CREDCACHE_DEFAULT_TTL_S 60
/* Largest credential_cache_size accepted. */
#define AUTH_CREDCACHE_MAX_SIZE (1u << 24)

/* Shared counters, summed over every worker since start. */
struct auth_credcache_stats {
	uint64_t hits;     /**< lookups answered from a cache */
	uint64_t misses;   /**< lookups that went to the store (absent or expired) */
	uint64_t rereads;  /**< lookups that skipped the cache to decide a failure */
	uint64_t flushes;  /**< auth_credcache_flush_all calls */
};

/* A cache of at most size entries (rounded up to a multiple of
 * AUTH_CREDCACHE_WAYS) kept ttl_s seconds each. size or ttl_s 0: *out is
 * NULL (no cache; every function below accepts NULL). 0, -EINVAL (size above
 * AUTH_CREDCACHE_MAX_SIZE) or -ENOMEM. */
int auth_credcache_new(struct auth_credcache **out, unsigned size, unsigned ttl_s);
/* Wipe every entry and free; NULL-safe. */
void auth_credcache_free(struct auth_credcache *c);

/* The entry for (by, user, domain) if present and younger than the TTL at
 * now_s: true with *rc 0 and *out filled (a positive entry) or *rc -ENOENT
 * and *out zeroed (a negative one). false on a miss (*out untouched). */
bool auth_credcache_get(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			uint64_t now_s, struct store_cred *out, int *rc);
/* Keep cred (NULL: "no such user") for (by, user, domain) from now_s on,
 * replacing an older entry for the same key. gen is auth_credcache_generation()
 * read before the store was asked: after a flush since then nothing is kept.
 * Keys longer than a user name or domain can be are never kept. */
void auth_credcache_put(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			uint64_t now_s, uint64_t gen, const struct store_cred *cred);
/* Record in a live entry that the subscriber's downgrade pin rose to rank
 * (the daemon's own write); nothing when the entry is gone. */
void auth_credcache_note_pin(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			     int rank);

/* Read-through lookup for verify.c: the cache unless fresh, else (and on a
 * miss) store_get_cred or store_get_cred_by_userhash, whose answer 0 or
 * -ENOENT is then kept; any other error is returned and not kept. *hit tells
 * whether the answer came from the cache. c NULL: the store alone. */
int auth_credcache_lookup(struct auth_credcache *c, struct store *s, enum auth_cred_by by, struct slice user,
			  struct slice domain, bool fresh, struct store_cred *out, bool *hit);

/* Drop every worker's entries (each worker empties its cache at its next
 * lookup). Any thread. */
void auth_credcache_flush_all(void);
/* The flush generation: changes with every auth_credcache_flush_all. */
uint64_t auth_credcache_generation(void);
void auth_credcache_stats(struct auth_credcache_stats *out);
/* Live (unexpired at now_s) entries of c, for tests and reports. */
unsigned auth_credcache_count(const struct auth_credcache *c, uint64_t now_s);

#endif
