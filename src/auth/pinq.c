/* Deferred first-use records: a subscriber's first successful login with an
 * algorithm that pins nothing (MD5, the weakest rank: it refuses no later
 * login) is bookkeeping for `sipwarden-ctl user report`, so the worker queues
 * it here and the registration write-back thread writes the batch in one
 * transaction. Pins that refuse something (SHA-256 and up) never come here:
 * verify.c writes them before answering. Bounded: a full queue makes the
 * caller write at once. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/limits.h"
#include "base/log.h"

struct pin_rec {
	char user[SW_MAX_USER + 1];
	char domain[SW_MAX_DOMAIN + 1];
	int rank;
};

struct auth_pinq {
	pthread_mutex_t lock;
	struct pin_rec *cur;   /**< filled by workers */
	struct pin_rec *spare; /**< written by the flusher, swapped with cur */
	size_t n;
	bool dropping;         /**< a requeue lost records (logged once per incident) */
};

int auth_pinq_new(struct auth_pinq **out)
{
	struct auth_pinq *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	/* calloc'd pages are only touched as the queue fills. */
	q->cur = calloc(SW_MAX_PIN_QUEUE, sizeof(*q->cur));
	q->spare = calloc(SW_MAX_PIN_QUEUE, sizeof(*q->spare));
	if (!q->cur || !q->spare) {
		free(q->cur);
		free(q->spare);
		free(q);
		return -ENOMEM;
	}
	pthread_mutex_init(&q->lock, NULL);
	*out = q;
	return 0;
}

void auth_pinq_free(struct auth_pinq *q)
{
	if (!q)
		return;
	pthread_mutex_destroy(&q->lock);
	free(q->cur);
	free(q->spare);
	free(q);
}

/* Copy a NUL-terminated name into a record field; false when it is too long. */
static bool put(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

int auth_pinq_push(struct auth_pinq *q, const char *user, const char *domain, int rank)
{
	struct pin_rec *r;
	int err = 0;

	pthread_mutex_lock(&q->lock);
	if (q->n == SW_MAX_PIN_QUEUE) {
		err = -ENOSPC;
	} else {
		r = &q->cur[q->n];
		if (put(r->user, sizeof(r->user), user) && put(r->domain, sizeof(r->domain), domain)) {
			r->rank = rank;
			q->n++;
		} else {
			err = -EINVAL;
		}
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

size_t auth_pinq_len(struct auth_pinq *q)
{
	size_t n;

	pthread_mutex_lock(&q->lock);
	n = q->n;
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* Put a failed batch back in front of what was queued meanwhile, as room allows. */
static void requeue(struct auth_pinq *q, const struct pin_rec *batch, size_t n)
{
	size_t keep;

	pthread_mutex_lock(&q->lock);
	keep = n < SW_MAX_PIN_QUEUE - q->n ? n : SW_MAX_PIN_QUEUE - q->n;
	memmove(q->cur + keep, q->cur, q->n * sizeof(*q->cur));
	memcpy(q->cur, batch, keep * sizeof(*q->cur));
	q->n += keep;
	if (keep < n && !q->dropping)
		LOG_WARN("auth: %zu first-use algorithm records dropped (store failing)", n - keep);
	q->dropping = keep < n;
	pthread_mutex_unlock(&q->lock);
}

int auth_pinq_flush(struct auth_pinq *q, struct store *store)
{
	struct pin_rec *batch;
	size_t n;
	int err;

	pthread_mutex_lock(&q->lock);
	batch = q->cur;
	n = q->n;
	q->cur = q->spare;
	q->spare = batch;
	q->n = 0;
	pthread_mutex_unlock(&q->lock);
	if (n == 0)
		return 0;
	err = store_begin(store);
	for (size_t i = 0; i < n && !err; i++) {
		/* Raises only (the store compares): a pin recorded meanwhile is kept. */
		err = store_user_raise_pin(store, batch[i].user, batch[i].domain, batch[i].rank);
		if (err == -ENOENT)
			err = 0;
	}
	if (!err)
		err = store_commit(store);
	if (err) {
		store_rollback(store);
		requeue(q, batch, n);
	}
	return err;
}
