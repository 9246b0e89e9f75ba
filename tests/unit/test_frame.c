/* Unit tests for TCP stream framing (transport/frame.c, RFC 3261 §18.3, RFC 5626 §3.5.1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transport/tp.h"

static enum tp_frame scan(const char *s, size_t max, size_t *skip, size_t *len)
{
	return tp_frame_scan(s, strlen(s), max, skip, len);
}

static void whole_message_without_body(void **state)
{
	(void)state;
	const char *m = "OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\nNEXT";
	size_t skip, len;
	assert_int_equal(scan(m, 65535, &skip, &len), TP_FRAME_MSG);
	assert_int_equal(skip, 0);
	assert_int_equal(len, strlen(m) - 4);
}

static void body_by_content_length(void **state)
{
	(void)state;
	const char *m = "MESSAGE sip:a SIP/2.0\r\nl: 5\r\n\r\nhelloEXTRA";
	size_t skip, len;
	assert_int_equal(scan(m, 65535, &skip, &len), TP_FRAME_MSG);
	assert_int_equal(len, strlen(m) - 5);
}

static void partial_headers_and_body_need_more(void **state)
{
	(void)state;
	size_t skip, len;
	assert_int_equal(scan("REGISTER sip:a SIP/2.0\r\nVia: x\r\n", 65535, &skip, &len), TP_FRAME_MORE);
	assert_int_equal(scan("MESSAGE sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nabc", 65535, &skip, &len),
			 TP_FRAME_MORE);
}

static void keepalive_ping_and_leading_crlf(void **state)
{
	(void)state;
	size_t skip, len;
	assert_int_equal(scan("\r\n\r\nOPTIONS", 65535, &skip, &len), TP_FRAME_PING);
	assert_int_equal(skip, 4);
	assert_int_equal(scan("\r\nOPTIONS sip:a SIP/2.0\r\n\r\n", 65535, &skip, &len), TP_FRAME_MSG);
	assert_int_equal(skip, 2);
	assert_int_equal(scan("\r\n", 65535, &skip, &len), TP_FRAME_MORE);
}

static void content_length_is_not_trusted(void **state)
{
	(void)state;
	size_t skip, len;
	/* Larger than the limit: refused at once, not waited for. */
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n", 65535, &skip, &len),
			 TP_FRAME_BAD);
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: 70000\r\n\r\n", 65535, &skip, &len),
			 TP_FRAME_BAD);
	/* Conflicting or non-numeric values. */
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab", 65535, &skip, &len),
			 TP_FRAME_BAD);
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: 1x\r\n\r\nab", 65535, &skip, &len),
			 TP_FRAME_BAD);
	assert_int_equal(scan("INVITE sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n", 65535, &skip, &len),
			 TP_FRAME_BAD);
}

static void endless_headers_are_cut_at_the_limit(void **state)
{
	(void)state;
	char buf[200];
	size_t skip, len;
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	assert_int_equal(scan(buf, 256, &skip, &len), TP_FRAME_MORE);
	assert_int_equal(scan(buf, 100, &skip, &len), TP_FRAME_BAD);
	/* exactly at the limit is still acceptable */
	const char *m = "A sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
	assert_int_equal(scan(m, strlen(m), &skip, &len), TP_FRAME_MSG);
	assert_int_equal(scan(m, strlen(m) - 1, &skip, &len), TP_FRAME_BAD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_message_without_body),
		cmocka_unit_test(body_by_content_length),
		cmocka_unit_test(partial_headers_and_body_need_more),
		cmocka_unit_test(keepalive_ping_and_leading_crlf),
		cmocka_unit_test(content_length_is_not_trusted),
		cmocka_unit_test(endless_headers_are_cut_at_the_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
