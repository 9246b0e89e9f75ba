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

/* Text fields of struct store_cred, packed in this order after struct fixed. */
#define TF(m) { offsetof(struct store_cred, m), sizeof(((struct store_cred *)0)->m) }
static const struct {
	size_t off, size;
} text_fields[] = {
	TF(username), TF(domain), TF(password), TF(ha1), TF(ha1b), TF(email), TF(rpid),
	TF(ha1_sha256), TF(ha1b_sha256), TF(ha1_sha512t256), TF(ha1b_sha512t256),
};
#define NTEXT (sizeof(text_fields) / sizeof(text_fields[0]))

static size_t field_len(const char *p, size_t size)
{
	return strnlen(p, size - 1);
}

/* Bytes the packed form of c takes. */
static size_t packed_size(const struct store_cred *c)
{
	size_t n = sizeof(struct fixed);

	for (size_t i = 0; i < NTEXT; i++)
		n += 2 + field_len((const char *)c + text_fields[i].off, text_fields[i].size);
	for (unsigned i = 0; i < STORE_MAX_EXTRA_COLS; i++)
		n += 2 + field_len(c->extra[i], sizeof(c->extra[i]));
	return n;
}

static uint8_t *put_text(uint8_t *p, const char *s, size_t size)
{
	size_t n = field_len(s, size);

	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	memcpy(p + 2, s, n);
	return p + 2 + n;
}

static void pack(const struct store_cred *c, uint8_t *p)
{
	struct fixed f = {
		.valid_until = c->valid_until, .locked_until = c->locked_until, .status = c->status,
		.min_algo = c->min_algo, .pin_algo = c->pin_algo, .hashes = c->hashes,
		.extra_unusable = c->extra_unusable,
	};

	memcpy(p, &f, sizeof(f));
	p += sizeof(f);
	for (size_t i = 0; i < NTEXT; i++)
		p = put_text(p, (const char *)c + text_fields[i].off, text_fields[i].size);
	for (unsigned i = 0; i < STORE_MAX_EXTRA_COLS; i++)
		p = put_text(p, c->extra[i], sizeof(c->extra[i]));
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
	for (size_t i = 0; i < NTEXT; i++)
		p = get_text(p, (char *)c + text_fields[i].off);
	for (unsigned i = 0; i < STORE_MAX_EXTRA_COLS; i++)
		p = get_text(p, c->extra[i]);
}

/* The key bytes into out (KEY_MAX); 0 when the key is too long to be kept. */
static size_t make_key(enum auth_cred_by by, struct slice user, struct slice domain, uint8_t *out)
{
	size_t n = 0;

	if (user.len > SW_MAX_USER || domain.len > SW_MAX_DOMAIN)
		return 0;
	out[n++] = (uint8_t)by;
	out[n++] = (uint8_t)user.len;
	for (size_t i = 0; i < user.len; i++) /* a userhash is hex of any case */
		out[n++] = (uint8_t)(by == AUTH_CRED_BY_NAME ? user.p[i] : tolower((unsigned char)user.p[i]));
	for (size_t i = 0; i < domain.len; i++)
		out[n++] = (uint8_t)tolower((unsigned char)domain.p[i]);
	return n;
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

static struct slot *find(const struct auth_credcache *c, uint64_t h, const uint8_t *key, size_t n)
{
	struct slot *set = set_of(c, h);

	for (unsigned w = 0; w < AUTH_CREDCACHE_WAYS; w++)
		if (set[w].hash == h && set[w].keylen == n && memcmp(set[w].blob, key, n) == 0)
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

bool auth_credcache_get(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			uint64_t now_s, struct store_cred *out, int *rc)
{
	uint8_t key[KEY_MAX];
	struct slot *s;
	size_t n;

	if (!c)
		return false;
	sync_gen(c);
	n = make_key(by, user, domain, key);
	s = n ? find(c, key_hash(c, key, n), key, n) : NULL;
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

void auth_credcache_put(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			uint64_t now_s, uint64_t gen, const struct store_cred *cred)
{
	uint8_t key[KEY_MAX];
	struct slot *s, *set;
	size_t n, size;
	uint64_t h;

	if (!c)
		return;
	sync_gen(c);
	n = make_key(by, user, domain, key);
	if (!n)
		return;
	h = key_hash(c, key, n);
	s = find(c, h, key, n);
	if (s)
		drop(s); /* whatever happens next, the old row is gone */
	if (gen != c->gen)
		return; /* read before a flush: may predate the change */
	if (!s) {
		set = set_of(c, h);
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
	size = n + (cred ? packed_size(cred) : 0);
	if (size > UINT16_MAX)
		return;
	s->blob = malloc(size);
	if (!s->blob)
		return;
	memcpy(s->blob, key, n);
	if (cred)
		pack(cred, s->blob + n);
	s->keylen = (uint16_t)n;
	s->bloblen = (uint16_t)size;
	s->negative = !cred;
	s->expires_s = now_s + c->ttl_s;
	s->hash = h;
}

void auth_credcache_note_pin(struct auth_credcache *c, enum auth_cred_by by, struct slice user, struct slice domain,
			     int rank)
{
	uint8_t key[KEY_MAX];
	struct fixed f;
	struct slot *s;
	size_t n;

	if (!c)
		return;
	sync_gen(c);
	n = make_key(by, user, domain, key);
	s = n ? find(c, key_hash(c, key, n), key, n) : NULL;
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
	int rc;

	*hit = false;
	if (c && !fresh && auth_credcache_get(c, by, user, domain, now_s, out, &rc)) {
		*hit = true;
		return rc;
	}
	if (c && fresh)
		atomic_fetch_add_explicit(&n_rereads, 1, memory_order_relaxed);
	gen = auth_credcache_generation();
	if (by == AUTH_CRED_BY_NAME)
		rc = store_get_cred(s, user, domain, out);
	else
		rc = store_get_cred_by_userhash(s, (enum store_hash)(by - AUTH_CRED_BY_USERHASH), user, domain, out);
	if (rc == 0 || rc == -ENOENT)
		auth_credcache_put(c, by, user, domain, now_s, gen, rc == 0 ? out : NULL);
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
