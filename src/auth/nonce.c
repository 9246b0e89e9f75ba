/* Stateless digest nonces (RFC 7616 §3.3, RFC 2617 §3.2.1 "nonce"): the server
 * signs the issue time with a keyed MAC (SipHash-2-4-128) under a key that nodes
 * may share, so nothing is stored per nonce and any node can check any other
 * node's nonce. Optionally bound to the client's address (it enters the MAC).
 * Replay within the lifetime is detected by replay.c, not here. */
#include "auth/auth_int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/rand.h>

#include "base/siphash.h"
#include "base/util.h"

/*
 * Wire format, version 3. Raw bytes (33), sent as base64url without padding
 * (RFC 4648 §5): exactly 44 characters, none of which needs escaping:
 *
 *  0        1        2                      10               14          17
 *  +--------+--------+----------------------+----------------+-----------+
 *  | ver=3  | flags  | issued: u64 BE, UNIX | counter: u32   | random(3) |
 *  |        |        | seconds              | BE, per process|           |
 *  +--------+--------+----------------------+----------------+-----------+
 *  17                                                                   33
 *  +---------------------------------------------------------------------+
 *  | SipHash-2-4-128(mac_key, bytes 0..16 [ | 0x00 | client address ]),  |
 *  | 16 bytes; the address part only when flags has NONCE_BOUND          |
 *  +---------------------------------------------------------------------+
 *
 * The counter and random bytes make every nonce unique; the first 8 MAC bytes
 * (keyed, so uniformly spread and unforgeable) name the nonce's slot in the
 * replay table, which works the same for a nonce another node issued.
 * SipHash is a PRF designed for short inputs: about 300 instructions here
 * against about 7,000 for HMAC-SHA256 (two SHA-256 blocks plus EVP), and a
 * forged nonce still gains nothing without the password.
 * Versions 2 (the same layout signed with HMAC-SHA256 under the 32-byte key,
 * first 16 bytes) and 1 (30 bytes, no counter, HMAC-SHA256) are still
 * recognised, as stale: a client holding one from before an upgrade is simply
 * challenged again.
 */
#define NONCE_VERSION 3
#define NONCE_V2 2
#define NONCE_V1 1
#define NONCE_BOUND 0x01
#define NONCE_SIGNED_LEN 17
#define NONCE_MAC_LEN 16
#define NONCE_RAW_LEN (NONCE_SIGNED_LEN + NONCE_MAC_LEN)
#define NONCE_TEXT_LEN (NONCE_RAW_LEN / 3 * 4)
#define NONCE_V1_SIGNED_LEN 14
#define NONCE_V1_RAW_LEN 30
#define NONCE_V1_TEXT_LEN 40
/* Clock skew tolerated between cluster nodes sharing the key. */
#define NONCE_FUTURE_SKEW_S 5

_Static_assert(NONCE_TEXT_LEN == AUTH_NONCE_TEXT_MAX, "nonce length");
_Static_assert(NONCE_RAW_LEN % 3 == 0, "nonce text must need no padding");

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Key derivation labels: a configured secret string is never used raw. */
static const char key_label[] = "sipwarden nonce key v1";
static const char mac_key_label[] = "sipwarden nonce mac key v3";

/* The SipHash key of version 3: HMAC-SHA256(secret, label), first 16 bytes. */
static void derive_mac_key(struct auth_nonce_key *key)
{
	uint8_t full[AUTH_SHA256_LEN];

	auth_hmac_sha256(key->secret, sizeof(key->secret), mac_key_label, sizeof(mac_key_label) - 1, full);
	memcpy(key->mac_key, full, sizeof(key->mac_key));
	base_wipe(full, sizeof(full));
}

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
		if (err) {
			base_wipe(key->secret, sizeof(key->secret));
			return err;
		}
		derive_mac_key(key);
		return 0;
	}
	if (!secret[0])
		return -EINVAL;
	auth_hmac_sha256(secret, strlen(secret), key_label, sizeof(key_label) - 1, key->secret);
	derive_mac_key(key);
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

static uint32_t nonce_counter;

/* The MAC of raw's signed bytes (and "\0" ip when bound) in mac[0..15]:
 * SipHash for version 3, HMAC-SHA256 for the older versions (raw[0]). */
static void sign(const struct auth_nonce_key *key, const uint8_t *raw, size_t signed_len, const char *ip,
		 uint8_t mac[AUTH_SHA256_LEN])
{
	uint8_t msg[NONCE_SIGNED_LEN + 1 + 64];
	size_t n = signed_len, iplen = ip ? strnlen(ip, 64) : 0;

	memcpy(msg, raw, signed_len);
	if (ip) {
		msg[n++] = 0;
		memcpy(msg + n, ip, iplen);
		n += iplen;
	}
	if (raw[0] == NONCE_VERSION)
		base_siphash128(key->mac_key, msg, n, mac);
	else
		auth_hmac_sha256(key->secret, sizeof(key->secret), msg, n, mac);
}

static void b64_encode(const uint8_t *raw, size_t len, char *out)
{
	for (size_t i = 0, o = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	out[len / 3 * 4] = '\0';
}

/* Fresh nonce for now_s into out (45 bytes needed), bound to bind_ip when not
 * NULL. 44, -ENOSPC or -EIO. */
int auth_nonce_make_for(const struct auth_nonce_key *key, uint64_t now_s, const char *bind_ip, char *out,
			size_t cap)
{
	uint8_t raw[NONCE_RAW_LEN], mac[AUTH_SHA256_LEN];
	uint32_t ctr = __atomic_add_fetch(&nonce_counter, 1, __ATOMIC_RELAXED);

	if (cap < NONCE_TEXT_LEN + 1)
		return -ENOSPC;
	raw[0] = NONCE_VERSION;
	raw[1] = bind_ip ? NONCE_BOUND : 0;
	for (int i = 0; i < 8; i++)
		raw[2 + i] = (uint8_t)(now_s >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		raw[10 + i] = (uint8_t)(ctr >> (24 - 8 * i));
	if (pool_take(raw + 14, 3))
		return -EIO;
	sign(key, raw, NONCE_SIGNED_LEN, bind_ip, mac);
	memcpy(raw + NONCE_SIGNED_LEN, mac, NONCE_MAC_LEN);
	b64_encode(raw, NONCE_RAW_LEN, out);
	return NONCE_TEXT_LEN;
}

int auth_nonce_make(const struct auth_nonce_key *key, uint64_t now_s, char *out, size_t cap)
{
	return auth_nonce_make_for(key, now_s, NULL, out, cap);
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

static bool b64_decode(struct slice text, uint8_t *raw)
{
	for (size_t i = 0, o = 0; i < text.len; i += 4) {
		uint32_t v = 0;

		for (size_t j = 0; j < 4; j++) {
			int d = b64url_val(text.p[i + j]);

			if (d < 0)
				return false;
			v = v << 6 | (uint32_t)d;
		}
		raw[o++] = (uint8_t)(v >> 16);
		raw[o++] = (uint8_t)(v >> 8);
		raw[o++] = (uint8_t)v;
	}
	return true;
}

/* Classify a nonce received back at now_s from src_ip: INVALID for anything
 * not exactly our format under this key (and address, when bound) or issued
 * more than the skew ahead, STALE when older than the lifetime or of version 1
 * or 2, else VALID. Constant-time MAC comparison. */
enum auth_nonce_state auth_nonce_check_from(const struct auth_nonce_key *key, struct slice nonce, uint64_t now_s,
					    const char *src_ip, struct auth_nonce_info *info)
{
	uint8_t raw[NONCE_RAW_LEN], mac[AUTH_SHA256_LEN];
	uint64_t issued = 0, tag = 0;
	uint32_t counter = 0;
	size_t signed_len;
	bool v1 = nonce.len == NONCE_V1_TEXT_LEN, v2, bound;

	if (nonce.len != NONCE_TEXT_LEN && !v1)
		return AUTH_NONCE_INVALID;
	if (!b64_decode(nonce, raw))
		return AUTH_NONCE_INVALID;
	signed_len = v1 ? NONCE_V1_SIGNED_LEN : NONCE_SIGNED_LEN;
	/* The version byte picks the MAC; a wrong one fails the check below. */
	v2 = !v1 && raw[0] == NONCE_V2;
	bound = !v1 && (raw[1] & NONCE_BOUND);
	if (bound && !src_ip)
		return AUTH_NONCE_INVALID;
	sign(key, raw, signed_len, bound ? src_ip : NULL, mac);
	/* The MAC is secret-dependent: compare in constant time. */
	if (!base_ct_equal(mac, raw + signed_len, NONCE_MAC_LEN))
		return AUTH_NONCE_INVALID;
	if (raw[0] != (v1 ? NONCE_V1 : v2 ? NONCE_V2 : NONCE_VERSION) || (raw[1] & ~(v1 ? 0 : NONCE_BOUND)))
		return AUTH_NONCE_INVALID;
	for (int i = 0; i < 8; i++)
		issued = issued << 8 | raw[2 + i];
	for (int i = 0; i < 8; i++)
		tag = tag << 8 | raw[signed_len + i];
	for (int i = 0; !v1 && i < 4; i++)
		counter = counter << 8 | raw[10 + i];
	if (issued > now_s + NONCE_FUTURE_SKEW_S)
		return AUTH_NONCE_INVALID;
	if (info)
		*info = (struct auth_nonce_info){ .issued = issued, .tag = tag, .counter = counter, .bound = bound };
	if (v1 || v2 || (now_s > issued && now_s - issued > key->lifetime_s))
		return AUTH_NONCE_STALE;
	return AUTH_NONCE_VALID;
}

enum auth_nonce_state auth_nonce_check(const struct auth_nonce_key *key, struct slice nonce, uint64_t now_s)
{
	return auth_nonce_check_from(key, nonce, now_s, NULL, NULL);
}
