/* Per-worker credential cache (see credcache.h): a set-associative table of
 * slots, each pointing to one heap blob holding the key and, for a known
 * user, the row packed (fixed fields, then every text field as a length and
 * its bytes), so an entry costs what its row holds rather than the ~2.4 KB
 * of struct store_cred. Blobs are wiped before they are freed. */
#include "auth/credcache.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"
#include "base/util.h"

/* Key: [by][user length][user][domain lower-cased]. */
#define KEY_MAX (2 + SW_MAX_USER + SW_MAX_DOMAIN)

struct slot {
	uint64_t hash;      /**< 0: empty */
	uint64_t expires_s; /**< usable while now < expires_s */
	uint8_t *blob;      /**< key, then the packed row unless negative; owned */
	uint16_t keylen;
	uint16_t bloblen;
	bool negative;
};

struct auth_credcache {
	struct slot *slots;
	unsigned nsets;
	unsigned ttl_s;
	uint64_t gen;  /**< generation the entries belong to */
	uint64_t read_gen; /**< generation of this cache's last store read */
	uint64_t seed; /**< per-cache hash seed */
};

static _Atomic uint64_t generation = 1;
static _Atomic uint64_t n_hits, n_misses, n_rereads, n_flushes;

/* The numeric fields of a row, copied as one block. */
struct fixed {
	int64_t valid_until, locked_until;
	int status, min_algo, pin_algo;
	unsigned hashes, extra_unusable;
};

/* Text fields of struct store_cred, packed in this order after struct fixed,
 * then the extra columns. */
#define TF(m) { offsetof(struct store_cred, m), sizeof(((struct store_cred *)0)->m) }
static const struct {
	size_t off, size;
} text_fields[] = {
	TF(username), TF(domain), TF(password), TF(ha1), TF(ha1b), TF(email), TF(rpid),
	TF(ha1_sha256), TF(ha1b_sha256), TF(ha1_sha512t256), TF(ha1b_sha512t256),
};
#define NTEXT (sizeof(text_fields) / sizeof(text_fields[0]))
#define NFIELDS (NTEXT + STORE_MAX_EXTRA_COLS)

/* A lookup key with its hash. */
struct key {
	uint8_t b[KEY_MAX];
	size_t n;
	uint64_t h;
};

/* Field i of c (text fields, then extra columns). */
static const char *field(const struct store_cred *c, size_t i)
{
	return i < NTEXT ? (const char *)c + text_fields[i].off : c->extra[i - NTEXT];
}

static size_t field_size(size_t i)
{
	return i < NTEXT ? text_fields[i].size : STORE_EXTRA_VALUE_MAX + 1;
}

/* Lengths of c's fields into lens; the bytes its packed form takes. */
static size_t measure(const struct store_cred *c, size_t lens[NFIELDS])
{
	size_t n = sizeof(struct fixed);

	for (size_t i = 0; i < NFIELDS; i++) {
		lens[i] = strnlen(field(c, i), field_size(i) - 1);
		n += 2 + lens[i];
	}
	return n;
}

static void pack(const struct store_cred *c, const size_t lens[NFIELDS], uint8_t *p)
{
	struct fixed f = {
		.valid_until = c->valid_until, .locked_until = c->locked_until, .status = c->status,
		.min_algo = c->min_algo, .pin_algo = c->pin_algo, .hashes = c->hashes,
		.extra_unusable = c->extra_unusable,
	};

	memcpy(p, &f, sizeof(f));
	p += sizeof(f);
	for (size_t i = 0; i < NFIELDS; i++) {
		p[0] = (uint8_t)(lens[i] >> 8);
		p[1] = (uint8_t)lens[i];
		memcpy(p + 2, field(c, i), lens[i]);
		p += 2 + lens[i];
	}
}

static const uint8_t *get_text(const uint8_t *p, char *s)
{
	size_t n = (size_t)p[0] << 8 | p[1];

	memcpy(s, p + 2, n);
	s[n] = '\0';
	return p + 2 + n;
}

static void unpack(const uint8_t *p, struct store_cred *c)
{
	struct fixed f;

	memset(c, 0, sizeof(*c));
	memcpy(&f, p, sizeof(f));
	p += sizeof(f);
	c->valid_until = f.valid_until;
	c->locked_until = f.locked_until;
	c->status = f.status;
	c->min_algo = f.min_algo;
	c->pin_algo = f.pin_algo;
	c->hashes = f.hashes;
	c->extra_unusable = f.extra_unusable;
	for (size_t i = 0; i < NFIELDS; i++)
		p = get_text(p, (char *)field(c, i));
}

/* Seeded FNV-1a over the key; never 0. */
static uint64_t key_hash(const struct auth_credcache *c, const uint8_t *key, size_t n)
{
	uint64_t h = 14695981039346656037ull ^ c->seed;

	for (size_t i = 0; i < n; i++) {
		h ^= key[i];
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

/* The key of a lookup; false when it is too long to be kept. */
static bool make_key(const struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
		     struct key *k)
{
	uint8_t *out = k->b;
	size_t n = 0;

	if (user.len > SW_MAX_USER || domain.len > SW_MAX_DOMAIN)
		return false;
	out[n++] = (uint8_t)by;
	out[n++] = (uint8_t)user.len;
	for (size_t i = 0; i < user.len; i++) /* a userhash is hex of any case */
		out[n++] = (uint8_t)(by == AUTH_CRED_BY_NAME ? user.p[i] : tolower((unsigned char)user.p[i]));
	for (size_t i = 0; i < domain.len; i++)
		out[n++] = (uint8_t)tolower((unsigned char)domain.p[i]);
	k->n = n;
	k->h = key_hash(c, out, n);
	return true;
}

static void drop(struct slot *s)
{
	if (s->blob) {
		base_wipe(s->blob, s->bloblen);
		free(s->blob);
	}
	memset(s, 0, sizeof(*s));
}

static void drop_all(struct auth_credcache *c)
{
	for (size_t i = 0; i < (size_t)c->nsets * AUTH_CREDCACHE_WAYS; i++)
		if (c->slots[i].hash)
			drop(&c->slots[i]);
}

/* Empty the cache when a flush happened since it last looked. */
static void sync_gen(struct auth_credcache *c)
{
	uint64_t g = atomic_load_explicit(&generation, memory_order_acquire);

	if (g != c->gen) {
		drop_all(c);
		c->gen = g;
	}
}

static struct slot *set_of(const struct auth_credcache *c, uint64_t h)
{
	return &c->slots[(size_t)(h % c->nsets) * AUTH_CREDCACHE_WAYS];
}

static struct slot *find(const struct auth_credcache *c, const struct key *k)
{
	struct slot *set = set_of(c, k->h);

	for (unsigned w = 0; w < AUTH_CREDCACHE_WAYS; w++)
		if (set[w].hash == k->h && set[w].keylen == k->n && memcmp(set[w].blob, k->b, k->n) == 0)
			return &set[w];
	return NULL;
}

int auth_credcache_new(struct auth_credcache **out, unsigned size, unsigned ttl_s)
{
	struct auth_credcache *c;
	int err;

	*out = NULL;
	if (size > AUTH_CREDCACHE_MAX_SIZE)
		return -EINVAL;
	if (!size || !ttl_s)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->nsets = (size + AUTH_CREDCACHE_WAYS - 1) / AUTH_CREDCACHE_WAYS;
	c->ttl_s = ttl_s;
	c->gen = auth_credcache_generation();
	c->slots = calloc((size_t)c->nsets * AUTH_CREDCACHE_WAYS, sizeof(*c->slots));
	err = c->slots ? base_random(&c->seed, sizeof(c->seed)) : -ENOMEM;
	if (err) {
		free(c->slots);
		free(c);
		return err;
	}
	*out = c;
	return 0;
}

void auth_credcache_free(struct auth_credcache *c)
{
	if (!c)
		return;
	drop_all(c);
	free(c->slots);
	free(c);
}

/* auth_credcache_get for a key made (or not: k NULL). */
static bool get_key(struct auth_credcache *c, const struct key *k, uint64_t now_s, struct store_cred *out, int *rc)
{
	struct slot *s;

	sync_gen(c);
	s = k ? find(c, k) : NULL;
	if (s && now_s >= s->expires_s) {
		drop(s);
		s = NULL;
	}
	if (!s) {
		atomic_fetch_add_explicit(&n_misses, 1, memory_order_relaxed);
		return false;
	}
	atomic_fetch_add_explicit(&n_hits, 1, memory_order_relaxed);
	if (s->negative) {
		memset(out, 0, sizeof(*out));
		*rc = -ENOENT;
	} else {
		unpack(s->blob + s->keylen, out);
		*rc = 0;
	}
	return true;
}

bool auth_credcache_get(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			uint64_t now_s, struct store_cred *out, int *rc)
{
	struct key k;

	if (!c)
		return false;
	return get_key(c, make_key(c, by, user, domain, &k) ? &k : NULL, now_s, out, rc);
}

static void put_key(struct auth_credcache *c, const struct key *k, uint64_t now_s, uint64_t gen,
		    const struct store_cred *cred)
{
	size_t lens[NFIELDS], size;
	struct slot *s, *set;

	sync_gen(c);
	s = find(c, k);
	if (s)
		drop(s); /* whatever happens next, the old row is gone */
	if (gen != c->gen)
		return; /* read before a flush: may predate the change */
	if (!s) {
		set = set_of(c, k->h);
		s = &set[0];
		for (unsigned w = 0; w < AUTH_CREDCACHE_WAYS; w++) {
			if (!set[w].hash || set[w].expires_s <= now_s) {
				s = &set[w];
				break;
			}
			if (set[w].expires_s < s->expires_s)
				s = &set[w];
		}
		drop(s);
	}
	size = k->n + (cred ? measure(cred, lens) : 0);
	if (size > UINT16_MAX)
		return;
	s->blob = malloc(size);
	if (!s->blob)
		return;
	memcpy(s->blob, k->b, k->n);
	if (cred)
		pack(cred, lens, s->blob + k->n);
	s->keylen = (uint16_t)k->n;
	s->bloblen = (uint16_t)size;
	s->negative = !cred;
	s->expires_s = now_s + c->ttl_s;
	s->hash = k->h;
}

void auth_credcache_put(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			uint64_t now_s, uint64_t gen, const struct store_cred *cred)
{
	struct key k;

	if (c && make_key(c, by, user, domain, &k))
		put_key(c, &k, now_s, gen, cred);
}

void auth_credcache_note_pin(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			     int rank)
{
	struct fixed f;
	struct slot *s;
	struct key k;

	if (!c || !make_key(c, by, user, domain, &k))
		return;
	sync_gen(c);
	s = find(c, &k);
	if (!s || s->negative)
		return;
	memcpy(&f, s->blob + s->keylen, sizeof(f));
	if (rank > f.pin_algo) {
		f.pin_algo = rank;
		memcpy(s->blob + s->keylen, &f, sizeof(f));
	}
}

int auth_credcache_lookup(struct auth_credcache *c, struct store *s, enum auth_cred_by by, struct slice user,
			  struct slice domain, bool fresh, struct store_cred *out, bool *hit)
{
	uint64_t now_s = base_mono_ms() / 1000, gen;
	struct key key, *k = c && make_key(c, by, user, domain, &key) ? &key : NULL;
	int rc;

	*hit = false;
	if (c && !fresh && get_key(c, k, now_s, out, &rc)) {
		*hit = true;
		return rc;
	}
	if (c && fresh)
		atomic_fetch_add_explicit(&n_rereads, 1, memory_order_relaxed);
	gen = auth_credcache_generation();
	/* A flush follows a committed change: a store snapshot opened before it
	 * (store_share_snapshot) could still show the old row, which would then
	 * be kept under the new generation. */
	if (c && gen != c->read_gen) {
		store_release_snapshot(s);
		c->read_gen = gen;
	}
	if (by == AUTH_CRED_BY_NAME)
		rc = store_get_cred(s, user, domain, out);
	else
		rc = store_get_cred_by_userhash(s, (enum store_hash)(by - AUTH_CRED_BY_USERHASH), user, domain, out);
	if (k && (rc == 0 || rc == -ENOENT))
		put_key(c, k, now_s, gen, rc == 0 ? out : NULL);
	return rc;
}

void auth_credcache_flush_all(void)
{
	atomic_fetch_add_explicit(&generation, 1, memory_order_acq_rel);
	atomic_fetch_add_explicit(&n_flushes, 1, memory_order_relaxed);
}

uint64_t auth_credcache_generation(void)
{
	return atomic_load_explicit(&generation, memory_order_acquire);
}

void auth_credcache_stats(struct auth_credcache_stats *out)
{
	out->hits = atomic_load_explicit(&n_hits, memory_order_relaxed);
	out->misses = atomic_load_explicit(&n_misses, memory_order_relaxed);
	out->rereads = atomic_load_explicit(&n_rereads, memory_order_relaxed);
	out->flushes = atomic_load_explicit(&n_flushes, memory_order_relaxed);
}

unsigned auth_credcache_count(const struct auth_credcache *c, uint64_t now_s)
{
	unsigned n = 0;

	if (!c || c->gen != auth_credcache_generation())
		return 0;
	for (size_t i = 0; i < (size_t)c->nsets * AUTH_CREDCACHE_WAYS; i++)
		n += c->slots[i].hash && now_s < c->slots[i].expires_s;
	return n;
}
