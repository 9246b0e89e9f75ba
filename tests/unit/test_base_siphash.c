/* SipHash-2-4: the reference vectors (key 00..0f, message 00..len-1) for the
 * 64- and 128-bit tags, the paper's worked example, and that every key and
 * message bit matters. SipHash-1-3: published tags under the all-zero key,
 * and a plain word-by-word implementation with the round counts as
 * parameters (checked on the 2-4 vectors first) at every length 0..64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/siphash.h"

/* vectors_sip64 / vectors_sip128 of the reference distribution, selected
 * lengths (every length 0..16 crosses each tail size and the first full word). */
static const struct {
	size_t len;
	const char *tag64, *tag128;
} vectors[] = {
	{ 0, "310e0edd47db6f72", "a3817f04ba25a8e66df67214c7550293" },
	{ 1, "fd67dc93c539f874", "da87c1d86b99af44347659119b22fc45" },
	{ 2, "5a4fa9d909806c0d", "8177228da4a45dc7fca38bdef60affe4" },
	{ 3, "2d7efbd796666785", "9c70b60c5267a94e5f33b6b02985ed51" },
	{ 4, "b7877127e09427cf", "f88164c12d9c8faf7d0f6e7c7bcd5579" },
	{ 5, "8da699cd64557618", "1368875980776f8854527a07690e9627" },
	{ 6, "cee3fe586e46c9cb", "14eeca338b208613485ea0308fd7a15e" },
	{ 7, "37d1018bf50002ab", "a1f1ebbed8dbc153c0b84aa61ff08239" },
	{ 8, "6224939a79f5f593", "3b62a9ba6258f5610f83e264f31497b4" },
	{ 9, "b0e4a90bdf82009e", "264499060ad9baabc47f8b02bb6d71ed" },
	{ 10, "f3b9dd94c5bb5d7a", "00110dc378146956c95447d3f3d0fbba" },
	{ 11, "a7ad6b22462fb3f4", "0151c568386b6677a2b4dc6f81e5dc18" },
	{ 12, "fbe50e86bc8f1e75", "d626b266905ef35882634df68532c125" },
	{ 13, "903d84c02756ea14", "9869e247e9c08b10d029934fc4b952f7" },
	{ 14, "eef27a8e90ca23f7", "31fcefac66d7de9c7ec7485fe4494902" },
	{ 15, "e545be4961ca29a1", "5493e99933b0a8117e08ec0f97cfc3d9" },
	{ 16, "db9bc2577fcc2a3f", "6ee2a4ca67b054bbfd3315bf85230577" },
	{ 17, "9447be2cf5e99a69", "473d06e8738db89854c066c47ae47740" },
	{ 31, "42c341d8fa92d832", "2939b0183223fafc1723de4f52c43d35" },
	{ 32, "ce7cf2722f512771", "7c3956ca5eeafc3e363e9d556546eb68" },
	{ 33, "e37859f94623f3a7", "77c6077146f01c32b6b69d5f4ea9ffcf" },
	{ 62, "575ff28e60381be5", "5853542321f567a005d547a4f04759bd" },
	{ 63, "724506eb4c328a95", "5150d1772f50834a503e069a973fbd7c" },
};

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void fill(uint8_t key[16], uint8_t msg[64])
{
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
}

static void test_reference_vectors(void **state)
{
	uint8_t key[16], msg[64], t64[8], t128[16];
	char text[33];

	(void)state;
	fill(key, msg);
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		base_siphash64(key, msg, vectors[i].len, t64);
		hex(t64, 8, text);
		assert_string_equal(text, vectors[i].tag64);
		base_siphash128(key, msg, vectors[i].len, t128);
		hex(t128, 16, text);
		assert_string_equal(text, vectors[i].tag128);
	}
}

/* The paper's appendix: 15-byte message, the 64-bit value 0xa129ca6149be45e5. */
static void test_paper_example(void **state)
{
	uint8_t key[16], msg[64], t[8];
	uint64_t v = 0;

	(void)state;
	fill(key, msg);
	base_siphash64(key, msg, 15, t);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | t[i];
	assert_true(v == 0xa129ca6149be45e5ULL);
}

static void test_every_bit_counts(void **state)
{
	uint8_t key[16], msg[64], base[16], t[16];

	(void)state;
	fill(key, msg);
	base_siphash128(key, msg, 40, base);
	for (int bit = 0; bit < 128; bit++) {
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		base_siphash128(key, msg, 40, t);
		assert_memory_not_equal(t, base, 16);
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	for (int bit = 0; bit < 40 * 8; bit++) {
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		base_siphash128(key, msg, 40, t);
		assert_memory_not_equal(t, base, 16);
		msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* a trailing zero byte is not the same message */
	msg[40] = 0;
	base_siphash128(key, msg, 41, t);
	assert_memory_not_equal(t, base, 16);
}

/* SipHash-c-d written out from the paper, one byte at a time, for lengths
 * and keys the fixed vectors do not cover. */
static uint64_t rotl64(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t plain_siphash(int c, int d, const uint8_t key[16], const uint8_t *m, size_t len)
{
	uint64_t k0 = 0, k1 = 0, v[4], w;

	for (int i = 7; i >= 0; i--) {
		k0 = k0 << 8 | key[i];
		k1 = k1 << 8 | key[8 + i];
	}
	v[0] = k0 ^ 0x736f6d6570736575ULL;
	v[1] = k1 ^ 0x646f72616e646f6dULL;
	v[2] = k0 ^ 0x6c7967656e657261ULL;
	v[3] = k1 ^ 0x7465646279746573ULL;
	for (size_t at = 0; at <= len; at += 8) {
		w = 0;
		if (at + 8 <= len) {
			for (int i = 7; i >= 0; i--)
				w = w << 8 | m[at + (size_t)i];
		} else {
			w = (uint64_t)(len & 0xff) << 56;
			for (size_t i = at; i < len; i++)
				w |= (uint64_t)m[i] << (8 * (i - at));
		}
		v[3] ^= w;
		for (int r = 0; r < c; r++) {
			v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
			v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
			v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
			v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
		}
		v[0] ^= w;
		if (at + 8 > len)
			break;
	}
	v[2] ^= 0xff;
	for (int r = 0; r < d; r++) {
		v[0] += v[1]; v[1] = rotl64(v[1], 13); v[1] ^= v[0]; v[0] = rotl64(v[0], 32);
		v[2] += v[3]; v[3] = rotl64(v[3], 16); v[3] ^= v[2];
		v[0] += v[3]; v[3] = rotl64(v[3], 21); v[3] ^= v[0];
		v[2] += v[1]; v[1] = rotl64(v[1], 17); v[1] ^= v[2]; v[2] = rotl64(v[2], 32);
	}
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t tag_value(const uint8_t t[8])
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | t[i];
	return v;
}

static void test_siphash13(void **state)
{
	/* SipHash-1-3 under the all-zero key, as 64-bit values. */
	static const struct {
		const char *msg;
		uint64_t tag;
	} zero_key[] = {
		{ "", 0xd1fba762150c532cULL },
		{ "siphash", 0x8264ceeccb16bcbeULL },
		{ "digest-sip_hash", 0xce31007e34130c0aULL },
	};
	uint8_t key[16] = { 0 }, msg[64], t[8];

	(void)state;
	for (size_t i = 0; i < sizeof(zero_key) / sizeof(zero_key[0]); i++)
		assert_true(base_siphash13(key, zero_key[i].msg, strlen(zero_key[i].msg)) == zero_key[i].tag);
	fill(key, msg);
	/* the plain form is SipHash: it gives the 2-4 reference tags */
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		base_siphash64(key, msg, vectors[i].len, t);
		assert_true(plain_siphash(2, 4, key, msg, vectors[i].len) == tag_value(t));
	}
	for (size_t len = 0; len <= 64; len++) {
		assert_true(base_siphash13(key, msg, len) == plain_siphash(1, 3, key, msg, len));
		base_siphash64(key, msg, len, t);
		assert_true(base_siphash13(key, msg, len) != tag_value(t));
	}
	/* a key bit changes the tag */
	key[15] ^= 0x80;
	assert_true(base_siphash13(key, msg, 20) != plain_siphash(1, 3, (const uint8_t[16]){ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }, msg, 20));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_vectors),
		cmocka_unit_test(test_paper_example),
		cmocka_unit_test(test_every_bit_counts),
		cmocka_unit_test(test_siphash13),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
