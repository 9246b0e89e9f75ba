/* Loop detection (RFC 3261 §16.3 item 4, §16.6 item 8): the loop hash at the
 * end of our branches, a request that comes back unchanged is a loop, one
 * that comes back with another Request-URI is a spiral. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proxy/proxy_int.h"

static char in[4096];
static struct sip_msg msg;

static void parse(const char *text)
{
	struct sip_parse_err err;
	size_t n = strlen(text);
	assert_true(n < sizeof(in));
	memcpy(in, text, n);
	assert_int_equal(sip_msg_parse(&msg, in, n, &err), 0);
}

/* "Us" is 192.0.2.1:5060. */
static bool is_me(void *arg, struct slice host, uint16_t port)
{
	(void)arg;
	return slice_eq_cstr(host, "192.0.2.1") && port == 5060;
}

/* Listening on tls:192.0.2.1:5061 only. */
static bool is_me_tls(void *arg, struct slice host, uint16_t port)
{
	(void)arg;
	return slice_eq_cstr(host, "192.0.2.1") && port == 5061;
}

#define ORIGINAL                                                                  \
	"INVITE sip:carol@far.example SIP/2.0\r\n"                                \
	"Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"                  \
	"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=t1\r\n"            \
	"To: <sip:carol@far.example>\r\nCall-ID: c1@x\r\nCSeq: 2 INVITE\r\n"      \
	"Content-Length: 0\r\n\r\n"

/* The branch we would put on the original request. */
static void our_branch(char *branch, size_t cap)
{
	parse(ORIGINAL);
	snprintf(branch, cap, "z9hG4bKsw0x1f");
	assert_int_equal(proxy_loop_branch_suffix(branch, cap, &msg), 0);
}

/* The request as the next hop sends it back: its Via, ours, alice's. */
static void returned(const char *ruri, const char *branch, const char *cseq)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "INVITE %s SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKnext\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=%s\r\n"
		 "Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		 "Max-Forwards: 68\r\nFrom: <sip:alice@example.com>;tag=t1\r\n"
		 "To: <sip:carol@far.example>\r\nCall-ID: c1@x\r\nCSeq: %s INVITE\r\n"
		 "Content-Length: 0\r\n\r\n",
		 ruri, branch, cseq);
	parse(text);
}

static void test_branch_carries_hash(void **state)
{
	(void)state;
	char branch[48], again[48];
	our_branch(branch, sizeof(branch));
	assert_int_equal(strlen(branch), strlen("z9hG4bKsw0x1f") + 13);
	assert_int_equal(branch[strlen("z9hG4bKsw0x1f")], '.');
	assert_int_equal(txn_branch_owner(slice_cstr(branch)), 0);
	our_branch(again, sizeof(again));
	assert_string_equal(branch, again); /* stable for the same request */

	/* Each field of §16.6 item 8 that we use changes it. */
	uint64_t base = proxy_loop_hash(&msg, &msg.via1);
	const char *variants[] = {
		"INVITE sip:carol@other.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		"From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>\r\nCall-ID: c1@x\r\nCSeq: 2 INVITE\r\n\r\n",
		"INVITE sip:carol@far.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		"From: <sip:alice@example.com>;tag=t2\r\nTo: <sip:carol@far.example>\r\nCall-ID: c1@x\r\nCSeq: 2 INVITE\r\n\r\n",
		"INVITE sip:carol@far.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		"From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>;tag=x\r\nCall-ID: c1@x\r\nCSeq: 2 INVITE\r\n\r\n",
		"INVITE sip:carol@far.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		"From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>\r\nCall-ID: c2@x\r\nCSeq: 2 INVITE\r\n\r\n",
		"INVITE sip:carol@far.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		"From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>\r\nCall-ID: c1@x\r\nCSeq: 3 INVITE\r\n\r\n",
		"INVITE sip:carol@far.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice2\r\n"
		"From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>\r\nCall-ID: c1@x\r\nCSeq: 2 INVITE\r\n\r\n",
		"INVITE sip:carol@far.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		"From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>\r\nCall-ID: c1@x\r\nCSeq: 2 INVITE\r\n"
		"Proxy-Require: foo\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		parse(variants[i]);
		assert_true(proxy_loop_hash(&msg, &msg.via1) != base);
	}
	/* Too small a buffer: refused, the branch left as it was. */
	char small[20] = "z9hG4bKsw0x1f";
	parse(ORIGINAL);
	assert_int_equal(proxy_loop_branch_suffix(small, sizeof(small), &msg), -ENOSPC);
	assert_string_equal(small, "z9hG4bKsw0x1f");
}

static void test_unchanged_request_is_a_loop(void **state)
{
	(void)state;
	char branch[48];
	our_branch(branch, sizeof(branch));
	returned("sip:carol@far.example", branch, "2");
	assert_true(proxy_loop_found(&msg, is_me, NULL));
}

/* Our Via over TLS without a port means 5061: a loop through our TLS listen
 * address is found as one through UDP is. */
static void test_loop_through_tls_via(void **state)
{
	(void)state;
	char branch[48], text[2048];
	our_branch(branch, sizeof(branch));
	snprintf(text, sizeof(text),
		 "INVITE sip:carol@far.example SIP/2.0\r\n"
		 "Via: SIP/2.0/TLS 198.51.100.9;branch=z9hG4bKnext\r\n"
		 "Via: SIP/2.0/TLS 192.0.2.1;branch=%s\r\n"
		 "Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		 "Max-Forwards: 68\r\nFrom: <sip:alice@example.com>;tag=t1\r\n"
		 "To: <sip:carol@far.example>\r\nCall-ID: c1@x\r\nCSeq: 2 INVITE\r\n"
		 "Content-Length: 0\r\n\r\n",
		 branch);
	parse(text);
	assert_true(proxy_loop_found(&msg, is_me_tls, NULL));
	assert_false(proxy_loop_found(&msg, is_me, NULL)); /* 5061 is not the UDP address */
}

static void test_retargeted_request_is_a_spiral(void **state)
{
	(void)state;
	char branch[48];
	our_branch(branch, sizeof(branch));
	returned("sip:carol-mobile@example.com", branch, "2");
	assert_false(proxy_loop_found(&msg, is_me, NULL));
	/* A later request of the dialog is no loop either. */
	returned("sip:carol@far.example", branch, "3");
	assert_false(proxy_loop_found(&msg, is_me, NULL));
}

/* A dialog set up through a spiral has us twice in its route set: its BYE
 * passes us, the forwarding service, and us again with the same Request-URI. */
static void test_in_dialog_spiral_through_route_set(void **state)
{
	(void)state;
	char branch[48], text[2048];
	static const char bye[] =
		"BYE sip:carol@198.51.100.20:5060 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKbye1\r\n"
		"Route: <sip:192.0.2.1:5060;lr>, <sip:198.51.100.9:5060;lr>, <sip:192.0.2.1:5060;lr>\r\n"
		"From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>;tag=c9\r\n"
		"Call-ID: d1@x\r\nCSeq: 3 BYE\r\n\r\n";
	parse(bye);
	snprintf(branch, sizeof(branch), "z9hG4bKsw0x2a");
	assert_int_equal(proxy_loop_branch_suffix(branch, sizeof(branch), &msg), 0);
	snprintf(text, sizeof(text),
		 "BYE sip:carol@198.51.100.20:5060 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKfwd\r\n"
		 "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=%s\r\n"
		 "Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKbye1\r\n"
		 "Route: <sip:192.0.2.1:5060;lr>\r\n"
		 "From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>;tag=c9\r\n"
		 "Call-ID: d1@x\r\nCSeq: 3 BYE\r\n\r\n",
		 branch);
	parse(text);
	assert_false(proxy_loop_found(&msg, is_me, NULL));
}

static void test_foreign_via_or_no_hash_is_not_ours(void **state)
{
	(void)state;
	char branch[48];
	our_branch(branch, sizeof(branch));
	/* Alice's Via below another element's: nothing of ours. */
	parse("INVITE sip:carol@far.example SIP/2.0\r\n"
	      "Via: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKnext\r\n"
	      "Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
	      "From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>\r\nCall-ID: c1@x\r\n"
	      "CSeq: 2 INVITE\r\n\r\n");
	assert_false(proxy_loop_found(&msg, is_me, NULL));
	/* Our sent-by and branch prefix without a hash (not ours to judge). */
	returned("sip:carol@far.example", "z9hG4bKsw0x1f", "2");
	assert_false(proxy_loop_found(&msg, is_me, NULL));
	/* Vias folded into one header line are walked too. */
	char text[2048];
	snprintf(text, sizeof(text),
		 "INVITE sip:carol@far.example SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKnext, SIP/2.0/UDP 192.0.2.1:5060;branch=%s, "
		 "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		 "From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>\r\nCall-ID: c1@x\r\n"
		 "CSeq: 2 INVITE\r\n\r\n",
		 branch);
	parse(text);
	assert_true(proxy_loop_found(&msg, is_me, NULL));
	/* ... and a Via header folded over two lines, ours on the second. */
	snprintf(text, sizeof(text),
		 "INVITE sip:carol@far.example SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKnext,\r\n"
		 " SIP/2.0/UDP 192.0.2.1:5060;branch=%s\r\n"
		 "Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKalice1\r\n"
		 "From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:carol@far.example>\r\nCall-ID: c1@x\r\n"
		 "CSeq: 2 INVITE\r\n\r\n",
		 branch);
	parse(text);
	assert_true(proxy_loop_found(&msg, is_me, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_branch_carries_hash),
		cmocka_unit_test(test_unchanged_request_is_a_loop),
		cmocka_unit_test(test_loop_through_tls_via),
		cmocka_unit_test(test_retargeted_request_is_a_spiral),
		cmocka_unit_test(test_in_dialog_spiral_through_route_set),
		cmocka_unit_test(test_foreign_via_or_no_hash_is_not_ours),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
