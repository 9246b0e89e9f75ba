/* MD5 (base/md5.c): the test suite of RFC 1321 §A.5, then every length from 0
 * to 300 bytes of pseudo-random data fed whole and in uneven pieces, against
 * OpenSSL's MD5. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "base/md5.h"

static void hex(const uint8_t *b, char *out)
{
	for (int i = 0; i < BASE_MD5_LEN; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_rfc1321_suite(void **state)
{
	static const struct {
		const char *in, *md5;
	} v[] = {
		{ "", "d41d8cd98f00b204e9800998ecf8427e" },
		{ "a", "0cc175b9c0f1b6a831c399e269772661" },
		{ "abc", "900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "f96b697d7cb7938d525a2f31aaf161d0" },
		{ "abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b" },
		{ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		  "d174ab98d277d9f5a5611c2c9f419d9f" },
		{ "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		  "57edf4a22be3c955ac49da2e2107b67a" },
	};
	uint8_t md[BASE_MD5_LEN];
	char text[33];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		base_md5(v[i].in, strlen(v[i].in), md);
		hex(md, text);
		assert_string_equal(text, v[i].md5);
	}
}

static void test_against_openssl(void **state)
{
	uint8_t data[300], mine[BASE_MD5_LEN], theirs[EVP_MAX_MD_SIZE];
	uint32_t x = 2463534242u;
	unsigned n;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (uint8_t)x;
	}
	for (size_t len = 0; len <= sizeof(data); len++) {
		assert_int_equal(EVP_Digest(data, len, theirs, &n, EVP_md5(), NULL), 1);
		base_md5(data, len, mine);
		assert_memory_equal(mine, theirs, BASE_MD5_LEN);
		/* the same bytes in pieces of 1, 3, 7, 13, ... crossing block edges */
		struct base_md5 m;
		base_md5_init(&m);
		for (size_t off = 0, step = 1; off < len; off += step, step = step * 2 + 1) {
			size_t take = len - off < step ? len - off : step;
			base_md5_update(&m, data + off, take);
			if (take < step)
				break;
		}
		base_md5_final(&m, mine);
		assert_memory_equal(mine, theirs, BASE_MD5_LEN);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc1321_suite),
		cmocka_unit_test(test_against_openssl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
