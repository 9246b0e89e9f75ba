/* Transaction matching (RFC 3261 §17.2.3 server keys with the magic cookie,
 * ACK to its INVITE, CANCEL apart, the RFC 2543 fallback), branch ownership
 * for cross-worker hand-off, the timers' ordering (lists per duration and the
 * heap behind them) and the matching tables' growth. */
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

static void test_timer_lists(void **state)
{
	(void)state;
	struct txn_timers ts = { 0 };
	struct txn_timer t[6];

	memset(t, 0, sizeof(t));
	for (int i = 0; i < 6; i++)
		t[i].fn = on_fire;
	/* two durations, armed at rising times: due 1000+500, 1010+32000, 1020+500, 1030+32000 */
	assert_int_equal(txn_timers_start(&ts, &t[0], 1000, 500), 0);
	assert_int_equal(txn_timers_start(&ts, &t[1], 1010, 32000), 0);
	assert_int_equal(txn_timers_start(&ts, &t[2], 1020, 500), 0);
	assert_int_equal(txn_timers_start(&ts, &t[3], 1030, 32000), 0);
	assert_int_equal(ts.nlists, 2);
	assert_int_equal(ts.heap.n, 0);
	/* armed at an earlier time than its list's tail: kept in order by the heap */
	assert_int_equal(txn_timers_start(&ts, &t[4], 900, 500), 0);
	assert_int_equal(ts.heap.n, 1);
	assert_ptr_equal(txn_timers_first(&ts), &t[4]);
	txn_timers_stop(&ts, &t[2]);
	txn_timers_stop(&ts, &t[2]); /* twice: no-op */
	/* re-arming moves a timer: t[1] now due 1100+500 = 1600 */
	assert_int_equal(txn_timers_start(&ts, &t[1], 1100, 500), 0);
	nfired = 0;
	struct txn_timer *top;
	while ((top = txn_timers_first(&ts))) {
		txn_timers_stop(&ts, top);
		top->fn(top);
	}
	int want[] = { 1400, 1500, 1600, 33030 };
	assert_int_equal(nfired, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(fired[i], want[i]);
	for (int i = 0; i < 6; i++)
		assert_int_equal(t[i].list + t[i].idx, 0);

	txn_timers_fini(&ts);

	/* more durations than lists: the rest go to the heap, order still holds */
	struct txn_timer many[TXN_TIMER_LISTS + 4];
	memset(many, 0, sizeof(many));
	for (unsigned i = 0; i < TXN_TIMER_LISTS + 4; i++)
		assert_int_equal(txn_timers_start(&ts, &many[i], 0, 1000 - 10 * i), 0);
	assert_int_equal(ts.nlists, TXN_TIMER_LISTS);
	assert_int_equal(ts.heap.n, 4);
	uint64_t last = 0;
	unsigned n = 0;
	while ((top = txn_timers_first(&ts))) {
		assert_true(top->due_ms >= last);
		last = top->due_ms;
		txn_timers_stop(&ts, top);
		n++;
	}
	assert_int_equal(n, TXN_TIMER_LISTS + 4);
	txn_timers_fini(&ts);
}

/* A timer fires once due, on any wake-up; the worker sleeps only until the
 * first timer is due plus its duration's slack (1/64), heap timers none. */
static void test_timer_slack(void **state)
{
	(void)state;
	struct txn_layer *tl;
	struct txn_timer a, b, h;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&h, 0, sizeof(h));
	a.fn = b.fn = h.fn = on_fire;
	assert_int_equal(txn_layer_new(&tl, NULL, NULL), 0);
	assert_int_equal(txn_layer_run(tl, 1000), -1);
	assert_true(txn_timers_wake(&tl->timers) == UINT64_MAX);
	/* 64*T1 due at 33000 may wait 500 ms */
	assert_int_equal(txn_timers_start(&tl->timers, &a, 1000, 32000), 0);
	assert_int_equal(txn_layer_run(tl, 1000), 32500);
	/* T4 due at 33000 too, 78 ms: the earlier deadline wins */
	assert_int_equal(txn_timers_start(&tl->timers, &b, 28000, 5000), 0);
	assert_true(txn_timers_wake(&tl->timers) == 33078);
	nfired = 0;
	assert_int_equal(txn_layer_run(tl, 32999), 79);
	assert_int_equal(nfired, 0);
	/* due: both fire now, before the deadline */
	assert_int_equal(txn_layer_run(tl, 33001), -1);
	assert_int_equal(nfired, 2);
	assert_int_equal(fired[0], 33000);
	assert_int_equal(fired[1], 33000);
	/* a timer armed out of order goes to the heap and gets no slack */
	assert_int_equal(txn_timers_start(&tl->timers, &b, 40000, 5000), 0);
	assert_int_equal(txn_timers_start(&tl->timers, &h, 39000, 5000), 0);
	assert_int_equal(tl->timers.heap.n, 1);
	assert_int_equal(txn_layer_run(tl, 43000), 1000);
	assert_int_equal(txn_layer_run(tl, 44000), 1078);
	assert_int_equal(nfired, 3);
	assert_int_equal(fired[2], 44000);
	assert_int_equal(txn_layer_run(tl, 45078), -1);
	assert_int_equal(nfired, 4);
	txn_layer_free(tl);
}

static void test_tables_grow(void **state)
{
	(void)state;
	struct txn_layer *tl;
	enum { N = 20000 };
	static struct txn_server *srv[N];
	static struct txn_client *cli[N];

	assert_int_equal(txn_layer_new(&tl, NULL, NULL), 0);
	assert_int_equal(tl->servers.nb, TXN_BUCKETS_MIN);
	for (unsigned i = 0; i < N; i++) {
		char key[32];
		int n = snprintf(key, sizeof(key), "INVITE|z9hG4bK%u|h:5060", i);
		srv[i] = calloc(1, sizeof(*srv[i]) + (size_t)n);
		assert_non_null(srv[i]);
		memcpy(srv[i]->key, key, (size_t)n);
		srv[i]->key_len = (uint16_t)n;
		srv[i]->link.hash = txn_key_hash(tl, key, (size_t)n);
		srv[i]->tl = tl;
		txn_server_link(tl, srv[i]);
		cli[i] = calloc(1, sizeof(*cli[i]));
		assert_non_null(cli[i]);
		snprintf(cli[i]->branch, sizeof(cli[i]->branch), "z9hG4bKsw0x%x", i);
		cli[i]->method = SIP_INVITE;
		cli[i]->tl = tl;
		txn_client_link(tl, cli[i]);
	}
	/* at most two per bucket on average: 20,000 entries need 16,384 buckets */
	assert_int_equal(tl->servers.nb, 16384);
	assert_int_equal(tl->clients.nb, 16384);
	for (unsigned i = 0; i < N; i++) {
		assert_ptr_equal(txn_server_find(tl, srv[i]->key, srv[i]->key_len), srv[i]);
		assert_ptr_equal(txn_client_find(tl, slice_cstr(cli[i]->branch), SIP_INVITE), cli[i]);
		assert_null(txn_client_find(tl, slice_cstr(cli[i]->branch), SIP_BYE));
	}
	for (unsigned i = 0; i < N; i++) {
		txn_server_unlink(tl, srv[i]);
		txn_client_unlink(tl, cli[i]);
		assert_null(txn_server_find(tl, srv[i]->key, srv[i]->key_len));
		free(srv[i]);
		free(cli[i]);
	}
	unsigned ns, nc;
	txn_layer_counts(tl, &ns, &nc);
	assert_int_equal(ns + nc, 0);
	txn_layer_free(tl);
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
		cmocka_unit_test(test_timer_lists),
		cmocka_unit_test(test_timer_slack),
		cmocka_unit_test(test_tables_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
