/* The per-worker transaction layer: its tables, timer heap and scratch space. */
#include "txn/txn_int.h"

#include <errno.h>
#include <stdlib.h>

#include "base/util.h"

int txn_layer_new(struct txn_layer **out, struct tp_worker *w, const struct txn_ops *ops)
{
	struct txn_layer *tl = calloc(1, sizeof(*tl));
	if (!tl)
		return -ENOMEM;
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
	for (unsigned i = 0; i < TXN_BUCKETS; i++) {
		while (tl->servers[i])
			txn_server_destroy(tl->servers[i]);
		while (tl->clients[i])
			txn_client_destroy(tl->clients[i]);
	}
	txn_heap_fini(&tl->heap);
	free(tl);
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
