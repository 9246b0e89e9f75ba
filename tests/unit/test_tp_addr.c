/* tp_addr_text: IPv4 text written without inet_ntop must equal inet_ntop's
 * for every value of every octet, fail cleanly into a too-small buffer, and
 * leave IPv6 and the port as before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "transport/tp.h"

static void v4(struct sockaddr_storage *ss, const uint8_t q[4], uint16_t port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	memcpy(&a->sin_addr.s_addr, q, 4);
}

static void test_ipv4_every_octet(void **state)
{
	struct sockaddr_storage ss;
	char got[48], want[INET_ADDRSTRLEN];
	uint16_t port = 0;

	(void)state;
	for (int pos = 0; pos < 4; pos++)
		for (unsigned v = 0; v < 256; v++) {
			uint8_t q[4] = { 192, 0, 2, 7 };
			q[pos] = (uint8_t)v;
			q[(pos + 1) % 4] = (uint8_t)(255 - v);
			v4(&ss, q, 5060);
			tp_addr_text(&ss, got, sizeof(got), &port);
			assert_non_null(inet_ntop(AF_INET, q, want, sizeof(want)));
			assert_string_equal(got, want);
			assert_int_equal(port, 5060);
		}
}

static void test_ipv4_small_buffer(void **state)
{
	struct sockaddr_storage ss;
	char buf[16];
	uint16_t port = 0;

	(void)state;
	v4(&ss, (const uint8_t[4]){ 255, 255, 255, 255 }, 1);
	tp_addr_text(&ss, buf, 16, &port); /* exactly fits with its NUL */
	assert_string_equal(buf, "255.255.255.255");
	tp_addr_text(&ss, buf, 15, &port);
	assert_string_equal(buf, "?");
	v4(&ss, (const uint8_t[4]){ 1, 2, 3, 4 }, 65535);
	tp_addr_text(&ss, buf, 8, &port);
	assert_string_equal(buf, "1.2.3.4");
	assert_int_equal(port, 65535);
}

static void test_ipv6(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
	char buf[48];
	uint16_t port = 0;

	(void)state;
	memset(&ss, 0, sizeof(ss));
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(5061);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &a->sin6_addr), 1);
	tp_addr_text(&ss, buf, sizeof(buf), &port);
	assert_string_equal(buf, "2001:db8::1");
	assert_int_equal(port, 5061);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_every_octet),
		cmocka_unit_test(test_ipv4_small_buffer),
		cmocka_unit_test(test_ipv6),
	};

	return cmocka_run_group_tests_name("tp_addr", tests, NULL, NULL);
}
