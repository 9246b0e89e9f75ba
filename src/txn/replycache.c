/* Retransmission cache for requests answered without a server transaction
 * (REGISTER): a fixed ring per worker of the last final responses, keyed by a
 * hash of the whole request as received and its source. A retransmission
 * (RFC 3261 §17.2.2: the same request again, same branch) gets the same
 * response without being processed again, so a retransmitted authenticated
 * REGISTER is not mistaken for a replay. Bounded memory: entries are
 * overwritten in turn; an entry older than Timer J (64*T1) is never used. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "txn/txn.h"

/* 16384 answers per worker cover about 3 s of 5,000 authenticated REGISTERs
 * per second and worker: the first retransmissions (T1 = 0.5 s, then 1 s). */
#define CACHE_ENTRIES 16384u
#define CACHE_INDEX (2u * CACHE_ENTRIES)
#define CACHE_PROBES 8u
#define CACHE_MAX_REPLY 1000u
#define CACHE_TTL_MS (64u * TXN_T1)

struct cache_entry {
	uint64_t key;      /**< 0 = empty */
	uint64_t born_ms;
	uint32_t slot;     /**< its place in the index */
	uint16_t len;
	char reply[CACHE_MAX_REPLY];
};

struct txn_reply_cache {
	struct cache_entry *entries;  /**< ring, overwritten in turn */
	uint32_t *index;              /**< key -> entry + 1 (0 = free), linear probing */
	unsigned next;
};

int txn_reply_cache_new(struct txn_reply_cache **out)
{
	struct txn_reply_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	/* calloc'd pages are only touched as the ring fills. */
	c->entries = calloc(CACHE_ENTRIES, sizeof(*c->entries));
	c->index = calloc(CACHE_INDEX, sizeof(*c->index));
	if (!c->entries || !c->index) {
		txn_reply_cache_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void txn_reply_cache_free(struct txn_reply_cache *c)
{
	if (!c)
		return;
	free(c->entries);
	free(c->index);
	free(c);
}

uint64_t txn_reply_cache_key(const char *req, size_t len, const struct tp_src *src)
{
	uint64_t h = base_hash_words(req, len);

	h ^= base_hash(&src->peer, src->peerlen) * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)src->proto << 61;
	return h ? h : 1;
}

const char *txn_reply_cache_find(struct txn_reply_cache *c, uint64_t key, uint64_t now_ms, size_t *len)
{
	for (unsigned i = 0; i < CACHE_PROBES; i++) {
		uint32_t ref = c->index[(key + i) % CACHE_INDEX];
		if (ref == 0)
			continue;
		struct cache_entry *e = &c->entries[ref - 1];
		if (e->key == key && now_ms - e->born_ms <= CACHE_TTL_MS) {
			*len = e->len;
			return e->reply;
		}
	}
	return NULL;
}

void txn_reply_cache_put(struct txn_reply_cache *c, uint64_t key, uint64_t now_ms, const char *reply, size_t len)
{
	struct cache_entry *e;
	uint32_t slot = UINT32_MAX;

	if (len > CACHE_MAX_REPLY)
		return; /* not kept: its retransmission is processed again */
	e = &c->entries[c->next];
	/* The overwritten answer leaves the index first. */
	if (e->key && c->index[e->slot] == c->next + 1)
		c->index[e->slot] = 0;
	for (unsigned i = 0; i < CACHE_PROBES && slot == UINT32_MAX; i++) {
		uint32_t s = (uint32_t)((key + i) % CACHE_INDEX);
		uint32_t ref = c->index[s];
		if (ref == 0 || now_ms - c->entries[ref - 1].born_ms > CACHE_TTL_MS)
			slot = s;
	}
	if (slot == UINT32_MAX)
		slot = (uint32_t)(key % CACHE_INDEX); /* all probes live: replace the first */
	e->key = key;
	e->born_ms = now_ms;
	e->slot = slot;
	e->len = (uint16_t)len;
	memcpy(e->reply, reply, len);
	c->index[slot] = c->next + 1;
	c->next = (c->next + 1) % CACHE_ENTRIES;
}
