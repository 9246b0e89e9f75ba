/* Per-worker timers for RFC 3261 §17 (A-M): intrusive timers in one FIFO list
 * per duration, with a binary min-heap for durations beyond the lists; the
 * worker's epoll timeout is the distance to the first timer that may not be
 * put off any longer (TXN_TIMER_SLACK). No locks: the timers belong to one
 * worker. */
#include "txn/txn_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static void list_unlink(struct txn_timer_list *l, struct txn_timer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		l->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		l->tail = t->prev;
	t->prev = t->next = NULL;
}

void txn_timers_stop(struct txn_timers *ts, struct txn_timer *t)
{
	if (t->list) {
		list_unlink(&ts->list[t->list - 1], t);
		t->list = 0;
	} else {
		txn_heap_del(&ts->heap, t);
	}
}

/* The list of duration ms, opened if there is room; NULL when there is none. */
static struct txn_timer_list *list_for(struct txn_timers *ts, unsigned ms)
{
	for (unsigned i = 0; i < ts->nlists; i++)
		if (ts->list[i].ms == ms)
			return &ts->list[i];
	if (ts->nlists == TXN_TIMER_LISTS)
		return NULL;
	struct txn_timer_list *l = &ts->list[ts->nlists++];
	l->ms = ms;
	l->head = l->tail = NULL;
	return l;
}

int txn_timers_start(struct txn_timers *ts, struct txn_timer *t, uint64_t now_ms, unsigned ms)
{
	txn_timers_stop(ts, t);
	uint64_t due = now_ms + ms;
	struct txn_timer_list *l = list_for(ts, ms);
	/* A list stays sorted only while its timers are armed in time order: an
	 * earlier now_ms than its tail's (not from the monotonic clock) goes to the
	 * heap instead. */
	if (!l || (l->tail && l->tail->due_ms > due))
		return txn_heap_add(&ts->heap, t, due);
	t->due_ms = due;
	t->next = NULL;
	t->prev = l->tail;
	if (l->tail)
		l->tail->next = t;
	else
		l->head = t;
	l->tail = t;
	t->list = (uint8_t)(l - ts->list + 1);
	return 0;
}

struct txn_timer *txn_timers_first(const struct txn_timers *ts)
{
	struct txn_timer *best = txn_heap_top(&ts->heap);
	for (unsigned i = 0; i < ts->nlists; i++) {
		struct txn_timer *h = ts->list[i].head;
		if (h && (!best || h->due_ms < best->due_ms))
			best = h;
	}
	return best;
}

uint64_t txn_timers_wake(const struct txn_timers *ts)
{
	const struct txn_timer *top = txn_heap_top(&ts->heap);
	uint64_t wake = top ? top->due_ms : UINT64_MAX;
	for (unsigned i = 0; i < ts->nlists; i++) {
		const struct txn_timer *h = ts->list[i].head;
		if (h && h->due_ms + TXN_TIMER_SLACK(ts->list[i].ms) < wake)
			wake = h->due_ms + TXN_TIMER_SLACK(ts->list[i].ms);
	}
	return wake;
}

void txn_timers_fini(struct txn_timers *ts)
{
	txn_heap_fini(&ts->heap);
	memset(ts, 0, sizeof(*ts));
}

void txn_timer_arm(struct txn_layer *tl, struct txn_timer *t, unsigned ms, txn_timer_fn fn)
{
	t->fn = fn;
	/* Out of memory leaves t disarmed: the transaction ends by its other
	 * timer or at shutdown. */
	(void)txn_timers_start(&tl->timers, t, base_mono_ms(), ms);
}

int txn_layer_run(struct txn_layer *tl, uint64_t now_ms)
{
	struct txn_timer *t;

	tl->now_ms = now_ms;
	while ((t = txn_timers_first(&tl->timers)) && t->due_ms <= now_ms) {
		txn_timers_stop(&tl->timers, t);
		t->fn(t);
	}
	txn_layer_trim(tl);
	if (!t)
		return -1;
	/* Sleep until the first timer that may not wait any longer; the ones due
	 * meanwhile fire on that wake-up or on a message's, whichever comes first. */
	uint64_t wake = txn_timers_wake(&tl->timers);
	uint64_t d = wake > now_ms ? wake - now_ms : 0;
	return d > 60000 ? 60000 : (int)d;
}
