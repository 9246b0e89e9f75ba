/* base_hash_words, the retransmission-cache key hash: every byte, at every
 * position and for every tail length, changes the value; the length counts
 * even for zero bytes; equal input gives equal value whatever its alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_byte_counts),
		cmocka_unit_test(test_length_and_alignment),
	};

	return cmocka_run_group_tests_name("base_hash", tests, NULL, NULL);
}
