/* sip_peek_response_branch: the top Via's branch of a raw response, found
 * without the full parse, agreeing with sip_msg_parse where it answers and
 * declining (false) on anything unusual. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <string.h>

#include "sip/sip.h"

static bool peek(const char *m, char *out, size_t cap)
{
	struct slice b;

	if (!sip_peek_response_branch(m, strlen(m), &b))
		return false;
	assert_true(b.p >= m && b.p + b.len <= m + strlen(m));
	assert_true(b.len < cap);
	memcpy(out, b.p, b.len);
	out[b.len] = '\0';
	return true;
}

#define TAIL "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"

static void test_finds_top_branch(void **state)
{
	(void)state;
	char b[64];

	assert_true(peek("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsw1x2a;rport\r\n"
			 "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKother\r\n" TAIL,
			 b, sizeof(b)));
	assert_string_equal(b, "z9hG4bKsw1x2a");
	/* after other headers, compact name, other case, space before the colon */
	assert_true(peek("SIP/2.0 180 Ringing\r\nCall-ID: c\r\nv : SIP/2.0/UDP h;branch=z9hG4bKsw0x1\r\n" TAIL, b,
			 sizeof(b)));
	assert_string_equal(b, "z9hG4bKsw0x1");
	assert_true(peek("SIP/2.0 486 Busy\r\nVIA:SIP/2.0/TCP h;received=1.2.3.4;BRANCH=z9hG4bKsw3x9\r\n" TAIL, b,
			 sizeof(b)));
	assert_string_equal(b, "z9hG4bKsw3x9");
	/* two via-parms in one header: the first */
	assert_true(peek("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKsw1xa, SIP/2.0/UDP b;branch=z9hG4bKb\r\n" TAIL,
			 b, sizeof(b)));
	assert_string_equal(b, "z9hG4bKsw1xa");
	/* a header that merely starts like Via is not one */
	assert_true(peek("SIP/2.0 200 OK\r\nVias: x\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKsw1xb\r\n" TAIL, b, sizeof(b)));
	assert_string_equal(b, "z9hG4bKsw1xb");
}

static void test_declines_the_unusual(void **state)
{
	(void)state;
	char b[64];

	/* requests */
	assert_false(peek("INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKsw1x1\r\n" TAIL, b, sizeof(b)));
	/* folded top Via */
	assert_false(peek("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a\r\n ;branch=z9hG4bKsw1x1\r\n" TAIL, b, sizeof(b)));
	/* no branch, unparseable Via, no Via at all */
	assert_false(peek("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;rport\r\n" TAIL, b, sizeof(b)));
	assert_false(peek("SIP/2.0 200 OK\r\nVia: garbage\r\n" TAIL, b, sizeof(b)));
	assert_false(peek("SIP/2.0 200 OK\r\n" TAIL, b, sizeof(b)));
	/* bare LF line ends, truncated header section */
	assert_false(peek("SIP/2.0 200 OK\nVia: SIP/2.0/UDP a;branch=z9hG4bKsw1x1\n\n", b, sizeof(b)));
	assert_false(peek("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKsw1x1", b, sizeof(b)));
	assert_false(peek("SIP/2.0", b, sizeof(b)));
	assert_false(peek("", b, sizeof(b)));
}

/* Where the peek answers, the full parse gives the same via1 branch. */
static void test_agrees_with_the_parser(void **state)
{
	(void)state;
	static const char *const msgs[] = {
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKsw1x2a;rport\r\n" TAIL,
		"SIP/2.0 180 Ringing\r\nCall-ID: c\r\nv : SIP/2.0/UDP h;branch=z9hG4bKsw0x1\r\n" TAIL,
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKsw1xa, SIP/2.0/UDP b;branch=z9hG4bKb\r\n" TAIL,
	};
	static struct sip_msg msg;
	char buf[1024];

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct slice b;
		struct sip_parse_err err;
		size_t n = strlen(msgs[i]);

		memcpy(buf, msgs[i], n + 1);
		assert_true(sip_peek_response_branch(buf, n, &b));
		assert_int_equal(sip_msg_parse(&msg, buf, n, &err), 0);
		assert_false(msg.is_request);
		assert_ptr_equal(b.p, msg.via1.branch.p);
		assert_int_equal(b.len, msg.via1.branch.len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_finds_top_branch),
		cmocka_unit_test(test_declines_the_unusual),
		cmocka_unit_test(test_agrees_with_the_parser),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
