/* Retransmission cache for requests answered without a server transaction
 * (REGISTER): a byte ring per worker of the last final responses, keyed by a
 * hash of the whole request as received and its source. A retransmission
 * (RFC 3261 §17.2.2: the same request again, same branch) gets the same
 * response without being processed again, so a retransmitted authenticated
 * REGISTER is not mistaken for a replay. Bounded memory: each answer takes
 * its own length (plus a 24-byte header) in the ring, the oldest are
 * overwritten in turn, and an entry older than Timer J (64*T1) is never used.
 * The ring starts at 8 MiB and doubles, up to 64 MiB, when it would otherwise
 * overwrite an answer younger than 2 s (the first retransmissions come 0.5
 * and 1.5 s after the request). Its pages are touched only as it fills. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/siphash.h"
#include "base/util.h"
#include "txn/txn.h"

/* 8 MiB per worker: about 20,000 REGISTER answers of ~400 bytes (a 200 is
 * kept without its Contact lines, registrar/answers.c), about 4 s of 5,000
 * authenticated REGISTERs per second and worker. 64 MiB keeps 2 s of 64,000
 * per second and worker. */
#define RING_MIN_BYTES (8u << 20)
#define RING_MAX_BYTES (64u << 20)
/* Index slots per ring byte: twice the entries of the smallest answers. */
#define RING_BYTES_PER_SLOT 128u
/* An answer younger than this is not overwritten while the ring can grow. */
#define GROW_WINDOW_MS (4u * TXN_T1)
#define CACHE_PROBES 8u
#define CACHE_TTL_MS (64u * TXN_T1)
/* A header with this len marks the end of a lap: the next entry is at 0. */
#define WRAP_MARK 0xffffu

struct entry {
	uint64_t key;      /**< never 0 */
	uint64_t born_ms;
	uint32_t slot;     /**< its place in the index */
	uint16_t len;      /**< reply bytes that follow, or WRAP_MARK */
	uint16_t pad;
};

_Static_assert(sizeof(struct entry) == 24, "entry header");
_Static_assert(RING_MIN_BYTES % 8 == 0 && RING_MAX_BYTES < UINT32_MAX, "ring size");

/* An index slot: where the entry is, and the top half of its key, so that a
 * probe reads the ring (a likely cache miss) only for a probable match. */
struct slot {
	uint32_t ref; /**< entry offset + 1, 0 = free */
	uint32_t tag; /**< key >> 32 */
};

struct txn_reply_cache {
	char *ring;        /**< ring_bytes; entries 8-byte aligned */
	size_t ring_bytes;
	struct slot *index; /**< key -> entry, linear probing */
	size_t nslots;     /**< a power of two */
	size_t head;       /**< where the next entry goes */
	size_t tail;       /**< the oldest live entry (== head when count is 0) */
	size_t count;      /**< live entries */
	/* Requests are keyed by SipHash under this per-cache random key: a
	 * request crafted to take another's answer would need the key. */
	uint8_t key[BASE_SIPHASH_KEY_LEN];
};

static size_t entry_size(size_t len)
{
	return (sizeof(struct entry) + len + 7) & ~(size_t)7;
}

static struct entry *at(const struct txn_reply_cache *c, size_t off)
{
	return (struct entry *)(void *)(c->ring + off);
}

/* No entry at the tail: the rest of the lap is too short for one, or holds
 * the wrap mark; the next entry is at offset 0. */
static bool tail_wraps(const struct txn_reply_cache *c)
{
	return c->ring_bytes - c->tail < sizeof(struct entry) || at(c, c->tail)->len == WRAP_MARK;
}

/* An empty ring of ring_bytes and its index; 0 or -ENOMEM. */
static int ring_alloc(struct txn_reply_cache *c, size_t ring_bytes)
{
	memset(c, 0, sizeof(*c));
	/* calloc'd pages are only touched as the ring fills. */
	c->ring = calloc(1, ring_bytes);
	c->nslots = ring_bytes / RING_BYTES_PER_SLOT;
	c->index = calloc(c->nslots, sizeof(*c->index));
	if (!c->ring || !c->index) {
		free(c->ring);
		free(c->index);
		memset(c, 0, sizeof(*c));
		return -ENOMEM;
	}
	c->ring_bytes = ring_bytes;
	return 0;
}

int txn_reply_cache_new(struct txn_reply_cache **out)
{
	struct txn_reply_cache *c = malloc(sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (ring_alloc(c, RING_MIN_BYTES)) {
		free(c);
		return -ENOMEM;
	}
	int err = base_random(c->key, sizeof(c->key));
	if (err) {
		txn_reply_cache_free(c);
		return err;
	}
	*out = c;
	return 0;
}

size_t txn_reply_cache_bytes(const struct txn_reply_cache *c)
{
	return c->ring_bytes;
}

void txn_reply_cache_free(struct txn_reply_cache *c)
{
	if (!c)
		return;
	free(c->ring);
	free(c->index);
	free(c);
}

uint64_t txn_reply_cache_key(const struct txn_reply_cache *c, const char *req, size_t len, const struct tp_src *src)
{
	uint64_t h = base_siphash13(c->key, req, len);

	h ^= base_hash_words(&src->peer, src->peerlen) * 0x9e3779b97f4a7c15ull;
	h ^= (uint64_t)src->proto << 61;
	return h ? h : 1;
}

const char *txn_reply_cache_find(struct txn_reply_cache *c, uint64_t key, uint64_t now_ms, size_t *len)
{
	for (unsigned i = 0; i < CACHE_PROBES; i++) {
		const struct slot *sl = &c->index[(key + i) & (c->nslots - 1)];
		if (sl->ref == 0 || sl->tag != (uint32_t)(key >> 32))
			continue;
		struct entry *e = at(c, sl->ref - 1);
		if (e->key == key && now_ms - e->born_ms <= CACHE_TTL_MS) {
			*len = e->len;
			return (const char *)(e + 1);
		}
	}
	return NULL;
}

/* Drop the oldest entry (or step over the end-of-lap mark). */
static void evict_oldest(struct txn_reply_cache *c)
{
	struct entry *e;

	if (tail_wraps(c)) {
		c->tail = 0;
		return;
	}
	e = at(c, c->tail);
	if (c->index[e->slot].ref == c->tail + 1)
		c->index[e->slot].ref = 0;
	c->tail += entry_size(e->len);
	c->count--;
}

static void put_entry(struct txn_reply_cache *c, uint64_t key, uint64_t born_ms, uint64_t now_ms,
		      const char *reply, size_t len);

/* The oldest entry is a real one, younger than GROW_WINDOW_MS. */
static bool tail_is_young(const struct txn_reply_cache *c, uint64_t now_ms)
{
	if (!c->count || tail_wraps(c))
		return false;
	return now_ms - at(c, c->tail)->born_ms < GROW_WINDOW_MS;
}

/* Double the ring (up to RING_MAX_BYTES), moving every live answer over,
 * oldest first so that a newer answer to the same request still wins.
 * false when at the cap or out of memory (the ring then overwrites as ever). */
static bool grow(struct txn_reply_cache *c, uint64_t now_ms)
{
	struct txn_reply_cache n;

	if (c->ring_bytes >= RING_MAX_BYTES || ring_alloc(&n, c->ring_bytes * 2))
		return false;
	while (c->count) {
		if (tail_wraps(c)) {
			c->tail = 0;
			continue;
		}
		const struct entry *e = at(c, c->tail);
		put_entry(&n, e->key, e->born_ms, now_ms, (const char *)(e + 1), e->len);
		c->tail += entry_size(e->len);
		c->count--;
	}
	memcpy(n.key, c->key, sizeof(n.key));
	free(c->ring);
	free(c->index);
	*c = n;
	return true;
}

void txn_reply_cache_put(struct txn_reply_cache *c, uint64_t key, uint64_t now_ms, const char *reply, size_t len)
{
	if (len > TXN_REPLY_CACHE_ENTRY_MAX || key == 0)
		return; /* not kept: its retransmission is processed again */
	put_entry(c, key, now_ms, now_ms, reply, len);
}

static void put_entry(struct txn_reply_cache *c, uint64_t key, uint64_t born_ms, uint64_t now_ms,
		      const char *reply, size_t len)
{
	size_t need = entry_size(len);
	uint32_t slot = UINT32_MAX;
	struct entry *e;

	if (c->head + need > c->ring_bytes) {
		/* End of the lap: what is left of the previous lap beyond head
		 * goes (the mark overwrites its first bytes), then from 0. */
		while (c->count && c->tail >= c->head) {
			if (tail_is_young(c, now_ms) && grow(c, now_ms)) {
				put_entry(c, key, born_ms, now_ms, reply, len);
				return;
			}
			evict_oldest(c);
		}
		if (c->ring_bytes - c->head >= sizeof(struct entry))
			at(c, c->head)->len = WRAP_MARK;
		c->head = 0;
		if (!c->count)
			c->tail = 0;
	}
	/* The previous lap's entries under [head, head + need) go. */
	while (c->count && c->tail >= c->head && c->tail < c->head + need) {
		if (tail_is_young(c, now_ms) && grow(c, now_ms)) {
			put_entry(c, key, born_ms, now_ms, reply, len);
			return;
		}
		evict_oldest(c);
	}
	if (!c->count)
		c->tail = c->head;
	/* A free or expired slot, or the one of an older answer to the same
	 * request (the newer answer wins). */
	for (unsigned i = 0; i < CACHE_PROBES && slot == UINT32_MAX; i++) {
		uint32_t s = (uint32_t)((key + i) & (c->nslots - 1));
		uint32_t ref = c->index[s].ref;
		if (ref == 0 || now_ms - at(c, ref - 1)->born_ms > CACHE_TTL_MS || at(c, ref - 1)->key == key)
			slot = s;
	}
	if (slot == UINT32_MAX)
		slot = (uint32_t)(key & (c->nslots - 1)); /* all probes live: replace the first */
	e = at(c, c->head);
	e->key = key;
	e->born_ms = born_ms;
	e->slot = slot;
	e->len = (uint16_t)len;
	e->pad = 0;
	memcpy(e + 1, reply, len);
	c->index[slot] = (struct slot){ (uint32_t)c->head + 1, (uint32_t)(key >> 32) };
	c->head += need;
	c->count++;
}
