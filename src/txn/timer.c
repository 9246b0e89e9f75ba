/* Per-worker timers for RFC 3261 §17 (A-K): a binary min-heap of intrusive
 * timers; the worker's epoll timeout is the distance to the top. No locks: a
 * heap belongs to one worker. */
#include "txn/txn_int.h"

#include <errno.h>
#include <stdlib.h>

#include "base/util.h"

void txn_heap_fini(struct txn_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

static void put(struct txn_heap *h, unsigned i, struct txn_timer *t)
{
	h->v[i] = t;
	t->idx = i + 1;
}

static void sift_up(struct txn_heap *h, unsigned i)
{
	struct txn_timer *t = h->v[i];
	while (i > 0) {
		unsigned p = (i - 1) / 2;
		if (h->v[p]->due_ms <= t->due_ms)
			break;
		put(h, i, h->v[p]);
		i = p;
	}
	put(h, i, t);
}

static void sift_down(struct txn_heap *h, unsigned i)
{
	struct txn_timer *t = h->v[i];
	for (;;) {
		unsigned c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->due_ms < h->v[c]->due_ms)
			c++;
		if (t->due_ms <= h->v[c]->due_ms)
			break;
		put(h, i, h->v[c]);
		i = c;
	}
	put(h, i, t);
}

void txn_heap_del(struct txn_heap *h, struct txn_timer *t)
{
	if (!t->idx)
		return;
	unsigned i = t->idx - 1;
	t->idx = 0;
	h->n--;
	if (i == h->n)
		return;
	put(h, i, h->v[h->n]);
	sift_down(h, i);
	sift_up(h, h->v[i]->idx - 1);
}

int txn_heap_add(struct txn_heap *h, struct txn_timer *t, uint64_t due_ms)
{
	txn_heap_del(h, t);
	if (h->n == h->cap) {
		unsigned cap = h->cap ? h->cap * 2 : 256;
		struct txn_timer **v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	t->due_ms = due_ms;
	h->v[h->n] = t;
	t->idx = ++h->n;
	sift_up(h, h->n - 1);
	return 0;
}

struct txn_timer *txn_heap_top(const struct txn_heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void txn_timer_arm(struct txn_layer *tl, struct txn_timer *t, unsigned ms, txn_timer_fn fn)
{
	t->fn = fn;
	if (txn_heap_add(&tl->heap, t, base_mono_ms() + ms))
		t->idx = 0; /* out of memory: the transaction ends by its other timer or at shutdown */
}

int txn_layer_run(struct txn_layer *tl, uint64_t now_ms)
{
	struct txn_timer *t;

	tl->now_ms = now_ms;
	while ((t = txn_heap_top(&tl->heap)) && t->due_ms <= now_ms) {
		txn_heap_del(&tl->heap, t);
		t->fn(t);
	}
	txn_layer_trim(tl);
	if (!t)
		return -1;
	uint64_t d = t->due_ms - now_ms;
	return d > 60000 ? 60000 : (int)d;
}
