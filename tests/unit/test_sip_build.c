/* Output buffer and reply building (RFC 3261 §8.2.6, §18.2.1; RFC 3581):
 * exact wire output, received/rport, To tags, overflow, reason phrases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

static struct sip_msg req;
static char *wire;
static char out[4096];

static void parse_req(const char *s)
{
	struct sip_parse_err err;
	size_t n = strlen(s);

	free(wire);
	wire = malloc(n);
	assert_non_null(wire);
	memcpy(wire, s, n);
	assert_int_equal(sip_msg_parse(&req, wire, n, &err), 0);
}

static int teardown(void **state)
{
	(void)state;
	free(wire);
	wire = NULL;
	return 0;
}

/* Build and compare the whole reply with want. */
static void expect_reply(int code, const char *reason, const char *tag, const struct sip_src *src,
			 const char *extra, const char *want)
{
	struct sip_buf b;

	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(sip_reply_build(&b, &req, code, reason, tag, src, extra), 0);
	if (b.len != strlen(want) || memcmp(out, want, b.len))
		fail_msg("got:\n%.*s\nwant:\n%s", (int)b.len, out, want);
}

static void test_buf(void **state)
{
	char mem[8];
	struct sip_buf b;

	(void)state;
	sip_buf_init(&b, mem, sizeof(mem));
	sip_buf_puts(&b, "abc");
	sip_buf_slice(&b, slice_cstr("de"));
	sip_buf_printf(&b, "%d", 12);
	assert_false(b.overflow);
	assert_int_equal(b.len, 7);
	/* exactly filling the buffer with printf still fits */
	sip_buf_printf(&b, "%c", 'z');
	assert_false(b.overflow);
	assert_int_equal(b.len, 8);
	assert_memory_equal(mem, "abcde12z", 8);
	sip_buf_put(&b, "", 0);
	assert_false(b.overflow);
	sip_buf_puts(&b, "x");
	assert_true(b.overflow);
	assert_int_equal(b.len, 8);
	/* sticky */
	sip_buf_puts(&b, "");
	assert_true(b.overflow);

	sip_buf_init(&b, mem, sizeof(mem));
	sip_buf_printf(&b, "%s", "123456789");
	assert_true(b.overflow);
	assert_int_equal(b.len, 0);
	sip_buf_init(&b, mem, sizeof(mem));
	sip_buf_put(&b, "123456789", 9);
	assert_true(b.overflow);

	sip_buf_init(&b, NULL, 0);
	sip_buf_printf(&b, "%s", "");
	assert_false(b.overflow);
	sip_buf_puts(&b, "a");
	assert_true(b.overflow);
	sip_buf_puts(&b, NULL);
}

#define REQ                                                                                       \
	"REGISTER sip:example.com SIP/2.0\r\n"                                                    \
	"Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKnashds7;rport, SIP/2.0/TCP p1.example.com\r\n" \
	"Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n"                                      \
	"Max-Forwards: 70\r\n"                                                                    \
	"To: Bob <sip:bob@example.com>\r\n"                                                       \
	"From: Bob <sip:bob@example.com>;tag=456248\r\n"                                          \
	"Call-ID: 843817637684230@998sdasdh09\r\n"                                                \
	"CSeq:   01826\r\n   REGISTER\r\n"                                                        \
	"Contact: <sip:bob@192.0.2.4>\r\n"                                                        \
	"Content-Length: 0\r\n\r\n"

static void test_reply_register(void **state)
{
	struct sip_src src = { "192.0.2.200", 61234 };

	(void)state;
	parse_req(REQ);
	expect_reply(401, NULL, "as7sd", &src,
		     "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n\"\r\n",
		     "SIP/2.0 401 Unauthorized\r\n"
		     "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKnashds7;rport=61234"
		     ";received=192.0.2.200\r\n"
		     "Via: SIP/2.0/TCP p1.example.com\r\n"
		     "Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n"
		     "From: Bob <sip:bob@example.com>;tag=456248\r\n"
		     "To: Bob <sip:bob@example.com>;tag=as7sd\r\n"
		     "Call-ID: 843817637684230@998sdasdh09\r\n"
		     "CSeq: 1826 REGISTER\r\n"
		     "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n\"\r\n"
		     "Server: sipwarden\r\n"
		     "Content-Length: 0\r\n\r\n");
	/* no src: the Vias are copied untouched; 100 never gets a To tag */
	expect_reply(100, "Giving it a try", "as7sd", NULL, NULL,
		     "SIP/2.0 100 Giving it a try\r\n"
		     "Via: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKnashds7;rport\r\n"
		     "Via: SIP/2.0/TCP p1.example.com\r\n"
		     "Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n"
		     "From: Bob <sip:bob@example.com>;tag=456248\r\n"
		     "To: Bob <sip:bob@example.com>\r\n"
		     "Call-ID: 843817637684230@998sdasdh09\r\n"
		     "CSeq: 1826 REGISTER\r\n"
		     "Server: sipwarden\r\n"
		     "Content-Length: 0\r\n\r\n");
}

#define OPT(via, to)                                                                              \
	"OPTIONS sip:a@example.com SIP/2.0\r\nVia: " via "\r\nFrom: <sip:b@e>;tag=f\r\nTo: " to "\r\n" \
	"Call-ID: c\r\nCSeq: 7 OPTIONS\r\n\r\n"
#define TAIL "From: <sip:b@e>;tag=f\r\n"

static void test_reply_received(void **state)
{
	struct sip_src same = { "192.0.2.1", 5060 };
	struct sip_src other = { "192.0.2.9", 5062 };
	struct sip_src v6 = { "2001:db8::1", 5060 };

	(void)state;
	/* same host, no rport: nothing added (RFC 3261 §18.2.1) */
	parse_req(OPT("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1", "<sip:a@example.com>;tag=existing"));
	expect_reply(200, NULL, "new", &same, NULL,
		     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" TAIL
		     "To: <sip:a@example.com>;tag=existing\r\nCall-ID: c\r\nCSeq: 7 OPTIONS\r\n"
		     "Server: sipwarden\r\nContent-Length: 0\r\n\r\n");
	/* a stale received is replaced, a valued rport is kept */
	parse_req(OPT("SIP/2.0/UDP host.example.com:5060 ;received=10.1.1.1; rport=5099 ;branch=z9hG4bK2",
		      "<sip:a@example.com>"));
	expect_reply(404, NULL, NULL, &other, NULL,
		     "SIP/2.0 404 Not Found\r\n"
		     "Via: SIP/2.0/UDP host.example.com:5060 ; rport=5099;branch=z9hG4bK2"
		     ";received=192.0.2.9\r\n" TAIL
		     "To: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 7 OPTIONS\r\n"
		     "Server: sipwarden\r\nContent-Length: 0\r\n\r\n");
	/* rport forces received even when the address matches (RFC 3581 §4) */
	parse_req(OPT("SIP/2.0/UDP 192.0.2.1;rport", "<sip:a@example.com>"));
	expect_reply(200, NULL, "t", &same, NULL,
		     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;rport=5060;received=192.0.2.1\r\n" TAIL
		     "To: <sip:a@example.com>;tag=t\r\nCall-ID: c\r\nCSeq: 7 OPTIONS\r\n"
		     "Server: sipwarden\r\nContent-Length: 0\r\n\r\n");
	/* no params at all, different host */
	parse_req(OPT("SIP/2.0/UDP host", "<sip:a@example.com>"));
	expect_reply(200, NULL, "", &other, NULL,
		     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP host;received=192.0.2.9\r\n" TAIL
		     "To: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 7 OPTIONS\r\n"
		     "Server: sipwarden\r\nContent-Length: 0\r\n\r\n");
	/* IPv6: the bracketed Via host equals the bare source address */
	parse_req(OPT("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK3", "<sip:a@example.com>"));
	expect_reply(200, NULL, NULL, &v6, NULL,
		     "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK3\r\n" TAIL
		     "To: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 7 OPTIONS\r\n"
		     "Server: sipwarden\r\nContent-Length: 0\r\n\r\n");
	parse_req(OPT("SIP/2.0/UDP [2001:db8::2]:5060;rport", "<sip:a@example.com>"));
	expect_reply(200, NULL, NULL, &v6, NULL,
		     "SIP/2.0 200 OK\r\n"
		     "Via: SIP/2.0/UDP [2001:db8::2]:5060;rport=5060;received=2001:db8::1\r\n" TAIL
		     "To: <sip:a@example.com>\r\nCall-ID: c\r\nCSeq: 7 OPTIONS\r\n"
		     "Server: sipwarden\r\nContent-Length: 0\r\n\r\n");
}

#define PA "Proxy-Authenticate: Digest x=y\r\n"

static void test_reply_nospace(void **state)
{
	struct sip_src src = { "192.0.2.200", 61234 };
	struct sip_buf b;
	size_t full;

	(void)state;
	parse_req(REQ);
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(sip_reply_build(&b, &req, 407, NULL, "x", &src, PA), 0);
	full = b.len;
	for (size_t cap = 0; cap < full; cap++) {
		char *mem = malloc(cap ? cap : 1);
		sip_buf_init(&b, mem, cap);
		assert_int_equal(sip_reply_build(&b, &req, 407, NULL, "x", &src, PA), -ENOSPC);
		free(mem);
	}
	char *mem = malloc(full);
	sip_buf_init(&b, mem, full);
	assert_int_equal(sip_reply_build(&b, &req, 407, NULL, "x", &src, PA), 0);
	assert_memory_equal(mem, out, full);
	free(mem);
}

static void test_reply_invalid(void **state)
{
	struct sip_buf b;
	struct sip_parse_err err;
	static char bad[] = "OPTIONS sip:a@e SIP/2.0\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: x\r\n"
			    "CSeq: 1 OPTIONS\r\n\r\n";

	(void)state;
	parse_req(REQ);
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(sip_reply_build(&b, &req, 99, NULL, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(sip_reply_build(&b, &req, 700, NULL, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(sip_msg_parse(&req, bad, sizeof(bad) - 1, &err), -EBADMSG);
	assert_false(err.can_reply);
	assert_int_equal(sip_reply_build(&b, &req, 400, err.reason, NULL, NULL, NULL), -EINVAL);
}

static void test_reply_to_broken(void **state)
{
	struct sip_buf b;
	struct sip_parse_err err;
	static char bad[] = "OPTIONS sip:a@e SIP/7.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>;tag=1\r\n"
			    "To: <sip:a@e>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";

	(void)state;
	assert_int_equal(sip_msg_parse(&req, bad, sizeof(bad) - 1, &err), -EBADMSG);
	assert_true(err.can_reply);
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(sip_reply_build(&b, &req, err.status, NULL, "z", NULL, NULL), 0);
	assert_int_equal(strncmp(out, "SIP/2.0 505 Version Not Supported\r\n", 35), 0);
}

static void test_reason_phrase(void **state)
{
	(void)state;
	assert_string_equal(sip_reason_phrase(100), "Trying");
	assert_string_equal(sip_reason_phrase(200), "OK");
	assert_string_equal(sip_reason_phrase(401), "Unauthorized");
	assert_string_equal(sip_reason_phrase(403), "Forbidden");
	assert_string_equal(sip_reason_phrase(407), "Proxy Authentication Required");
	assert_string_equal(sip_reason_phrase(416), "Unsupported URI Scheme");
	assert_string_equal(sip_reason_phrase(420), "Bad Extension");
	assert_string_equal(sip_reason_phrase(423), "Interval Too Brief");
	assert_string_equal(sip_reason_phrase(481), "Call/Transaction Does Not Exist");
	assert_string_equal(sip_reason_phrase(483), "Too Many Hops");
	assert_string_equal(sip_reason_phrase(489), "Bad Event");
	assert_string_equal(sip_reason_phrase(501), "Not Implemented");
	assert_string_equal(sip_reason_phrase(505), "Version Not Supported");
	assert_string_equal(sip_reason_phrase(513), "Message Too Large");
	assert_string_equal(sip_reason_phrase(603), "Decline");
	assert_string_equal(sip_reason_phrase(299), "Unknown");
	assert_string_equal(sip_reason_phrase(-1), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf),
		cmocka_unit_test_teardown(test_reply_register, teardown),
		cmocka_unit_test_teardown(test_reply_received, teardown),
		cmocka_unit_test_teardown(test_reply_nospace, teardown),
		cmocka_unit_test_teardown(test_reply_invalid, teardown),
		cmocka_unit_test_teardown(test_reply_to_broken, teardown),
		cmocka_unit_test(test_reason_phrase),
	};

	return cmocka_run_group_tests_name("sip_build", tests, NULL, NULL);
}
