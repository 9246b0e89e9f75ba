/* Credential cache in front of the backend's get_cred: per store handle (the
 * daemon opens one handle per worker, so no locks), direct-mapped, bounded in
 * entries, each entry trusted for a short TTL only. Only found, active or not,
 * users are cached; "no such user" always goes to the backend, so a user added
 * works at once. A change made through this handle (user_update, user_del,
 * user_set_field, user_raise_pin) drops the entry at once; a change made by
 * another process (sipwarden-ctl user passwd / disable / del) is seen at the
 * latest after the TTL. Entries hold HA1s and passwords: wiped on replace and
 * on close. */
#include "store/store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

struct cred_slot {
	uint64_t hash;
	int64_t fetched_ms; /**< monotonic ms when read from the backend; 0 empty */
	struct store_cred cred;
};

struct store_cache {
	unsigned mask; /**< entries - 1 */
	int64_t ttl_ms;
	struct cred_slot slots[];
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t key_hash(struct slice user, struct slice domain)
{
	return base_hash(user.p, user.len) * 31u ^ base_hash(domain.p, domain.len);
}

static bool slot_is(const struct cred_slot *sl, uint64_t h, struct slice user, struct slice domain)
{
	return sl->fetched_ms && sl->hash == h && strlen(sl->cred.username) == user.len &&
	       memcmp(sl->cred.username, user.p, user.len) == 0 && strlen(sl->cred.domain) == domain.len &&
	       memcmp(sl->cred.domain, domain.p, domain.len) == 0;
}

static void slot_clear(struct cred_slot *sl)
{
	store_cred_wipe(&sl->cred);
	sl->fetched_ms = 0;
	sl->hash = 0;
}

/* Turn the cache on for s: entries rounded up to a power of two (1..65536),
 * ttl_ms > 0. 0, -EINVAL, -EEXIST when already on, or -ENOMEM. */
int store_cache_enable(struct store *s, unsigned entries, unsigned ttl_ms)
{
	unsigned n = 1;

	if (!s || !entries || entries > 65536 || !ttl_ms)
		return -EINVAL;
	if (s->cache)
		return -EEXIST;
	while (n < entries)
		n <<= 1;
	s->cache = calloc(1, sizeof(*s->cache) + (size_t)n * sizeof(s->cache->slots[0]));
	if (!s->cache)
		return -ENOMEM;
	s->cache->mask = n - 1;
	s->cache->ttl_ms = ttl_ms;
	return 0;
}

/* Wipe and free the cache of s (nothing when off). */
void store_cache_free(struct store *s)
{
	if (!s || !s->cache)
		return;
	for (unsigned i = 0; i <= s->cache->mask; i++)
		slot_clear(&s->cache->slots[i]);
	free(s->cache);
	s->cache = NULL;
}

/* Drop the entry of username@domain (nothing when off or absent). */
void store_cache_forget(struct store *s, const char *username, const char *domain)
{
	struct slice u = slice_cstr(username), d = slice_cstr(domain);
	uint64_t h;
	struct cred_slot *sl;

	if (!s || !s->cache)
		return;
	h = key_hash(u, d);
	sl = &s->cache->slots[h & s->cache->mask];
	if (slot_is(sl, h, u, d))
		slot_clear(sl);
}

/* get_cred through the cache: same contract as the backend's get_cred (out
 * zeroed by the caller). */
int store_cache_get_cred(struct store *s, struct slice user, struct slice domain, struct store_cred *out)
{
	struct store_cache *c = s->cache;
	uint64_t h;
	struct cred_slot *sl;
	int64_t now;
	int err;

	if (!c)
		return s->ops->get_cred(s, user, domain, out);
	h = key_hash(user, domain);
	sl = &c->slots[h & c->mask];
	now = mono_ms();
	if (slot_is(sl, h, user, domain) && now - sl->fetched_ms < c->ttl_ms) {
		*out = sl->cred;
		return 0;
	}
	err = s->ops->get_cred(s, user, domain, out);
	if (err) {
		if (slot_is(sl, h, user, domain))
			slot_clear(sl); /* gone or failing: never serve the old copy */
		return err;
	}
	/* Key on what was asked (the backend may fold case): cache only exact hits. */
	if (strlen(out->username) == user.len && memcmp(out->username, user.p, user.len) == 0 &&
	    strlen(out->domain) == domain.len && memcmp(out->domain, domain.p, domain.len) == 0) {
		store_cred_wipe(&sl->cred);
		sl->cred = *out;
		sl->hash = h;
		sl->fetched_ms = now ? now : 1;
	} else if (slot_is(sl, h, user, domain)) {
		slot_clear(sl);
	}
	return 0;
}
