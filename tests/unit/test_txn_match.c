/* Transaction matching (RFC 3261 §17.2.3 server keys with the magic cookie,
 * ACK to its INVITE, CANCEL apart, the RFC 2543 fallback), branch ownership
 * for cross-worker hand-off, and the timer heap's ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn/txn_int.h"

static char bufs[4][2048];

static struct sip_msg *parse(int slot, const char *method, const char *via, const char *cseq_method)
{
	static struct sip_msg msgs[4];
	struct sip_parse_err err;
	int n = snprintf(bufs[slot], sizeof(bufs[slot]),
			 "%s sip:bob@example.com SIP/2.0\r\nVia: %s\r\nFrom: <sip:a@example.com>;tag=f1\r\n"
			 "To: <sip:bob@example.com>\r\nCall-ID: c1@x\r\nCSeq: 7 %s\r\nMax-Forwards: 70\r\n"
			 "Content-Length: 0\r\n\r\n",
			 method, via, cseq_method);
	assert_int_equal(sip_msg_parse(&msgs[slot], bufs[slot], (size_t)n, &err), 0);
	return &msgs[slot];
}

static void key_of(const struct sip_msg *m, enum sip_method method, char *k, uint16_t *len)
{
	assert_int_equal(txn_server_key(m, method, k, len), 0);
	k[*len] = '\0';
}

static void test_ack_matches_invite_cancel_does_not(void **state)
{
	(void)state;
	char a[TXN_KEY_MAX + 1], b[TXN_KEY_MAX + 1], c[TXN_KEY_MAX + 1];
	uint16_t la, lb, lc;
	const char *via = "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc";

	key_of(parse(0, "INVITE", via, "INVITE"), SIP_INVITE, a, &la);
	key_of(parse(1, "ACK", via, "ACK"), SIP_ACK, b, &lb);
	key_of(parse(2, "CANCEL", via, "CANCEL"), SIP_CANCEL, c, &lc);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	/* a CANCEL looks up its INVITE with the INVITE method */
	key_of(parse(2, "CANCEL", via, "CANCEL"), SIP_INVITE, c, &lc);
	assert_string_equal(a, c);
}

static void test_sent_by_and_branch_matter(void **state)
{
	(void)state;
	char a[TXN_KEY_MAX + 1], b[TXN_KEY_MAX + 1];
	uint16_t la, lb;

	key_of(parse(0, "INVITE", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc", "INVITE"), SIP_INVITE, a, &la);
	key_of(parse(1, "INVITE", "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKabc", "INVITE"), SIP_INVITE, b, &lb);
	assert_string_not_equal(a, b);
	key_of(parse(1, "INVITE", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabd", "INVITE"), SIP_INVITE, b, &lb);
	assert_string_not_equal(a, b);
}

static void test_rfc2543_fallback(void **state)
{
	(void)state;
	char a[TXN_KEY_MAX + 1], b[TXN_KEY_MAX + 1];
	uint16_t la, lb;

	key_of(parse(0, "INVITE", "SIP/2.0/UDP 10.0.0.1:5060;branch=old1", "INVITE"), SIP_INVITE, a, &la);
	key_of(parse(1, "ACK", "SIP/2.0/UDP 10.0.0.1:5060;branch=old1", "ACK"), SIP_ACK, b, &lb);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "2543"));
}

/* The key's exact text, and an RFC 2543 request without a From tag (the
 * absent part is skipped, never read), and a key too long to keep. */
static void test_key_text(void **state)
{
	(void)state;
	static struct sip_msg m;
	struct sip_parse_err err;
	char k[TXN_KEY_MAX + 1];
	uint16_t len;

	key_of(parse(0, "INVITE", "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKabc", "INVITE"), SIP_INVITE, k, &len);
	assert_string_equal(k, "1|z9hG4bKabc|10.0.0.1:5070");
	key_of(parse(0, "BYE", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", "BYE"), SIP_BYE, k, &len);
	assert_int_equal(strncmp(k, "3|z9hG4bKx|10.0.0.1:", 20), 0);
	int n = snprintf(bufs[3], sizeof(bufs[3]),
			 "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9:5060\r\n"
			 "From: <sip:a@example.com>\r\nTo: <sip:bob@example.com>\r\nCall-ID: old@x\r\n"
			 "CSeq: 12 INVITE\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(sip_msg_parse(&m, bufs[3], (size_t)n, &err), 0);
	key_of(&m, SIP_INVITE, k, &len);
	assert_string_equal(k, "1|2543|old@x|12||10.0.0.9:5060");
	char via[600];
	memset(via, 'b', sizeof(via));
	memcpy(via, "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK", 40);
	via[sizeof(via) - 1] = '\0';
	assert_int_equal(txn_server_key(parse(1, "INVITE", via, "INVITE"), SIP_INVITE, k, &len), -EINVAL);
}

static void test_branch_owner(void **state)
{
	(void)state;
	assert_int_equal(txn_branch_owner(slice_cstr("z9hG4bKsw3x1f")), 3);
	assert_int_equal(txn_branch_owner(slice_cstr("z9hG4bKsw12xa0")), 12);
	assert_int_equal(txn_branch_owner(slice_cstr("z9hG4bKswx1")), -1);
	assert_int_equal(txn_branch_owner(slice_cstr("z9hG4bKsw3")), -1);
	assert_int_equal(txn_branch_owner(slice_cstr("z9hG4bKabc")), -1);
	assert_int_equal(txn_branch_owner(slice_cstr("")), -1);
}

static int fired[8], nfired;
static void on_fire(struct txn_timer *t)
{
	fired[nfired++] = (int)t->due_ms;
}

static void test_heap_order_and_delete(void **state)
{
	(void)state;
	struct txn_heap h = { 0 };
	struct txn_timer t[6];
	uint64_t due[6] = { 50, 10, 40, 30, 20, 60 };

	memset(t, 0, sizeof(t));
	for (int i = 0; i < 6; i++) {
		t[i].fn = on_fire;
		assert_int_equal(txn_heap_add(&h, &t[i], due[i]), 0);
	}
	txn_heap_del(&h, &t[2]); /* 40 */
	txn_heap_del(&h, &t[2]); /* twice: no-op */
	assert_int_equal(txn_heap_add(&h, &t[5], 5), 0); /* re-arm earlier */
	nfired = 0;
	struct txn_timer *top;
	while ((top = txn_heap_top(&h))) {
		txn_heap_del(&h, top);
		top->fn(top);
	}
	int want[] = { 5, 10, 20, 30, 50 };
	assert_int_equal(nfired, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fired[i], want[i]);
	txn_heap_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ack_matches_invite_cancel_does_not),
		cmocka_unit_test(test_sent_by_and_branch_matter),
		cmocka_unit_test(test_rfc2543_fallback),
		cmocka_unit_test(test_key_text),
		cmocka_unit_test(test_branch_owner),
		cmocka_unit_test(test_heap_order_and_delete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
