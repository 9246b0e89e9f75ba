/* Nonce-count replay protection (RFC 7616 §3.4 "nc", §5.12; RFC 2617 §3.2.2):
 * a fixed table of slots, each holding one nonce's highest accepted nc and a
 * 64-bit window of the nc values below it. Memory never grows with traffic.
 * A nonce's slot is its issue counter modulo the table size, so two nonces of
 * this node share a slot only when one was issued a whole table's worth of
 * nonces after the other. A nonce that lost its slot is never trusted again:
 * each slot keeps a floor, the newest issue order (time, counter) it ever
 * evicted, and an untracked nonce at or below the floor is answered stale
 * (never valid). Slots are claimed on the first accepted use only, so
 * unauthenticated traffic cannot churn the table. */
#include "auth/auth_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define WINDOW_BITS 64
#define SHARDS 64

struct slot {
	uint64_t tag;     /**< nonce MAC bits; 0 with issued 0 = empty */
	uint64_t issued;  /**< issue order: UNIX seconds << 32 | counter */
	uint64_t window;  /**< bit i: nc == max_nc - i was accepted */
	uint64_t floor;   /**< newest issue order evicted from this slot */
	uint32_t max_nc;
	bool used;
	bool one_time_spent;
};

struct auth_replay {
	unsigned nslots;
	pthread_mutex_t locks[SHARDS];
	struct slot *slots;
};

int auth_replay_new(struct auth_replay **out, unsigned slots)
{
	struct auth_replay *r;

	if (!out)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->nslots = slots ? slots : SW_AUTH_REPLAY_SLOTS;
	r->slots = calloc(r->nslots, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < SHARDS; i++)
		pthread_mutex_init(&r->locks[i], NULL);
	*out = r;
	return 0;
}

void auth_replay_free(struct auth_replay *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < SHARDS; i++)
		pthread_mutex_destroy(&r->locks[i]);
	free(r->slots);
	free(r);
}

/* Record nc for the nonce, called only after its digest was proven right.
 * nc 0 (never valid) and values more than the window below the highest seen
 * are SEEN: they cannot be told apart from a replay. With one_time, a second
 * request on the same nonce (another nc) is STALE: the client retries at once
 * with the fresh nonce it is given. */
enum auth_replay_verdict auth_replay_use(struct auth_replay *r, const struct auth_nonce_info *nonce, uint32_t nc,
					 bool one_time)
{
	unsigned idx = (unsigned)(nonce->counter % r->nslots);
	pthread_mutex_t *lock = &r->locks[idx % SHARDS];
	struct slot *s = &r->slots[idx];
	uint64_t order = nonce->issued << 32 | nonce->counter;
	enum auth_replay_verdict v;

	if (nc == 0)
		return AUTH_REPLAY_SEEN;
	pthread_mutex_lock(lock);
	if (s->used && s->tag == nonce->tag && s->issued == order) {
		if (nc > s->max_nc) {
			uint32_t shift = nc - s->max_nc;

			if (one_time) {
				v = AUTH_REPLAY_STALE;
				goto out;
			}
			s->window = shift >= WINDOW_BITS ? 1 : (s->window << shift) | 1;
			s->max_nc = nc;
			v = AUTH_REPLAY_FRESH;
		} else {
			uint32_t d = s->max_nc - nc;

			if (d >= WINDOW_BITS || (s->window >> d) & 1) {
				v = AUTH_REPLAY_SEEN;
			} else if (one_time) {
				v = AUTH_REPLAY_STALE;
			} else {
				s->window |= 1ull << d;
				v = AUTH_REPLAY_FRESH;
			}
		}
		goto out;
	}
	/* Not tracked: a first use, unless this slot may have evicted it. */
	if (order <= s->floor) {
		v = AUTH_REPLAY_STALE;
		goto out;
	}
	if (s->used && s->issued > s->floor)
		s->floor = s->issued;
	s->tag = nonce->tag;
	s->issued = order;
	s->max_nc = nc;
	s->window = 1;
	s->used = true;
	v = AUTH_REPLAY_FRESH;
out:
	pthread_mutex_unlock(lock);
	return v;
}
