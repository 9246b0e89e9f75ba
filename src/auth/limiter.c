/* Brute-force limiter for digest authentication: failed attempts counted per
 * (user, source address) and per source address within a window; past half
 * the limit a source is slowed (a retry within the same second as its last
 * failure gets no answer: workers never sleep, the client's own retransmission
 * timer supplies the delay), at the limit it is blocked for block_time and the
 * block ends by itself. A fixed table (sets of WAYS entries, least recently
 * touched unblocked entry overwritten first) bounds memory whatever the
 * traffic. Trusted networks are never counted. Every block start and end is a
 * security event line; blocks are mirrored to the store by blocksync.c. */
#include "auth/auth_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

#define WAYS 8
#define SHARDS 64

struct lent {
	uint64_t key;           /**< 0: empty */
	char src[48];
	char user[SW_MAX_USER + 1]; /**< "" for the source-wide entry */
	uint32_t failures;
	uint64_t window_start, last_fail, last_touch;
	uint64_t blocked_since, blocked_until; /**< 0: not blocked */
	bool persisted;         /**< the block row exists in the store */
};

struct auth_limiter {
	unsigned nsets;
	unsigned max_failures, max_source_failures, window_s, block_s;
	struct auth_net trusted[AUTH_MAX_TRUSTED];
	unsigned ntrusted;
	struct auth_blocksync *sync;
	pthread_mutex_t locks[SHARDS];
	struct lent *ents;
};

int auth_limiter_new(struct auth_limiter **out, const struct auth_cfg *cfg)
{
	struct auth_limiter *l;

	if (!out || !cfg)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->nsets = SW_AUTH_LIMITER_SLOTS / WAYS;
	l->ents = calloc((size_t)l->nsets * WAYS, sizeof(*l->ents));
	if (!l->ents) {
		free(l);
		return -ENOMEM;
	}
	l->max_failures = cfg->max_failures;
	l->max_source_failures = cfg->max_source_failures ? cfg->max_source_failures : cfg->max_failures;
	l->window_s = cfg->failure_window_s ? cfg->failure_window_s : 60;
	l->block_s = cfg->block_time_s ? cfg->block_time_s : 600;
	l->ntrusted = cfg->ntrusted;
	memcpy(l->trusted, cfg->trusted, sizeof(l->trusted));
	for (unsigned i = 0; i < SHARDS; i++)
		pthread_mutex_init(&l->locks[i], NULL);
	*out = l;
	return 0;
}

void auth_limiter_free(struct auth_limiter *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&l->locks[i]);
	free(l->ents);
	free(l);
}

void auth_limiter_set_sync(struct auth_limiter *l, struct auth_blocksync *bs)
{
	l->sync = bs;
}

static bool trusted(const struct auth_limiter *l, const char *ip)
{
	for (unsigned i = 0; i < l->ntrusted; i++)
		if (auth_net_match(&l->trusted[i], ip))
			return true;
	return false;
}

static uint64_t key_of(const char *src, struct slice user)
{
	uint64_t h = base_hash_words(src, strlen(src));

	h ^= (base_hash_words(user.p ? user.p : "", user.len) + 0x9e3779b97f4a7c15ull) * 31u;
	return h | 1;
}

static bool same(const struct lent *e, uint64_t key, const char *src, struct slice user)
{
	return e->key == key && strcmp(e->src, src) == 0 && strlen(e->user) == user.len &&
	       memcmp(e->user, user.p ? user.p : "", user.len) == 0;
}

/* Names for events: the network-supplied user escaped, "-" for the source-wide entry. */
static const char *shown_user(const char *user, char *buf, size_t cap)
{
	if (!user[0])
		return "-";
	auth_log_value(slice_cstr(user), buf, cap);
	return buf;
}

static void push(struct auth_limiter *l, const struct lent *e, bool start, const char *reason)
{
	struct auth_block_ev ev = { .start = start, .since = (int64_t)e->blocked_since,
				    .until = (int64_t)e->blocked_until };

	if (!l->sync)
		return;
	snprintf(ev.src, sizeof(ev.src), "%s", e->src);
	snprintf(ev.user, sizeof(ev.user), "%s", e->user);
	snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
	auth_blocksync_push(l->sync, &ev);
}

/* End a block (caller holds the lock). */
static void unblock(struct auth_limiter *l, struct lent *e, const char *why)
{
	char ub[200];

	log_security("unblocked", "src=%s user=\"%s\" reason=%s", e->src, shown_user(e->user, ub, sizeof(ub)), why);
	push(l, e, false, why);
	e->blocked_since = e->blocked_until = 0;
	e->failures = 0;
	e->persisted = false;
}

/* The entry for (src, user) in its set, or NULL; create makes room for it. */
static struct lent *find(struct auth_limiter *l, const char *src, struct slice user, bool create, uint64_t now_s,
			 pthread_mutex_t **lock)
{
	uint64_t key = key_of(src, user);
	unsigned set = (unsigned)(key % l->nsets);
	struct lent *base = &l->ents[(size_t)set * WAYS], *victim = NULL;

	*lock = &l->locks[set % SHARDS];
	pthread_mutex_lock(*lock);
	for (unsigned i = 0; i < WAYS; i++)
		if (same(&base[i], key, src, user))
			return &base[i];
	if (!create)
		return NULL;
	for (unsigned i = 0; i < WAYS; i++) {
		struct lent *e = &base[i];

		if (!e->key) {
			victim = e;
			break;
		}
		/* Unblocked entries go first, oldest touch first; then the block ending soonest. */
		if (!victim || (!e->blocked_until && victim->blocked_until) ||
		    (!e->blocked_until == !victim->blocked_until &&
		     (e->blocked_until ? e->blocked_until < victim->blocked_until : e->last_touch < victim->last_touch)))
			victim = e;
	}
	if (victim->key && victim->blocked_until)
		unblock(l, victim, "evicted");
	memset(victim, 0, sizeof(*victim));
	victim->key = key;
	snprintf(victim->src, sizeof(victim->src), "%s", src);
	memcpy(victim->user, user.p ? user.p : "", user.len);
	victim->window_start = now_s;
	return victim;
}

/* State of one entry at now_s (caller holds the lock). */
static enum auth_limit entry_state(struct auth_limiter *l, struct lent *e, unsigned limit, uint64_t now_s)
{
	if (!e)
		return AUTH_LIMIT_PASS;
	e->last_touch = now_s;
	if (e->blocked_until) {
		if (now_s < e->blocked_until)
			return AUTH_LIMIT_BLOCKED;
		unblock(l, e, "expired");
	}
	if (now_s - e->window_start >= l->window_s)
		return AUTH_LIMIT_PASS;
	if (e->failures * 2 >= limit && e->last_fail == now_s)
		return AUTH_LIMIT_SLOW;
	return AUTH_LIMIT_PASS;
}

enum auth_limit auth_limiter_check(struct auth_limiter *l, const char *src_ip, struct slice user, uint64_t now_s)
{
	pthread_mutex_t *lock;
	enum auth_limit a, b = AUTH_LIMIT_PASS;
	struct lent *e;

	if (!l || !src_ip || !l->max_failures || trusted(l, src_ip))
		return AUTH_LIMIT_PASS;
	e = find(l, src_ip, slice_from("", 0), false, now_s, &lock);
	a = entry_state(l, e, l->max_source_failures, now_s);
	pthread_mutex_unlock(lock);
	if (user.len && user.len <= SW_MAX_USER) {
		e = find(l, src_ip, user, false, now_s, &lock);
		b = entry_state(l, e, l->max_failures, now_s);
		pthread_mutex_unlock(lock);
	}
	return a > b ? a : b;
}

static void count(struct auth_limiter *l, const char *src, struct slice user, unsigned limit, uint64_t now_s)
{
	pthread_mutex_t *lock;
	struct lent *e = find(l, src, user, true, now_s, &lock);
	char ub[200];

	e->last_touch = now_s;
	if (now_s - e->window_start >= l->window_s) {
		e->window_start = now_s;
		e->failures = 0;
	}
	e->failures++;
	e->last_fail = now_s;
	if (e->failures >= limit && !e->blocked_until) {
		e->blocked_since = now_s;
		e->blocked_until = now_s + l->block_s;
		log_security("blocked", "src=%s user=\"%s\" failures=%u window=%u until=%llu scope=%s", e->src,
			     shown_user(e->user, ub, sizeof(ub)), e->failures, l->window_s,
			     (unsigned long long)e->blocked_until, e->user[0] ? "user" : "source");
		push(l, e, true, e->user[0] ? "user failures" : "source failures");
	}
	pthread_mutex_unlock(lock);
}

void auth_limiter_fail(struct auth_limiter *l, const char *src_ip, struct slice user, uint64_t now_s)
{
	if (!l || !src_ip || !l->max_failures || trusted(l, src_ip))
		return;
	count(l, src_ip, slice_from("", 0), l->max_source_failures, now_s);
	if (user.len && user.len <= SW_MAX_USER)
		count(l, src_ip, user, l->max_failures, now_s);
}

unsigned auth_limiter_lift(struct auth_limiter *l, const char *src_ip, const char *user, const char *why)
{
	unsigned n = 0;

	if (!l || !src_ip)
		return 0;
	for (unsigned set = 0; set < l->nsets; set++) {
		pthread_mutex_t *lock = &l->locks[set % SHARDS];

		pthread_mutex_lock(lock);
		for (unsigned i = 0; i < WAYS; i++) {
			struct lent *e = &l->ents[(size_t)set * WAYS + i];

			if (!e->key || !e->blocked_until || strcmp(e->src, src_ip) != 0 ||
			    (user && strcmp(e->user, user) != 0))
				continue;
			unblock(l, e, why);
			n++;
		}
		pthread_mutex_unlock(lock);
	}
	return n;
}

void auth_limiter_each_block(struct auth_limiter *l, auth_limiter_block_fn fn, void *arg)
{
	for (unsigned set = 0; set < l->nsets; set++) {
		pthread_mutex_t *lock = &l->locks[set % SHARDS];

		pthread_mutex_lock(lock);
		for (unsigned i = 0; i < WAYS; i++) {
			struct lent *e = &l->ents[(size_t)set * WAYS + i];

			if (e->key && e->blocked_until && e->persisted)
				fn(e->src, e->user, (int64_t)e->blocked_until, arg);
		}
		pthread_mutex_unlock(lock);
	}
}

void auth_limiter_mark_persisted(struct auth_limiter *l, const char *src, const char *user, int64_t until)
{
	pthread_mutex_t *lock;
	struct lent *e = find(l, src, slice_cstr(user), false, 0, &lock);

	if (e && e->blocked_until && (int64_t)e->blocked_until == until)
		e->persisted = true;
	pthread_mutex_unlock(lock);
}

void auth_limiter_restore(struct auth_limiter *l, const char *src, const char *user, int64_t since, int64_t until,
			  uint64_t now_s)
{
	pthread_mutex_t *lock;
	struct lent *e;

	if ((int64_t)now_s >= until)
		return;
	e = find(l, src, slice_cstr(user), true, now_s, &lock);
	e->blocked_since = (uint64_t)since;
	e->blocked_until = (uint64_t)until;
	e->failures = user[0] ? l->max_failures : l->max_source_failures;
	e->last_touch = now_s;
	e->persisted = true;
	pthread_mutex_unlock(lock);
}

void auth_limiter_expire(struct auth_limiter *l, uint64_t now_s)
{
	for (unsigned set = 0; set < l->nsets; set++) {
		pthread_mutex_t *lock = &l->locks[set % SHARDS];

		pthread_mutex_lock(lock);
		for (unsigned i = 0; i < WAYS; i++) {
			struct lent *e = &l->ents[(size_t)set * WAYS + i];

			if (e->key && e->blocked_until && now_s >= e->blocked_until)
				unblock(l, e, "expired");
		}
		pthread_mutex_unlock(lock);
	}
}
