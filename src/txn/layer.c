/* The per-worker transaction layer: its tables, timers and scratch space. */
#include "txn/txn_int.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include "base/util.h"

int txn_layer_new(struct txn_layer **out, struct tp_worker *w, const struct txn_ops *ops)
{
	struct txn_layer *tl = calloc(1, sizeof(*tl));
	if (!tl)
		return -ENOMEM;
	tl->servers = calloc(TXN_BUCKETS_MIN, sizeof(*tl->servers));
	tl->clients = calloc(TXN_BUCKETS_MIN, sizeof(*tl->clients));
	if (!tl->servers || !tl->clients) {
		free(tl->servers);
		free(tl->clients);
		free(tl);
		return -ENOMEM;
	}
	tl->nserver_buckets = tl->nclient_buckets = TXN_BUCKETS_MIN;
	tl->w = w;
	tl->ops = ops;
	tl->now_ms = base_mono_ms();
	*out = tl;
	return 0;
}

void txn_layer_free(struct txn_layer *tl)
{
	if (!tl)
		return;
	for (unsigned i = 0; i < tl->nserver_buckets; i++)
		while (tl->servers[i])
			txn_server_destroy(tl->servers[i]);
	for (unsigned i = 0; i < tl->nclient_buckets; i++)
		while (tl->clients[i])
			txn_client_destroy(tl->clients[i]);
	txn_timers_fini(&tl->timers);
	free(tl->servers);
	free(tl->clients);
	free(tl);
}

/* Why trim: finished transactions wait out timers J/L/M (32 s), so a burst
 * of calls leaves many small blocks freed together some 32 s later; glibc
 * keeps them in the worker's arena (only the top of a heap is returned by
 * itself), and resident memory would stay at the burst's peak. When the live
 * count has dropped to an eighth of a high-water mark of at least 1,024,
 * malloc_trim(0) returns the free pages. That happens at most once per
 * drained burst, never per message. */
#define TXN_TRIM_MIN_PEAK 1024u

void txn_layer_trim(struct txn_layer *tl)
{
	unsigned live = tl->nservers + tl->nclients;

	if (live > tl->hiwater)
		tl->hiwater = live;
	if (tl->hiwater >= TXN_TRIM_MIN_PEAK && live <= tl->hiwater / 8) {
		malloc_trim(0);
		tl->hiwater = live;
	}
}

unsigned txn_layer_pending(const struct txn_layer *tl)
{
	return tl->npending;
}

void txn_layer_counts(const struct txn_layer *tl, unsigned *servers, unsigned *clients)
{
	*servers = tl->nservers;
	*clients = tl->nclients;
}
