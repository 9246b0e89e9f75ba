/* Mirror of the limiter's blocks in the store's sw_blocks table, so that
 * sipwarden-ctl (another process) can list them and lift one by deleting its
 * row. A small thread with its own store handle, every SW_AUTH_SYNC_MS: writes
 * queued block starts and ends, ends blocks whose time is over, then reads the
 * table and lifts every block whose row is gone (event=unblocked reason=admin).
 * Workers only queue: no database write ever happens on a worker thread. */
#include "auth/auth_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"

struct auth_blocksync {
	struct store *store;
	struct auth_limiter *lim;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	struct auth_block_ev q[SW_AUTH_BLOCK_QUEUE];
	unsigned head, n;
};

void auth_blocksync_push(struct auth_blocksync *bs, const struct auth_block_ev *ev)
{
	pthread_mutex_lock(&bs->lock);
	if (bs->n == SW_AUTH_BLOCK_QUEUE) {
		pthread_mutex_unlock(&bs->lock);
		LOG_WARN("auth: block mirror queue full, sw_blocks not updated for %s", ev->src);
		return;
	}
	bs->q[(bs->head + bs->n++) % SW_AUTH_BLOCK_QUEUE] = *ev;
	pthread_mutex_unlock(&bs->lock);
}

/* Rows seen in the table during one pass. */
struct rows {
	struct store_block *v;
	size_t n, cap;
};

static int collect(const struct store_block *b, void *arg)
{
	struct rows *r = arg;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct store_block *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = *b;
	return 0;
}

struct lift {
	const struct rows *rows;
	char (*gone)[2][SW_MAX_USER + 49];
	size_t n, cap;
};

static void find_gone(const char *src, const char *user, int64_t until, void *arg)
{
	struct lift *lf = arg;

	(void)until;
	for (size_t i = 0; i < lf->rows->n; i++)
		if (strcmp(lf->rows->v[i].src, src) == 0 && strcmp(lf->rows->v[i].user, user) == 0)
			return;
	if (lf->n < lf->cap) {
		snprintf(lf->gone[lf->n][0], sizeof(lf->gone[0][0]), "%s", src);
		snprintf(lf->gone[lf->n][1], sizeof(lf->gone[0][1]), "%s", user);
		lf->n++;
	}
}

static void pass(struct auth_blocksync *bs)
{
	struct auth_block_ev ev;
	struct rows rows = { 0 };
	char gone[64][2][SW_MAX_USER + 49];
	struct lift lf = { .rows = &rows, .gone = gone, .cap = 64 };
	uint64_t now = base_wall_s();

	for (;;) {
		pthread_mutex_lock(&bs->lock);
		if (!bs->n) {
			pthread_mutex_unlock(&bs->lock);
			break;
		}
		ev = bs->q[bs->head];
		bs->head = (bs->head + 1) % SW_AUTH_BLOCK_QUEUE;
		bs->n--;
		pthread_mutex_unlock(&bs->lock);
		if (ev.start) {
			struct store_block b = { .since = ev.since, .until = ev.until };

			memcpy(b.src, ev.src, sizeof(b.src));
			memcpy(b.user, ev.user, sizeof(b.user));
			memcpy(b.reason, ev.reason, sizeof(b.reason));
			if (store_block_put(bs->store, &b) == 0)
				auth_limiter_mark_persisted(bs->lim, ev.src, ev.user, ev.until);
		} else {
			store_block_del(bs->store, ev.src, ev.user);
		}
	}
	auth_limiter_expire(bs->lim, now);
	store_block_purge(bs->store, (int64_t)now);
	if (store_block_list(bs->store, collect, &rows) == 0) {
		auth_limiter_each_block(bs->lim, find_gone, &lf);
		for (size_t i = 0; i < lf.n; i++)
			auth_limiter_lift(bs->lim, gone[i][0], gone[i][1], "admin");
	}
	free(rows.v);
}

static void *run(void *arg)
{
	struct auth_blocksync *bs = arg;

	pthread_mutex_lock(&bs->lock);
	while (!bs->stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(SW_AUTH_SYNC_MS % 1000) * 1000000L;
		ts.tv_sec += SW_AUTH_SYNC_MS / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&bs->cond, &bs->lock, &ts);
		if (bs->stop)
			break;
		pthread_mutex_unlock(&bs->lock);
		pass(bs);
		pthread_mutex_lock(&bs->lock);
	}
	pthread_mutex_unlock(&bs->lock);
	pass(bs); /* last queued events */
	return NULL;
}

static int restore(const struct store_block *b, void *arg)
{
	auth_limiter_restore(arg, b->src, b->user, b->since, b->until, base_wall_s());
	return 0;
}

int auth_blocksync_start(struct auth_blocksync **out, const char *db_url, struct auth_limiter *l)
{
	struct auth_blocksync *bs = calloc(1, sizeof(*bs));
	int err;

	if (!bs)
		return -ENOMEM;
	err = store_open(&bs->store, db_url);
	if (err) {
		free(bs);
		return err;
	}
	bs->lim = l;
	pthread_mutex_init(&bs->lock, NULL);
	pthread_cond_init(&bs->cond, NULL);
	/* Blocks outlive a restart: the rows still running are taken back. */
	store_block_purge(bs->store, (int64_t)base_wall_s());
	store_block_list(bs->store, restore, l);
	err = -pthread_create(&bs->thread, NULL, run, bs);
	if (err) {
		store_close(bs->store);
		pthread_mutex_destroy(&bs->lock);
		pthread_cond_destroy(&bs->cond);
		free(bs);
		return err;
	}
	auth_limiter_set_sync(l, bs);
	*out = bs;
	return 0;
}

void auth_blocksync_stop(struct auth_blocksync *bs)
{
	if (!bs)
		return;
	pthread_mutex_lock(&bs->lock);
	bs->stop = true;
	pthread_cond_signal(&bs->cond);
	pthread_mutex_unlock(&bs->lock);
	pthread_join(bs->thread, NULL);
	auth_limiter_set_sync(bs->lim, NULL);
	store_close(bs->store);
	pthread_mutex_destroy(&bs->lock);
	pthread_cond_destroy(&bs->cond);
	free(bs);
}
