/* Chained hash table of transactions whose bucket array doubles a few
 * buckets at a time (chains.c), so that growing a table of a million
 * transactions never stops the worker for the whole rehash. Entries embed a
 * struct txn_link; the table owns only its bucket arrays. */
#ifndef SIPWARDEN_TXN_CHAINS_H
#define SIPWARDEN_TXN_CHAINS_H

#include <stdint.h>

struct txn_link {
	struct txn_link *next;
	uint64_t hash;
};

struct txn_chains {
	struct txn_link **b;   /**< nb chains, nb a power of two */
	struct txn_link **old; /**< while doubling: the previous nb / 2 chains, else NULL */
	unsigned nb;
	unsigned moved;        /**< old chains below this index are already spread into b */
	unsigned count;        /**< entries linked */
	unsigned max;          /**< nb never grows past this */
};

/* Old chains spread per add or del while doubling: the array of nb / 2 old
 * chains is gone after nb / 16 operations, long before the table holds
 * enough entries to double again (2 * nb more). */
#define TXN_CHAINS_STEP 8u

/* nb and max: powers of two, nb <= max. 0 or -ENOMEM. */
int txn_chains_init(struct txn_chains *t, unsigned nb, unsigned max);
/* Frees the bucket arrays, not the entries. */
void txn_chains_fini(struct txn_chains *t);

/* The slot holding the head of hash's chain: in the old array while that
 * chain has not been spread yet. */
static inline struct txn_link **txn_chains_slot(const struct txn_chains *t, uint64_t hash)
{
	if (t->old) {
		unsigned i = (unsigned)hash & (t->nb / 2 - 1);
		if (i >= t->moved)
			return &t->old[i];
	}
	return &t->b[hash & (t->nb - 1)];
}

/* The first entry of the chain a hash lives in. */
static inline struct txn_link *txn_chains_first(const struct txn_chains *t, uint64_t hash)
{
	return *txn_chains_slot(t, hash);
}

/* Links e (e->hash set by the caller); starts a doubling once the table
 * holds more than two entries per chain and allocation allows. */
void txn_chains_add(struct txn_chains *t, struct txn_link *e);
/* Unlinks e if it is linked; 0, or -ENOENT when it was not. */
int txn_chains_del(struct txn_chains *t, struct txn_link *e);
/* Finishes a doubling in progress (before a walk that unlinks entries). */
void txn_chains_settle(struct txn_chains *t);

/* Every entry is on one of txn_chains_heads(t) chains: txn_chains_head(t, i)
 * for i below it. Stable while nothing is added or deleted. */
unsigned txn_chains_heads(const struct txn_chains *t);
struct txn_link *txn_chains_head(const struct txn_chains *t, unsigned i);

#endif
