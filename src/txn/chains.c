/* Transaction hash chains that double incrementally (see chains.h). A
 * doubling allocates the new array and then, on every later add or del,
 * spreads TXN_CHAINS_STEP of the old chains into it: an entry of old chain i
 * goes to new chain i or i + nb / 2 by one more bit of its hash. Lookups of a
 * chain not yet spread read the old array. */
#include "txn/chains.h"

#include <errno.h>
#include <stdlib.h>

int txn_chains_init(struct txn_chains *t, unsigned nb, unsigned max)
{
	*t = (struct txn_chains){ .nb = nb, .max = max };
	t->b = calloc(nb, sizeof(*t->b));
	return t->b ? 0 : -ENOMEM;
}

void txn_chains_fini(struct txn_chains *t)
{
	free(t->b);
	free(t->old);
	*t = (struct txn_chains){ 0 };
}

/* Spreads up to n old chains; frees the old array after the last one. */
static void spread(struct txn_chains *t, unsigned n)
{
	unsigned nold = t->nb / 2;

	for (; n && t->moved < nold; n--, t->moved++) {
		struct txn_link *e = t->old[t->moved], *next;
		for (; e; e = next) {
			next = e->next;
			struct txn_link **h = &t->b[e->hash & (t->nb - 1)];
			e->next = *h;
			*h = e;
		}
		t->old[t->moved] = NULL;
	}
	if (t->moved == nold) {
		free(t->old);
		t->old = NULL;
		t->moved = 0;
	}
}

void txn_chains_settle(struct txn_chains *t)
{
	if (t->old)
		spread(t, t->nb / 2);
}

static void start_doubling(struct txn_chains *t)
{
	struct txn_link **b = calloc((size_t)t->nb * 2, sizeof(*b));

	if (!b)
		return; /* chains just get longer */
	t->old = t->b;
	t->b = b;
	t->nb *= 2;
	t->moved = 0;
}

void txn_chains_add(struct txn_chains *t, struct txn_link *e)
{
	if (t->old)
		spread(t, TXN_CHAINS_STEP);
	else if (t->count >= 2 * t->nb && t->nb < t->max)
		start_doubling(t);
	struct txn_link **h = txn_chains_slot(t, e->hash);
	e->next = *h;
	*h = e;
	t->count++;
}

int txn_chains_del(struct txn_chains *t, struct txn_link *e)
{
	if (t->old)
		spread(t, TXN_CHAINS_STEP);
	for (struct txn_link **p = txn_chains_slot(t, e->hash); *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			t->count--;
			return 0;
		}
	return -ENOENT;
}

unsigned txn_chains_heads(const struct txn_chains *t)
{
	return t->nb + (t->old ? t->nb / 2 : 0);
}

struct txn_link *txn_chains_head(const struct txn_chains *t, unsigned i)
{
	if (i < t->nb)
		return t->b[i];
	return t->old[i - t->nb]; /* spread chains are NULL */
}
