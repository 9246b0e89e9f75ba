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
	if (txn_chains_init(&tl->servers, TXN_BUCKETS_MIN, TXN_BUCKETS_MAX) ||
	    txn_chains_init(&tl->clients, TXN_BUCKETS_MIN, TXN_BUCKETS_MAX)) {
		txn_chains_fini(&tl->servers);
		txn_chains_fini(&tl->clients);
		free(tl);
		return -ENOMEM;
	}
	tl->w = w;
	tl->ops = ops;
	tl->now_ms = base_mono_ms();
	if (base_random(tl->hash_key, sizeof(tl->hash_key))) {
		txn_layer_free(tl);
		return -EIO;
	}
	*out = tl;
	return 0;
}

void txn_layer_free(struct txn_layer *tl)
{
	if (!tl)
		return;
	/* Destroying unlinks, which would spread chains under the walk. */
	txn_chains_settle(&tl->servers);
	txn_chains_settle(&tl->clients);
	struct txn_link *l;
	for (unsigned i = 0; i < txn_chains_heads(&tl->servers); i++)
		while ((l = txn_chains_head(&tl->servers, i)))
			txn_server_destroy((struct txn_server *)l);
	for (unsigned i = 0; i < txn_chains_heads(&tl->clients); i++)
		while ((l = txn_chains_head(&tl->clients, i)))
			txn_client_destroy((struct txn_client *)l);
	txn_timers_fini(&tl->timers);
	txn_chains_fini(&tl->servers);
	txn_chains_fini(&tl->clients);
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
	unsigned live = tl->servers.count + tl->clients.count;

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
	*servers = tl->servers.count;
	*clients = tl->clients.count;
}
