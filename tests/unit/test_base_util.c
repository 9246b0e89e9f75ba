/* base_hash_words, the retransmission-cache key hash: every byte, at every
 * position and for every tail length, changes the value; the length counts
 * even for zero bytes; equal input gives equal value whatever its alignment.
 * slice_caseeq (word-at-a-time ASCII case folding) against a byte-wise
 * reference for every pair of byte values at every position. base_hex
 * against printf's %02x for every byte value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/slice.h"
#include "base/util.h"

static void test_every_byte_counts(void **state)
{
	uint8_t buf[80];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)('A' + i % 26);
	for (size_t len = 1; len <= 40; len++) {
		uint64_t h = base_hash_words(buf, len);

		for (size_t k = 0; k < len; k++)
			for (unsigned bit = 0; bit < 8; bit++) {
				buf[k] ^= (uint8_t)(1u << bit);
				assert_true(base_hash_words(buf, len) != h);
				buf[k] ^= (uint8_t)(1u << bit);
			}
		/* a byte past the end is not read */
		buf[len] ^= 0xff;
		assert_true(base_hash_words(buf, len) == h);
		buf[len] ^= 0xff;
	}
}

static void test_length_and_alignment(void **state)
{
	static const uint8_t zeros[32];
	uint8_t a[64], b[72];
	const char *msg = "REGISTER sip:example.com SIP/2.0\r\nVia: x";
	size_t n = strlen(msg);

	(void)state;
	for (size_t i = 0; i < 16; i++)
		for (size_t j = i + 1; j <= 16; j++)
			assert_true(base_hash_words(zeros, i) != base_hash_words(zeros, j));
	memcpy(a, msg, n);
	memcpy(b + 3, msg, n);
	assert_true(base_hash_words(a, n) == base_hash_words(b + 3, n));
	assert_true(base_hash_words(a, n) != base_hash_words(a, n - 1));
	/* swapped words differ */
	assert_true(base_hash_words("abcdefghABCDEFGH", 16) != base_hash_words("ABCDEFGHabcdefgh", 16));
}

static unsigned char ref_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static void test_caseeq_every_byte_pair(void **state)
{
	char a[20], b[20];

	(void)state;
	for (size_t len = 1; len <= sizeof(a); len++) {
		memset(a, 'k', sizeof(a));
		memset(b, 'K', sizeof(b));
		assert_true(slice_caseeq(slice_from(a, len), slice_from(b, len)));
		/* every pair of values in the last byte and in one of the first eight */
		for (size_t pos = len - 1, round = 0; round < 2; round++, pos = (len - 1) % 8) {
			for (unsigned x = 0; x < 256; x++)
				for (unsigned y = 0; y < 256; y++) {
					a[pos] = (char)x;
					b[pos] = (char)y;
					assert_int_equal(slice_caseeq(slice_from(a, len), slice_from(b, len)),
							 ref_lower((unsigned char)x) == ref_lower((unsigned char)y));
				}
			a[pos] = 'k';
			b[pos] = 'K';
		}
	}
	assert_false(slice_caseeq(slice_from("Via", 3), slice_from("Vi", 2)));
	assert_true(slice_caseeq(slice_from("", 0), slice_from("", 0)));
	assert_true(slice_caseeq(slice_from("PROXY-AUTHORIZATION", 19), slice_from("proxy-authorization", 19)));
	assert_false(slice_caseeq(slice_from("Contact\0", 8), slice_from("Contact@", 8)));
	assert_true(slice_caseeq_cstr(slice_from("sIp/2.0", 7), "SIP/2.0"));
}

static void test_hex_every_byte(void **state)
{
	uint8_t all[256];
	char got[513], want[513];

	(void)state;
	for (int i = 0; i < 256; i++) {
		all[i] = (uint8_t)i;
		snprintf(want + 2 * i, 3, "%02x", i);
	}
	memset(got, 'X', sizeof(got));
	base_hex(all, sizeof(all), got);
	assert_string_equal(got, want);
	base_hex(all, 0, got);
	assert_string_equal(got, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte_counts),
		cmocka_unit_test(test_length_and_alignment),
		cmocka_unit_test(test_caseeq_every_byte_pair),
		cmocka_unit_test(test_hex_every_byte),
	};

	return cmocka_run_group_tests_name("base_util", tests, NULL, NULL);
}
