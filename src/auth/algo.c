/* Digest algorithms (RFC 2617 §3.2.1, RFC 7616 §3.2, RFC 8760 §2): names, hex
 * sizes and hashing through OpenSSL EVP. The EVP_MD objects are fetched once per
 * process and each thread reuses one EVP_MD_CTX per hash, so the hot path does
 * no allocation. Also HMAC-SHA256 (RFC 2104) for the nonce code. */
#include "auth/auth_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/md5.h"
#include "base/util.h"

enum hash_kind { HASH_MD5, HASH_SHA256, HASH_SHA512_256, HASH__COUNT };

static const struct {
	const char *name;    /* as on the wire, RFC 7616 §6.1 registry spelling */
	enum hash_kind hash;
	bool sess;
} algos[AUTH_ALGO__COUNT] = {
	[AUTH_ALGO_MD5] = { "MD5", HASH_MD5, false },
	[AUTH_ALGO_MD5_SESS] = { "MD5-sess", HASH_MD5, true },
	[AUTH_ALGO_SHA256] = { "SHA-256", HASH_SHA256, false },
	[AUTH_ALGO_SHA256_SESS] = { "SHA-256-sess", HASH_SHA256, true },
	[AUTH_ALGO_SHA512_256] = { "SHA-512-256", HASH_SHA512_256, false },
	[AUTH_ALGO_SHA512_256_SESS] = { "SHA-512-256-sess", HASH_SHA512_256, true },
};

/* OpenSSL 3 names; "SHA2-512/256" is the truncated SHA-512 of FIPS 180-4 §5.3.6
 * (distinct IV), which RFC 7616 erratum 4897 confirms is meant. */
static const char *const hash_names[HASH__COUNT] = { "MD5", "SHA2-256", "SHA2-512/256" };
static const unsigned hash_sizes[HASH__COUNT] = { 16, 32, 32 };

/* Inputs up to this size are joined on the stack before hashing (a digest
 * input is ~100-300 bytes: hex HA1, nonce, nc, cnonce, qop, hex HA2). */
#define JOIN_BUF 512

static EVP_MD *mds[HASH__COUNT];
static pthread_once_t mds_once = PTHREAD_ONCE_INIT;
static pthread_key_t ctx_key;

/* HMAC keys whose contexts a thread keeps ready: the nonce key, the route
 * key and a spare, so alternating between them never re-keys. */
#define HMAC_SLOTS 4

/* HMAC-SHA256 contexts already fed with one key's ipad/opad block (RFC 2104
 * §4 precomputation), which halves the SHA-256 blocks a nonce check costs. */
struct hmac_slot {
	EVP_MD_CTX *in, *out;
	uint8_t key[64];
	size_t key_len;
	bool ok;
};

/* Per-thread hashing state: one reusable context per hash, and the keyed
 * HMAC contexts of the last few keys. */
struct thread_state {
	EVP_MD_CTX *ctx[HASH__COUNT];
	EVP_MD_CTX *hmac_work;
	struct hmac_slot hmac[HMAC_SLOTS];
	unsigned hmac_next;          /**< slot replaced by the next new key */
};
static __thread struct thread_state tl;

static void fatal(const char *what)
{
	/* Hashing cannot fail short of memory exhaustion or a broken OpenSSL
	 * install; carrying on with a made-up digest could let a request in. */
	fprintf(stderr, "sipwarden: fatal: OpenSSL %s failed\n", what);
	abort();
}

static void free_thread_state(void *arg)
{
	struct thread_state *t = arg;

	for (int i = 0; i < HASH__COUNT; i++)
		EVP_MD_CTX_free(t->ctx[i]);
	for (int i = 0; i < HMAC_SLOTS; i++) {
		EVP_MD_CTX_free(t->hmac[i].in);
		EVP_MD_CTX_free(t->hmac[i].out);
	}
	EVP_MD_CTX_free(t->hmac_work);
	base_wipe(t, sizeof(*t));
}

static void fetch_mds(void)
{
	for (int i = 0; i < HASH__COUNT; i++) {
		mds[i] = EVP_MD_fetch(NULL, hash_names[i], NULL);
		if (!mds[i])
			fatal("digest fetch");
	}
	if (pthread_key_create(&ctx_key, free_thread_state))
		fatal("thread key");
}

/* A context owned by this thread, created on first use. */
static EVP_MD_CTX *thread_ctx(EVP_MD_CTX **slot)
{
	pthread_once(&mds_once, fetch_mds);
	if (!*slot) {
		*slot = EVP_MD_CTX_new();
		if (!*slot)
			fatal("context allocation");
		/* Freed at thread exit; the main thread's stay reachable. */
		pthread_setspecific(ctx_key, &tl);
	}
	return *slot;
}

/* Start a digest on this thread's context for k. */
static EVP_MD_CTX *hash_begin(enum hash_kind k)
{
	EVP_MD_CTX *c = thread_ctx(&tl.ctx[k]);

	if (!EVP_DigestInit_ex2(c, mds[k], NULL))
		fatal("digest init");
	return c;
}

static void hash_update(EVP_MD_CTX *c, const void *p, size_t len)
{
	if (len && !EVP_DigestUpdate(c, p, len))
		fatal("digest update");
}

static void hash_final(EVP_MD_CTX *c, uint8_t *md)
{
	unsigned n;

	if (!EVP_DigestFinal_ex(c, md, &n))
		fatal("digest final");
}

/* Algorithm token to enum, case-insensitive; empty means MD5. 0 or -EINVAL. */
int auth_algo_parse(struct slice name, enum auth_algo *out)
{
	if (name.len == 0) {
		*out = AUTH_ALGO_MD5; /* RFC 2617 §3.2.1: absent means MD5 */
		return 0;
	}
	for (int i = 0; i < AUTH_ALGO__COUNT; i++) {
		if (slice_caseeq_cstr(name, algos[i].name)) {
			*out = (enum auth_algo)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Wire spelling of algo (static storage); "unknown" when out of range. */
const char *auth_algo_name(enum auth_algo algo)
{
	if ((unsigned)algo >= AUTH_ALGO__COUNT)
		return "unknown";
	return algos[algo].name;
}

/* True for the -sess variants (session HA1, RFC 2617 §3.2.2.2). */
bool auth_algo_is_sess(enum auth_algo algo)
{
	return (unsigned)algo < AUTH_ALGO__COUNT && algos[algo].sess;
}

/* 32 for MD5, 64 for SHA-256 and SHA-512/256; 0 when out of range. */
size_t auth_algo_hexlen(enum auth_algo algo)
{
	if ((unsigned)algo >= AUTH_ALGO__COUNT)
		return 0;
	return 2 * (size_t)hash_sizes[algos[algo].hash];
}

/* Rank = hash family: MD5 0, SHA-256 1, SHA-512/256 2 (store_hash order). */
int auth_algo_rank(enum auth_algo algo)
{
	if ((unsigned)algo >= AUTH_ALGO__COUNT)
		return 0;
	return (int)algos[algo].hash;
}

/* Hex digest of data[0..len) into out (hexlen+1 bytes). Never fails. */
void auth_hash_hex(enum auth_algo algo, const void *data, size_t len, char *out)
{
	struct slice one = slice_from(data, len);

	auth_hash_join_hex(algo, &one, 1, out);
}

/* Hex digest of the parts joined with ":" into out (hexlen+1 bytes); the
 * joined copy, if any, is wiped. Never fails. */
void auth_hash_join_hex(enum auth_algo algo, const struct slice *parts, size_t n, char *out)
{
	enum hash_kind k = algos[(unsigned)algo < AUTH_ALGO__COUNT ? algo : AUTH_ALGO_MD5].hash;
	uint8_t md[EVP_MAX_MD_SIZE];
	char join[JOIN_BUF];
	size_t total = n ? n - 1 : 0, o = 0;
	EVP_MD_CTX *c;

	if (k == HASH_MD5) {
		/* MD5, the common case, without the library's per-call dispatch
		 * (about 1,000 instructions per hash of one or two blocks). */
		struct base_md5 m;

		base_md5_init(&m);
		for (size_t i = 0; i < n; i++) {
			if (i)
				base_md5_update(&m, ":", 1);
			base_md5_update(&m, parts[i].p, parts[i].len);
		}
		base_md5_final(&m, md);
		base_hex(md, BASE_MD5_LEN, out);
		base_wipe(md, BASE_MD5_LEN);
		return;
	}
	for (size_t i = 0; i < n; i++)
		total += parts[i].len;
	c = hash_begin(k);
	if (total <= sizeof(join)) {
		/* One EVP update costs about as much as hashing a block: for the
		 * usual short inputs, join on the stack and update once. */
		for (size_t i = 0; i < n; i++) {
			if (i)
				join[o++] = ':';
			if (parts[i].len)
				memcpy(join + o, parts[i].p, parts[i].len);
			o += parts[i].len;
		}
		hash_update(c, join, o);
		base_wipe(join, o); /* may hold an HA1 or a password */
	} else {
		for (size_t i = 0; i < n; i++) {
			if (i)
				hash_update(c, ":", 1);
			hash_update(c, parts[i].p, parts[i].len);
		}
	}
	hash_final(c, md);
	base_hex(md, hash_sizes[k], out);
}

/* This thread's HMAC contexts for key: found among the slots, or fed with
 * the key's ipad and opad blocks in the slot used longest ago. */
static struct hmac_slot *hmac_prepare(const void *key, size_t key_len)
{
	uint8_t k[64] = { 0 }, pad[64];
	EVP_MD_CTX *c;
	struct hmac_slot *h;

	for (unsigned i = 0; i < HMAC_SLOTS; i++) {
		h = &tl.hmac[i];
		if (h->ok && h->key_len == key_len && memcmp(h->key, key, key_len) == 0)
			return h;
	}
	h = &tl.hmac[tl.hmac_next];
	tl.hmac_next = (tl.hmac_next + 1) % HMAC_SLOTS;
	h->ok = false;
	if (key_len > sizeof(k)) {
		c = hash_begin(HASH_SHA256);
		hash_update(c, key, key_len);
		hash_final(c, k);
	} else if (key_len) {
		memcpy(k, key, key_len);
	}
	c = thread_ctx(&h->in);
	for (size_t i = 0; i < sizeof(k); i++)
		pad[i] = k[i] ^ 0x36;
	if (!EVP_DigestInit_ex2(c, mds[HASH_SHA256], NULL))
		fatal("digest init");
	hash_update(c, pad, sizeof(pad));
	c = thread_ctx(&h->out);
	for (size_t i = 0; i < sizeof(k); i++)
		pad[i] = k[i] ^ 0x5c;
	if (!EVP_DigestInit_ex2(c, mds[HASH_SHA256], NULL))
		fatal("digest init");
	hash_update(c, pad, sizeof(pad));
	base_wipe(k, sizeof(k));
	base_wipe(pad, sizeof(pad));
	/* Long keys are remembered by their hash, never stored raw past 64 bytes. */
	if (key_len <= sizeof(h->key)) {
		memcpy(h->key, key, key_len);
		h->key_len = key_len;
		h->ok = true;
	}
	return h;
}

/* RFC 2104 HMAC-SHA256 into out (32 bytes), reusing this thread's keyed
 * contexts when the key repeats. Never fails. */
void auth_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
		      uint8_t out[AUTH_SHA256_LEN])
{
	uint8_t inner[AUTH_SHA256_LEN];
	EVP_MD_CTX *c;

	struct hmac_slot *h = hmac_prepare(key, key_len);
	c = thread_ctx(&tl.hmac_work);
	if (!EVP_MD_CTX_copy_ex(c, h->in))
		fatal("digest copy");
	hash_update(c, msg, len);
	hash_final(c, inner);
	if (!EVP_MD_CTX_copy_ex(c, h->out))
		fatal("digest copy");
	hash_update(c, inner, sizeof(inner));
	hash_final(c, out);
	base_wipe(inner, sizeof(inner));
}
