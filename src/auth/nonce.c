/* Stateless digest nonces (RFC 7616 §3.3, RFC 2617 §3.2.1 "nonce"): the server
 * signs the issue time with HMAC-SHA256 under a key that nodes may share, so
 * nothing is stored per nonce and any node can check any other node's nonce.
 * Replay within the lifetime is not detected here (no nonce-count state). */
#include "auth/auth_int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/rand.h>

#include "base/util.h"

/*
 * Wire format. Raw bytes (30), sent as base64url without padding (RFC 4648 §5),
 * which is exactly 40 characters and contains no '"' or '\' to escape:
 *
 *  0        1        2                               10                 14
 *  +--------+--------+-------------------------------+------------------+
 *  | ver=1  | flags  | issued: u64 big-endian, UNIX  | random (4 bytes) |
 *  |        | (=0)   | seconds                       |                  |
 *  +--------+--------+-------------------------------+------------------+
 *  14                                                                  30
 *  +-------------------------------------------------------------------+
 *  | HMAC-SHA256(key->secret, bytes 0..13), first 16 bytes              |
 *  +-------------------------------------------------------------------+
 */
#define NONCE_VERSION 1
#define NONCE_SIGNED_LEN 14
#define NONCE_MAC_LEN 16
#define NONCE_RAW_LEN (NONCE_SIGNED_LEN + NONCE_MAC_LEN)
#define NONCE_TEXT_LEN (NONCE_RAW_LEN / 3 * 4)
/* Clock skew tolerated between cluster nodes sharing the key. */
#define NONCE_FUTURE_SKEW_S 5

_Static_assert(NONCE_RAW_LEN % 3 == 0, "nonce text must need no padding");

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Key derivation label: a configured secret string is never used raw. */
static const char key_label[] = "sipwarden nonce key v1";

/* Derive the nonce key: HMAC-SHA256(secret, label), or 32 random bytes when
 * secret is NULL. lifetime_s 0 means the default. 0, -EINVAL or -errno. */
int auth_nonce_key_init(struct auth_nonce_key *key, const char *secret, unsigned lifetime_s)
{
	int err;

	if (!key)
		return -EINVAL;
	key->lifetime_s = lifetime_s ? lifetime_s : SW_DEFAULT_NONCE_LIFETIME;
	if (!secret) {
		err = base_random(key->secret, sizeof(key->secret));
		if (err)
			base_wipe(key->secret, sizeof(key->secret));
		return err;
	}
	if (!secret[0])
		return -EINVAL;
	auth_hmac_sha256(secret, strlen(secret), key_label, sizeof(key_label) - 1, key->secret);
	return 0;
}

/* Randomness for the 4 uniqueness bytes, drawn from OpenSSL's DRBG a pool at a
 * time (a RAND_bytes call costs more than the whole nonce otherwise). A fork
 * bumps the generation so a child never reuses its parent's pool. */
static unsigned fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static __thread struct {
	uint8_t bytes[128];
	size_t left;
	unsigned gen;
} pool;

static void on_fork_child(void)
{
	__atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

static void fork_hook(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static int pool_take(uint8_t *out, size_t n)
{
	unsigned gen;

	pthread_once(&fork_once, fork_hook);
	gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
	if (pool.left < n || pool.gen != gen) {
		if (RAND_bytes(pool.bytes, sizeof(pool.bytes)) != 1)
			return -EIO;
		pool.left = sizeof(pool.bytes);
		pool.gen = gen;
	}
	pool.left -= n;
	memcpy(out, pool.bytes + pool.left, n);
	return 0;
}

static void sign(const struct auth_nonce_key *key, const uint8_t *raw, uint8_t mac[AUTH_SHA256_LEN])
{
	auth_hmac_sha256(key->secret, sizeof(key->secret), raw, NONCE_SIGNED_LEN, mac);
}

/* Fresh nonce for now_s into out (41 bytes needed). 40, -ENOSPC or -EIO. */
int auth_nonce_make(const struct auth_nonce_key *key, uint64_t now_s, char *out, size_t cap)
{
	uint8_t raw[NONCE_RAW_LEN], mac[AUTH_SHA256_LEN];

	if (cap < NONCE_TEXT_LEN + 1)
		return -ENOSPC;
	raw[0] = NONCE_VERSION;
	raw[1] = 0;
	for (int i = 0; i < 8; i++)
		raw[2 + i] = (uint8_t)(now_s >> (56 - 8 * i));
	if (pool_take(raw + 10, 4))
		return -EIO;
	sign(key, raw, mac);
	memcpy(raw + NONCE_SIGNED_LEN, mac, NONCE_MAC_LEN);

	for (size_t i = 0, o = 0; i < NONCE_RAW_LEN; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	out[NONCE_TEXT_LEN] = '\0';
	return NONCE_TEXT_LEN;
}

static int b64url_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Classify a nonce received back at now_s: INVALID for anything not exactly
 * our format under this key or issued more than the skew ahead, STALE when
 * older than the lifetime, else VALID. Constant-time MAC comparison. */
enum auth_nonce_state auth_nonce_check(const struct auth_nonce_key *key, struct slice nonce, uint64_t now_s)
{
	uint8_t raw[NONCE_RAW_LEN], mac[AUTH_SHA256_LEN];
	uint64_t issued = 0;

	if (nonce.len != NONCE_TEXT_LEN)
		return AUTH_NONCE_INVALID;
	for (size_t i = 0, o = 0; i < NONCE_TEXT_LEN; i += 4) {
		uint32_t v = 0;

		for (size_t j = 0; j < 4; j++) {
			int d = b64url_val(nonce.p[i + j]);

			if (d < 0)
				return AUTH_NONCE_INVALID;
			v = v << 6 | (uint32_t)d;
		}
		raw[o++] = (uint8_t)(v >> 16);
		raw[o++] = (uint8_t)(v >> 8);
		raw[o++] = (uint8_t)v;
	}
	sign(key, raw, mac);
	/* The MAC is secret-dependent: compare in constant time. */
	if (!base_ct_equal(mac, raw + NONCE_SIGNED_LEN, NONCE_MAC_LEN))
		return AUTH_NONCE_INVALID;
	if (raw[0] != NONCE_VERSION || raw[1] != 0)
		return AUTH_NONCE_INVALID;
	for (int i = 0; i < 8; i++)
		issued = issued << 8 | raw[2 + i];
	if (issued > now_s + NONCE_FUTURE_SKEW_S)
		return AUTH_NONCE_INVALID;
	if (now_s > issued && now_s - issued > key->lifetime_s)
		return AUTH_NONCE_STALE;
	return AUTH_NONCE_VALID;
}
