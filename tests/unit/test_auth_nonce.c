/* Stateless nonces: round trip, lifetime and skew bounds, tamper detection at
 * every bit, key separation, malformed text, and the wire format rebuilt here
 * independently with OpenSSL's HMAC(). Also the auth_ctx opaque/salt setup. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/auth.h"
#include "base/siphash.h"

#define T0 1700000000ull
#define LIFE 300u
/* Version 3 layout (nonce.c): 33 raw bytes, 44 characters, 17 signed bytes;
 * version 2 has the same layout with an HMAC-SHA256 MAC. */
#define NRAW 33
#define NTXT 44
#define NSIGNED 17

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void enc_n(const uint8_t *raw, int nraw, char *out)
{
	for (int i = 0, o = 0; i < nraw; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	out[nraw / 3 * 4] = '\0';
}

static void enc(const uint8_t raw[NRAW], char out[NTXT + 1])
{
	enc_n(raw, NRAW, out);
}

static void dec(const char *s, uint8_t raw[NRAW])
{
	for (int i = 0, o = 0; i < NTXT; i += 4) {
		uint32_t v = 0;

		for (int j = 0; j < 4; j++)
			v = v << 6 | (uint32_t)(strchr(b64, s[i + j]) - b64);
		raw[o++] = (uint8_t)(v >> 16);
		raw[o++] = (uint8_t)(v >> 8);
		raw[o++] = (uint8_t)v;
	}
}

/* The format from nonce.c, built without the code under test; ip non-NULL
 * appends "\0" ip to the signed bytes (a bound nonce). */
static void forge_ip(const struct auth_nonce_key *key, uint8_t ver, uint8_t flags, uint64_t t, const char *ip,
		     char out[NTXT + 1])
{
	uint8_t raw[NRAW + 1 + 64], mac[32];
	unsigned n = 0;
	size_t len = NSIGNED;

	raw[0] = ver;
	raw[1] = flags;
	for (int i = 0; i < 8; i++)
		raw[2 + i] = (uint8_t)(t >> (56 - 8 * i));
	memcpy(raw + 10, "\x01\x02\x03\x04\x05\x06\x07", 7);
	if (ip) {
		raw[len++] = 0;
		memcpy(raw + len, ip, strlen(ip));
		len += strlen(ip);
	}
	if (ver == 2) {
		assert_non_null(HMAC(EVP_sha256(), key->secret, sizeof(key->secret), raw, len, mac, &n));
	} else {
		/* version 3: SipHash-2-4-128 under HMAC-SHA256(secret, label)[0..15]
		 * (base_siphash128 is checked against the reference vectors in
		 * test_base_siphash.c) */
		uint8_t full[32], mk[16];
		static const char label[] = "sipwarden nonce mac key v3";

		assert_non_null(HMAC(EVP_sha256(), key->secret, sizeof(key->secret), (const uint8_t *)label,
				     sizeof(label) - 1, full, &n));
		memcpy(mk, full, 16);
		assert_memory_equal(mk, key->mac_key, 16);
		base_siphash128(mk, raw, len, mac);
	}
	memcpy(raw + NSIGNED, mac, 16);
	enc(raw, out);
}

static void forge(const struct auth_nonce_key *key, uint8_t ver, uint8_t flags, uint64_t t, char out[NTXT + 1])
{
	forge_ip(key, ver, flags, t, NULL, out);
}

/* Version 1 (30 bytes, 40 characters): recognised, but only ever stale. */
static void forge_v1(const struct auth_nonce_key *key, uint64_t t, char out[41])
{
	uint8_t raw[30], mac[32];
	unsigned n = 0;

	raw[0] = 1;
	raw[1] = 0;
	for (int i = 0; i < 8; i++)
		raw[2 + i] = (uint8_t)(t >> (56 - 8 * i));
	memcpy(raw + 10, "\x01\x02\x03\x04", 4);
	assert_non_null(HMAC(EVP_sha256(), key->secret, sizeof(key->secret), raw, 14, mac, &n));
	memcpy(raw + 14, mac, 16);
	enc_n(raw, 30, out);
}

static enum auth_nonce_state chk(const struct auth_nonce_key *k, const char *n, uint64_t now)
{
	return auth_nonce_check(k, slice_cstr(n), now);
}

static void key(struct auth_nonce_key *k, const char *secret)
{
	assert_int_equal(auth_nonce_key_init(k, secret, LIFE), 0);
}

static void test_round_trip_and_lifetime(void **state)
{
	struct auth_nonce_key k;
	char n[64];

	(void)state;
	key(&k, "cluster secret");
	assert_int_equal(auth_nonce_make(&k, T0, n, sizeof(n)), NTXT);
	assert_int_equal(strlen(n), NTXT);
	assert_int_equal(strspn(n, b64), NTXT);
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_VALID);
	assert_int_equal(chk(&k, n, T0 + LIFE), AUTH_NONCE_VALID);
	assert_int_equal(chk(&k, n, T0 + LIFE + 1), AUTH_NONCE_STALE);
	assert_int_equal(chk(&k, n, T0 + 100000), AUTH_NONCE_STALE);
}

static void test_future_invalid(void **state)
{
	struct auth_nonce_key k;
	char n[64];

	(void)state;
	key(&k, "s");
	assert_int_equal(auth_nonce_make(&k, T0, n, sizeof(n)), NTXT);
	assert_int_equal(chk(&k, n, T0 - 5), AUTH_NONCE_VALID); /* small skew allowed */
	assert_int_equal(chk(&k, n, T0 - 6), AUTH_NONCE_INVALID);
	assert_int_equal(chk(&k, n, 0), AUTH_NONCE_INVALID);
}

static void test_every_bit_flip_invalid(void **state)
{
	struct auth_nonce_key k;
	char n[64], m[64];
	uint8_t raw[NRAW];

	(void)state;
	key(&k, "s");
	assert_int_equal(auth_nonce_make(&k, T0, n, sizeof(n)), NTXT);
	/* in the text */
	for (int i = 0; i < NTXT; i++) {
		for (int b = 0; b < 8; b++) {
			memcpy(m, n, sizeof(m));
			m[i] = (char)(m[i] ^ (1 << b));
			assert_int_equal(chk(&k, m, T0), AUTH_NONCE_INVALID);
		}
	}
	/* in the decoded bytes, re-encoded as valid base64url */
	for (int i = 0; i < NRAW; i++) {
		for (int b = 0; b < 8; b++) {
			dec(n, raw);
			raw[i] ^= (uint8_t)(1 << b);
			enc(raw, m);
			assert_int_equal(chk(&k, m, T0), AUTH_NONCE_INVALID);
		}
	}
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_VALID);
}

static void test_wrong_key(void **state)
{
	struct auth_nonce_key a, b, a2, r1, r2;
	char n[64];

	(void)state;
	key(&a, "secret one");
	key(&b, "secret two");
	key(&a2, "secret one");
	assert_int_equal(auth_nonce_make(&a, T0, n, sizeof(n)), NTXT);
	assert_int_equal(chk(&b, n, T0), AUTH_NONCE_INVALID);
	/* nodes configured with the same secret accept each other's nonces */
	assert_int_equal(chk(&a2, n, T0), AUTH_NONCE_VALID);
	/* the configured string is not the key itself */
	assert_memory_not_equal(a.secret, "secret one", 10);
	/* random keys */
	assert_int_equal(auth_nonce_key_init(&r1, NULL, LIFE), 0);
	assert_int_equal(auth_nonce_key_init(&r2, NULL, LIFE), 0);
	assert_memory_not_equal(r1.secret, r2.secret, sizeof(r1.secret));
	assert_int_equal(chk(&r1, n, T0), AUTH_NONCE_INVALID);
}

static void test_malformed_text(void **state)
{
	static const char *const bad[] = {
		"",
		"x",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
		"dcd98b7102dd2f0e8b11d0f600bfb0c093",
	};
	struct auth_nonce_key k;
	char n[64], m[64];

	(void)state;
	key(&k, "s");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(chk(&k, bad[i], T0), AUTH_NONCE_INVALID);
	assert_int_equal(auth_nonce_check(&k, SLICE_NULL, T0), AUTH_NONCE_INVALID);
	assert_int_equal(auth_nonce_make(&k, T0, n, sizeof(n)), NTXT);
	/* truncated, extended, padded, standard base64 alphabet */
	assert_int_equal(auth_nonce_check(&k, slice_from(n, NTXT - 1), T0), AUTH_NONCE_INVALID);
	memcpy(m, n, NTXT);
	strcpy(m + NTXT, "A");
	assert_int_equal(chk(&k, m, T0), AUTH_NONCE_INVALID);
	strcpy(m + NTXT, "==");
	assert_int_equal(chk(&k, m, T0), AUTH_NONCE_INVALID);
	memcpy(m, n, sizeof(m));
	for (int i = 0; i < NTXT; i++)
		m[i] = m[i] == '-' ? '+' : m[i] == '_' ? '/' : m[i];
	if (strcmp(m, n) != 0)
		assert_int_equal(chk(&k, m, T0), AUTH_NONCE_INVALID);
	/* embedded NUL */
	memcpy(m, n, sizeof(m));
	m[20] = '\0';
	assert_int_equal(auth_nonce_check(&k, slice_from(m, NTXT), T0), AUTH_NONCE_INVALID);
}

static void test_two_nonces_differ(void **state)
{
	struct auth_nonce_key k;
	char a[64], b[64];

	(void)state;
	key(&k, "s");
	assert_int_equal(auth_nonce_make(&k, T0, a, sizeof(a)), NTXT);
	assert_int_equal(auth_nonce_make(&k, T0, b, sizeof(b)), NTXT);
	assert_string_not_equal(a, b);
	assert_int_equal(chk(&k, a, T0), AUTH_NONCE_VALID);
	assert_int_equal(chk(&k, b, T0), AUTH_NONCE_VALID);
}

static void test_wire_format_independent(void **state)
{
	struct auth_nonce_key k;
	char n[NTXT + 1];
	struct auth_nonce_info info;

	(void)state;
	key(&k, "s");
	forge(&k, 3, 0, T0, n);
	assert_int_equal(chk(&k, n, T0 + 10), AUTH_NONCE_VALID);
	forge(&k, 3, 0, T0 - LIFE - 1, n);
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_STALE);
	forge(&k, 4, 0, T0, n); /* well signed, unknown version */
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_INVALID);
	forge(&k, 3, 2, T0, n); /* reserved flags must be zero */
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_INVALID);
	forge(&k, 3, 0, UINT64_MAX, n);
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_INVALID);
	/* version 2 (HMAC-SHA256), well signed and fresh: stale, so a client
	 * holding one from before an upgrade just retries; its MAC still counts */
	forge(&k, 2, 0, T0, n);
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_STALE);
	n[NTXT - 1] = n[NTXT - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_INVALID);
	/* a version 2 MAC under a version 3 header, and the reverse: invalid */
	{
		uint8_t raw[NRAW];
		forge(&k, 2, 0, T0, n);
		dec(n, raw);
		raw[0] = 3;
		enc(raw, n);
		assert_int_equal(chk(&k, n, T0), AUTH_NONCE_INVALID);
		forge(&k, 3, 0, T0, n);
		dec(n, raw);
		raw[0] = 2;
		enc(raw, n);
		assert_int_equal(chk(&k, n, T0), AUTH_NONCE_INVALID);
	}
	/* version 1, well signed and fresh: stale, so the client just retries */
	forge_v1(&k, T0, n);
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_STALE);
	/* bound to an address: valid from it only, never without one */
	forge_ip(&k, 3, 1, T0, "192.0.2.7", n);
	assert_int_equal(auth_nonce_check_from(&k, slice_cstr(n), T0, "192.0.2.7", &info), AUTH_NONCE_VALID);
	assert_true(info.bound);
	assert_int_equal(info.issued, T0);
	assert_int_equal(auth_nonce_check_from(&k, slice_cstr(n), T0, "192.0.2.8", NULL), AUTH_NONCE_INVALID);
	assert_int_equal(chk(&k, n, T0), AUTH_NONCE_INVALID);
	/* the flag is signed: an unbound nonce with the flag set does not verify */
	forge_ip(&k, 3, 1, T0, NULL, n);
	assert_int_equal(auth_nonce_check_from(&k, slice_cstr(n), T0, "192.0.2.7", NULL), AUTH_NONCE_INVALID);
}

static void test_key_init_and_cap(void **state)
{
	struct auth_nonce_key k;
	char n[NTXT + 1];

	(void)state;
	assert_int_equal(auth_nonce_key_init(&k, "", LIFE), -EINVAL);
	assert_int_equal(auth_nonce_key_init(&k, "s", 0), 0);
	assert_int_equal(k.lifetime_s, SW_DEFAULT_NONCE_LIFETIME);
	assert_int_equal(auth_nonce_make(&k, T0, n, NTXT), -ENOSPC);
	assert_int_equal(auth_nonce_make(&k, T0, n, NTXT + 1), NTXT);
	assert_int_equal(chk(&k, n, T0 + SW_DEFAULT_NONCE_LIFETIME), AUTH_NONCE_VALID);
	assert_int_equal(chk(&k, n, T0 + SW_DEFAULT_NONCE_LIFETIME + 1), AUTH_NONCE_STALE);
}

static void test_ctx_init(void **state)
{
	struct auth_ctx a, b, c;
	char n[64];

	(void)state;
	assert_int_equal(auth_ctx_init(&a, "shared", 60), 0);
	assert_int_equal(auth_ctx_init(&b, "shared", 60), 0);
	assert_int_equal(auth_ctx_init(&c, "other", 60), 0);
	assert_int_equal(strlen(a.opaque), 16);
	assert_int_equal(strspn(a.opaque, "0123456789abcdef"), 16);
	assert_string_equal(a.opaque, b.opaque); /* stable across nodes/restarts */
	assert_string_not_equal(a.opaque, c.opaque);
	assert_memory_not_equal(a.dummy_salt, b.dummy_salt, sizeof(a.dummy_salt));
	assert_int_equal(a.nonce_key.lifetime_s, 60);
	assert_int_equal(auth_nonce_make(&a.nonce_key, T0, n, sizeof(n)), NTXT);
	assert_int_equal(chk(&b.nonce_key, n, T0), AUTH_NONCE_VALID);
	auth_ctx_fini(&c);
	assert_int_equal(auth_ctx_init(&c, NULL, 0), 0);
	assert_int_equal(strlen(c.opaque), 16);
	auth_ctx_fini(&c);
	assert_int_equal(auth_ctx_init(&c, "", 0), -EINVAL);
	auth_ctx_fini(&a);
	auth_ctx_fini(&b);
}

static void *thread_body(void *arg)
{
	const struct auth_nonce_key *k = arg;
	char n[64];
	intptr_t bad = 0;

	for (int i = 0; i < 500; i++) {
		if (auth_nonce_make(k, T0 + (uint64_t)i, n, sizeof(n)) != NTXT)
			bad++;
		if (auth_nonce_check(k, slice_cstr(n), T0 + (uint64_t)i) != AUTH_NONCE_VALID)
			bad++;
	}
	return (void *)bad;
}

/* Per-thread hashing state: correct under concurrency, freed at thread exit
 * (the leak checker sees it otherwise). */
static void test_threads(void **state)
{
	struct auth_nonce_key k;
	pthread_t th[4];

	(void)state;
	key(&k, "threads");
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thread_body, &k), 0);
	for (int i = 0; i < 4; i++) {
		void *ret;

		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_lifetime),
		cmocka_unit_test(test_future_invalid),
		cmocka_unit_test(test_every_bit_flip_invalid),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_malformed_text),
		cmocka_unit_test(test_two_nonces_differ),
		cmocka_unit_test(test_wire_format_independent),
		cmocka_unit_test(test_key_init_and_cap),
		cmocka_unit_test(test_ctx_init),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
