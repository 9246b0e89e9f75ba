/* fmt_u64 and fmt_hex64 give what "%llu" and "%0*llx" give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/fmt.h"

static const uint64_t samples[] = {
	0, 1, 9, 10, 15, 16, 99, 100, 255, 256, 4095, 65535, 65536, 1000000, 4294967295ull,
	4294967296ull, 0xffffffffffffull, 0x1000000000000ull, 1234567890123456789ull,
	0x7fffffffffffffffull, 0xffffffffffffffffull,
};

static void test_decimal(void **state)
{
	(void)state;
	char got[FMT_U64_MAX], want[32];

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		int n = snprintf(want, sizeof(want), "%llu", (unsigned long long)samples[i]);
		assert_int_equal(fmt_u64(got, samples[i]), (size_t)n);
		assert_string_equal(got, want);
	}
}

static void test_hex(void **state)
{
	(void)state;
	char got[FMT_U64_MAX], want[32];
	static const unsigned widths[] = { 0, 1, 2, 8, 12, 16 };

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
			int n = snprintf(want, sizeof(want), "%0*llx", (int)widths[w], (unsigned long long)samples[i]);
			assert_int_equal(fmt_hex64(got, samples[i], widths[w]), (size_t)n);
			assert_string_equal(got, want);
		}
	/* wider than 16 digits is cut to 16 */
	assert_int_equal(fmt_hex64(got, 1, 40), 16);
	assert_string_equal(got, "0000000000000001");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decimal),
		cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
