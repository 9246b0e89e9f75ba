/* DNS wire format for RFC 3263 lookups (proxy/dns_wire.c): queries as RFC 1035
 * §4.1 lays them out, answers with SRV/A/AAAA records and compressed names,
 * and the malformed ones refused (wrong id, not a response, truncated,
 * compression loops). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "proxy/dns.h"

static struct proxy_dns_answer ans;

static void test_query_layout(void **state)
{
	(void)state;
	uint8_t b[64];
	static const uint8_t want[] = { 0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 2, 'b', 'c', 0, 0, 33, 0, 1 };
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 0xabcd, "a.bc", PROXY_DNS_SRV), (int)sizeof(want));
	assert_memory_equal(b, want, sizeof(want));
	/* A trailing dot is the same name. */
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 0xabcd, "a.bc.", PROXY_DNS_SRV), (int)sizeof(want));
	assert_memory_equal(b, want, sizeof(want));
	/* Empty labels, 64-byte labels, too small a buffer. */
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 1, "a..bc", PROXY_DNS_A), -EINVAL);
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 1, "", PROXY_DNS_A), -EINVAL);
	char label[80];
	memset(label, 'x', 64);
	strcpy(label + 64, ".com");
	uint8_t big[128];
	assert_int_equal(proxy_dns_query_build(big, sizeof(big), 1, label, PROXY_DNS_A), -EINVAL);
	assert_int_equal(proxy_dns_query_build(b, 16, 1, "a.bc", PROXY_DNS_A), -EINVAL);
}

/* Response to 0x1234 for _sip._udp.Far.Example SRV: 10 5 5070 sip1.far.example
 * (target written with a pointer into the question), additional A 192.0.2.7. */
static const uint8_t srv_resp[] = {
	0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1,
	/* 12: question */
	4, '_', 's', 'i', 'p', 4, '_', 'u', 'd', 'p', 3, 'F', 'a', 'r', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 33, 0, 1,
	/* answer: owner = pointer to 12 */
	0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 60, 0, 13, 0, 10, 0, 5, 0x13, 0xce,
	4, 's', 'i', 'p', '1', 0xc0, 0x16, /* "sip1" + pointer to "Far.Example" (offset 22) */
	/* additional: sip1.far.example (pointer into the answer's target) A */
	0xc0, 0x39, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 7,
};

static void test_srv_with_additional(void **state)
{
	(void)state;
	assert_int_equal(proxy_dns_parse(srv_resp, sizeof(srv_resp), 0x1234, &ans), 0);
	assert_int_equal(ans.rcode, 0);
	assert_int_equal(ans.n, 2);
	assert_int_equal(ans.rr[0].type, PROXY_DNS_SRV);
	assert_string_equal(ans.rr[0].name, "_sip._udp.far.example");
	assert_int_equal(ans.rr[0].prio, 10);
	assert_int_equal(ans.rr[0].weight, 5);
	assert_int_equal(ans.rr[0].port, 5070);
	assert_int_equal(ans.rr[0].ttl, 60);
	assert_string_equal(ans.rr[0].target, "sip1.far.example");
	assert_false(ans.rr[0].additional);
	assert_int_equal(ans.rr[1].type, PROXY_DNS_A);
	assert_true(ans.rr[1].additional);
	assert_string_equal(ans.rr[1].name, "sip1.far.example");
	assert_int_equal(ans.rr[1].addr[0], 192);
	assert_int_equal(ans.rr[1].addr[3], 7);
}

static void test_malformed_answers_refused(void **state)
{
	(void)state;
	uint8_t m[sizeof(srv_resp)];
	/* another query's id */
	assert_int_equal(proxy_dns_parse(srv_resp, sizeof(srv_resp), 0x1235, &ans), -EBADMSG);
	/* a query, not a response */
	memcpy(m, srv_resp, sizeof(m));
	m[2] &= 0x7f;
	assert_int_equal(proxy_dns_parse(m, sizeof(m), 0x1234, &ans), -EBADMSG);
	/* cut anywhere inside the records */
	for (size_t n = 12; n < sizeof(srv_resp); n++)
		assert_int_equal(proxy_dns_parse(srv_resp, n, 0x1234, &ans), -EBADMSG);
	/* a name pointing at itself */
	static const uint8_t loop[] = { 0, 3, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1 };
	assert_int_equal(proxy_dns_parse(loop, sizeof(loop), 3, &ans), -EBADMSG);
}

static void test_nxdomain_rcode(void **state)
{
	(void)state;
	static const uint8_t nx[] = { 0, 9, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 0, 1, 0, 1 };
	assert_int_equal(proxy_dns_parse(nx, sizeof(nx), 9, &ans), 0);
	assert_int_equal(ans.rcode, PROXY_DNS_NXDOMAIN);
	assert_int_equal(ans.n, 0);
}

/* An answer must repeat our one question: same name (any case), type, class IN. */
static void test_question_must_match(void **state)
{
	(void)state;
	uint8_t b[128];
	int n = proxy_dns_query_build(b, sizeof(b), 7, "Sip.Example.COM", PROXY_DNS_SRV);
	assert_true(n > 0);
	assert_true(proxy_dns_question_is(b, (size_t)n, "sip.example.com", PROXY_DNS_SRV));
	assert_true(proxy_dns_question_is(b, (size_t)n, "sip.example.com.", PROXY_DNS_SRV));
	assert_false(proxy_dns_question_is(b, (size_t)n, "sip.example.co", PROXY_DNS_SRV));
	assert_false(proxy_dns_question_is(b, (size_t)n, "evil.example.com", PROXY_DNS_SRV));
	assert_false(proxy_dns_question_is(b, (size_t)n, "sip.example.com", PROXY_DNS_A));
	b[n - 1] = 3; /* class CH instead of IN */
	assert_false(proxy_dns_question_is(b, (size_t)n, "sip.example.com", PROXY_DNS_SRV));
	b[n - 1] = 1;
	b[5] = 2; /* two questions */
	assert_false(proxy_dns_question_is(b, (size_t)n, "sip.example.com", PROXY_DNS_SRV));
	b[5] = 1;
	assert_false(proxy_dns_question_is(b, (size_t)n - 1, "sip.example.com", PROXY_DNS_SRV)); /* cut short */
	assert_false(proxy_dns_question_is(b, 11, "sip.example.com", PROXY_DNS_SRV));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_layout),
		cmocka_unit_test(test_srv_with_additional),
		cmocka_unit_test(test_malformed_answers_refused),
		cmocka_unit_test(test_nxdomain_rcode),
		cmocka_unit_test(test_question_must_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
