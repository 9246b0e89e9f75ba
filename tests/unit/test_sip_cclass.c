/* The sip layer's private scanning helpers (src/sip/sip_int.h): the byte-class
 * table against the character rules spelled out, the lower-case compare, the
 * trim, and sip_parse_uint against slice_to_u64 on every answer it can give. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip_int.h"

static bool ref_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ref_digit(int c)
{
	return c >= '0' && c <= '9';
}

static bool ref_token(int c)
{
	return ref_alpha(c) || ref_digit(c) || (c != 0 && strchr("-.!%*_+`'~", c));
}

static bool ref_param(int c)
{
	return ref_token(c) || (c != 0 && strchr("[]/:&$", c));
}

/* Every byte, every class, as RFC 3261 §25.1 / §19.1 and RFC 3986 §3.1 put it. */
static void test_classes(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		char ch = (char)c;
		bool lws = c == ' ' || c == '\t' || c == '\r' || c == '\n';
		bool hex = ref_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		bool host = ref_alpha(c) || ref_digit(c) || c == '-' || c == '.' || c == '_';
		bool uri = c > 0x20 && c != 0x7f && c != '"' && c != '<' && c != '>';
		bool scheme = ref_alpha(c) || ref_digit(c) || c == '+' || c == '-' || c == '.';
		bool authval = ref_token(c) || (c != 0 && strchr("/:@=[]", c));

		assert_int_equal(sip_is_token(ch), ref_token(c));
		assert_int_equal(sip_is_paramchar(ch), ref_param(c));
		assert_int_equal(sip_is_lws(ch), lws);
		assert_int_equal(sip_is_digit(ch), ref_digit(c));
		assert_int_equal(sip_cc_is(ch, SIP_CC_DIGIT), ref_digit(c));
		assert_int_equal(sip_cc_is(ch, SIP_CC_ALPHA), ref_alpha(c));
		assert_int_equal(sip_cc_is(ch, SIP_CC_HEX), hex);
		assert_int_equal(sip_cc_is(ch, SIP_CC_HOST), host);
		assert_int_equal(sip_cc_is(ch, SIP_CC_URI), uri);
		assert_int_equal(sip_cc_is(ch, SIP_CC_SCHEME), scheme);
		assert_int_equal(sip_cc_is(ch, SIP_CC_AUTHVAL), authval);
		assert_int_equal(sip_cc_is(ch, SIP_CC_UPPER), c >= 'A' && c <= 'Z');
		assert_int_equal(sip_cc_is(ch, SIP_CC_WORD), c > 0x20 && c != 0x7f);
		assert_int_equal(sip_cc_is(ch, SIP_CC_QTEXT), c != '"' && c != '\\');
		assert_int_equal((unsigned char)sip_lower(ch), c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
}

static void test_caseeq_lower(void **state)
{
	(void)state;
	assert_true(SIP_CASEEQ(slice_cstr("SIP/2.0"), "sip/2.0"));
	assert_true(SIP_CASEEQ(slice_cstr("bRaNcH"), "branch"));
	assert_true(SIP_CASEEQ(slice_from("", 0), ""));
	assert_false(SIP_CASEEQ(slice_cstr("branc"), "branch"));
	assert_false(SIP_CASEEQ(slice_cstr("branchx"), "branch"));
	assert_false(SIP_CASEEQ(slice_cstr("brancH\x01"), "branch"));
	/* only ASCII letters fold: '@' is not '`', '[' is not '{', 0xC1 is not 0xE1 */
	assert_false(SIP_CASEEQ(slice_cstr("@"), "`"));
	assert_false(SIP_CASEEQ(slice_cstr("["), "{"));
	assert_false(SIP_CASEEQ(slice_cstr("\xC1"), "\xE1"));
	/* exact-size copies, longer than one word and not a multiple of it */
	for (size_t n = 0; n <= 19; n++) {
		static const char lower[] = "proxy-authorization";
		char *b = malloc(n ? n : 1);
		assert_non_null(b);
		for (size_t i = 0; i < n; i++)
			b[i] = i % 2 ? (char)(lower[i] & ~0x20 & 0x7f) : lower[i];
		for (size_t i = 0; i < n; i++)
			if (lower[i] == '-')
				b[i] = '-';
		assert_true(sip_caseeq_lower(slice_from(b, n), lower, n));
		if (n) {
			b[n - 1] = b[n - 1] == '-' ? '\r' : '-';
			assert_false(sip_caseeq_lower(slice_from(b, n), lower, n));
		}
		free(b);
	}
	/* a NUL inside the slice is compared like any byte */
	assert_false(SIP_CASEEQ(slice_from("ta\0", 3), "tag"));
	assert_true(SIP_CASEEQ(slice_from("T\0G", 3), "t\0g"));
}

static void test_trim(void **state)
{
	static const char *const cases[] = { "", " ", " \t\r\n", "a", " a ", "\r\na b\t", "a\n", "\tab" };

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct slice a = sip_trim(slice_cstr(cases[k])), b = slice_trim(slice_cstr(cases[k]));
		assert_int_equal(a.len, b.len);
		if (a.len)
			assert_ptr_equal(a.p, b.p);
	}
}

/* sip_span against a plain loop: every length up to 13 (the four-byte steps
 * and every tail), every stopping position, in exact-size heap buffers. */
static void test_span(void **state)
{
	(void)state;
	for (size_t len = 0; len <= 13; len++) {
		for (size_t stop = 0; stop <= len; stop++) {
			for (size_t from = 0; from <= len; from++) {
				char *b = malloc(len ? len : 1);
				size_t want = from;

				assert_non_null(b);
				for (size_t i = 0; i < len; i++)
					b[i] = i == stop ? ';' : (char)('a' + i % 26);
				while (want < len && sip_is_token(b[want]))
					want++;
				assert_int_equal(sip_span(slice_from(b, len), from, SIP_CC_TOKEN), want);
				/* two classes at once: any of them keeps the run going */
				assert_int_equal(sip_span(slice_from(b, len), from, SIP_CC_LWS | SIP_CC_DIGIT),
						 from);
				free(b);
			}
		}
	}
}

/* The same return code and value as slice_to_u64 for the limits the parser uses. */
static void check_uint(const char *s, size_t n)
{
	static const uint64_t maxes[] = { 255, 65535, 65535 * 2 + 1, UINT32_MAX, UINT64_MAX };

	for (size_t k = 0; k < sizeof(maxes) / sizeof(maxes[0]); k++) {
		uint64_t a = 7, b = 7;
		int ra = sip_parse_uint(slice_from(s, n), maxes[k], &a);
		int rb = slice_to_u64(slice_from(s, n), maxes[k], &b);
		if (ra != rb || a != b)
			fail_msg("\"%.*s\" max %llu: %d/%llu, slice_to_u64 %d/%llu", (int)n, s,
				 (unsigned long long)maxes[k], ra, (unsigned long long)a, rb, (unsigned long long)b);
	}
}

static void test_parse_uint(void **state)
{
	static const char *const cases[] = {
		"", "0", "00", "7", "255", "256", "0255", "300x", "25x", "x", "1 ", " 1", "-1", "+1",
		"65535", "65536", "4294967295", "4294967296", "99999999999999999999", "0000000000000000000",
		"9999999999999999999", "18446744073709551615", "18446744073709551616",
		"1844674407370955161x", "00000000000000000001", "000000000000000000000000256", "12a4567890",
		"429496729x", "4294967296x", "25\0", "\xff",
	};
	char buf[32];

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
		check_uint(cases[k], strlen(cases[k]));
	check_uint("25\0", 3);
	/* random digit strings with the odd non-digit, every length up to 24 */
	srand(4475);
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand() % 25);
		for (size_t i = 0; i < n; i++)
			buf[i] = rand() % 40 ? (char)('0' + rand() % 10) : (char)(rand() % 256);
		check_uint(buf, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),
		cmocka_unit_test(test_caseeq_lower),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_span),
		cmocka_unit_test(test_parse_uint),
	};

	return cmocka_run_group_tests_name("sip_cclass", tests, NULL, NULL);
}
