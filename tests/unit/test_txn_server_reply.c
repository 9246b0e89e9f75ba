/* Local responses of server transactions: built from the request the caller
 * already parsed (txn_server_reply_to) they are byte for byte the ones built
 * from a re-parse of the stored copy (txn_server_reply); another message is
 * never used in place of the transaction's own request. txn_server_take:
 * a new request gets a transaction, its retransmission the last response.
 * Replies go over a loopback UDP socket pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "txn/txn_int.h"
#include "txn_rig.h"

static const struct txn_ops no_ops = { 0 };

static struct sip_msg *parse(char *buf, size_t cap, struct sip_msg *m, const char *method, const char *call_id)
{
	struct sip_parse_err err;
	int n = snprintf(buf, cap,
			 "%s sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-%s;rport\r\n"
			 "From: <sip:a@example.com>;tag=f1\r\nTo: <sip:bob@example.com>\r\nCall-ID: %s\r\n"
			 "CSeq: 7 %s\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			 method, call_id, call_id, method);
	assert_int_equal(sip_msg_parse(m, buf, (size_t)n, &err), 0);
	return m;
}

static void test_trying_is_built_from_the_request(void **state)
{
	(void)state;
	static char buf[2048], want_buf[4096], got[4096];
	static struct sip_msg m;
	struct txn_layer *tl;
	struct txn_server *st;
	struct rig r;
	struct sip_buf want;
	struct sip_src s;

	rig_open(&r);
	assert_int_equal(txn_layer_new(&tl, NULL, &no_ops), 0);
	parse(buf, sizeof(buf), &m, "INVITE", "trying-1");
	assert_int_equal(txn_server_new(&st, tl, &m, &r.src, NULL), 0);
	/* nothing until the proxy is about to wait on someone */
	assert_int_equal(rig_try_recv(&r, got, sizeof(got)), 0);
	assert_int_equal(txn_server_trying(st, &m), 0);
	size_t n = rig_recv(&r, got, sizeof(got));

	tp_addr_text(&r.src.peer, s.ip, sizeof(s.ip), &s.port);
	sip_buf_init(&want, want_buf, sizeof(want_buf));
	assert_int_equal(sip_reply_build(&want, &m, 100, "Trying", NULL, &s, NULL), 0);
	assert_int_equal(n, want.len);
	assert_memory_equal(got, want.p, n);
	assert_true(txn_server_is_request(st, &m));
	/* once only */
	assert_int_equal(txn_server_trying(st, &m), 0);
	assert_int_equal(rig_try_recv(&r, got, sizeof(got)), 0);
	txn_layer_free(tl);
	rig_close(&r);
}

/* The same 407 from the parsed request and from the stored copy. */
static void test_reply_to_equals_reply(void **state)
{
	(void)state;
	static char b1[2048], b2[2048], got1[4096], got2[4096];
	static struct sip_msg m1, m2;
	struct txn_layer *tl1, *tl2;
	struct txn_server *st1, *st2;
	struct rig r;
	const char *extra = "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"abc\"\r\n";

	rig_open(&r);
	assert_int_equal(txn_layer_new(&tl1, NULL, &no_ops), 0);
	assert_int_equal(txn_layer_new(&tl2, NULL, &no_ops), 0);
	parse(b1, sizeof(b1), &m1, "MESSAGE", "same-1");
	parse(b2, sizeof(b2), &m2, "MESSAGE", "same-1");
	assert_int_equal(txn_server_new(&st1, tl1, &m1, &r.src, NULL), 0);
	assert_int_equal(txn_server_new(&st2, tl2, &m2, &r.src, NULL), 0);
	assert_int_equal(txn_server_reply_to(st1, &m1, 407, "Proxy Authentication Required", "t1", extra), 0);
	size_t n1 = rig_recv(&r, got1, sizeof(got1));
	assert_int_equal(txn_server_reply(st2, 407, "Proxy Authentication Required", "t1", extra), 0);
	size_t n2 = rig_recv(&r, got2, sizeof(got2));
	assert_int_equal(n1, n2);
	assert_memory_equal(got1, got2, n1);
	assert_non_null(strstr(got1, "tag=t1"));
	assert_non_null(strstr(got1, "Proxy-Authenticate: Digest"));

	/* After the final response: no copy kept, nothing more sent. */
	assert_false(txn_server_is_request(st1, &m1));
	assert_int_equal(txn_server_reply_to(st1, &m1, 500, "Server Internal Error", "t1", NULL), -EALREADY);
	txn_layer_free(tl1);
	txn_layer_free(tl2);
	rig_close(&r);
}

/* Another request is never answered in place of the transaction's own. */
static void test_other_request_is_not_used(void **state)
{
	(void)state;
	static char b1[2048], b2[2048], got[4096];
	static struct sip_msg own, other;
	struct txn_layer *tl;
	struct txn_server *st;
	struct rig r;

	rig_open(&r);
	assert_int_equal(txn_layer_new(&tl, NULL, &no_ops), 0);
	parse(b1, sizeof(b1), &own, "OPTIONS", "own-1");
	parse(b2, sizeof(b2), &other, "OPTIONS", "other-22");
	assert_int_equal(txn_server_new(&st, tl, &own, &r.src, NULL), 0);
	assert_true(txn_server_is_request(st, &own));
	assert_false(txn_server_is_request(st, &other));
	assert_int_equal(txn_server_reply_to(st, &other, 404, "Not Found", "t2", NULL), 0);
	rig_recv(&r, got, sizeof(got));
	assert_non_null(strstr(got, "Call-ID: own-1\r\n"));
	assert_null(strstr(got, "other-22"));
	txn_layer_free(tl);
	rig_close(&r);
}

static void test_take_new_then_absorbed(void **state)
{
	(void)state;
	static char buf[2048], ack_buf[2048], first[4096], again[4096];
	static struct sip_msg m, ack;
	struct txn_layer *tl;
	struct txn_server *st = NULL, *st2 = NULL;
	unsigned servers, clients;
	struct rig r;

	rig_open(&r);
	assert_int_equal(txn_layer_new(&tl, NULL, &no_ops), 0);
	parse(buf, sizeof(buf), &m, "INVITE", "take-1");
	assert_int_equal(txn_server_take(&st, tl, &m, &r.src, NULL), 0);
	assert_non_null(st);
	assert_int_equal(txn_layer_pending(tl), 1);
	assert_int_equal(txn_server_trying(st, &m), 0);
	size_t n1 = rig_recv(&r, first, sizeof(first));
	assert_non_null(strstr(first, "SIP/2.0 100 Trying\r\n"));

	/* the retransmission: absorbed, the 100 again, no second transaction */
	assert_int_equal(txn_server_take(&st2, tl, &m, &r.src, NULL), 1);
	assert_null(st2);
	size_t n2 = rig_recv(&r, again, sizeof(again));
	assert_int_equal(n1, n2);
	assert_memory_equal(first, again, n1);
	txn_layer_counts(tl, &servers, &clients);
	assert_int_equal(servers, 1);
	assert_int_equal(txn_layer_pending(tl), 1);

	/* ACK never gets a server transaction of its own */
	parse(ack_buf, sizeof(ack_buf), &ack, "ACK", "take-1");
	assert_int_equal(txn_server_take(&st2, tl, &ack, &r.src, NULL), -EINVAL);
	txn_layer_free(tl);
	rig_close(&r);
}

/* A transaction answered without itself (txn_reply_stateless) is
 * forgotten at once: nothing counted or pending, and a resend of its
 * request opens a new one instead of being absorbed. A non-INVITE never
 * gets a 100. */
static void test_discard_forgets(void **state)
{
	(void)state;
	static char buf[2048], got[4096], obuf[2048];
	static struct sip_msg m, o;
	struct txn_layer *tl;
	struct txn_server *st = NULL, *st2 = NULL;
	unsigned servers, clients;
	struct rig r;

	rig_open(&r);
	assert_int_equal(txn_layer_new(&tl, NULL, &no_ops), 0);
	parse(buf, sizeof(buf), &m, "INVITE", "discard-1");
	assert_int_equal(txn_server_take(&st, tl, &m, &r.src, NULL), 0);
	assert_int_equal(txn_reply_stateless(tl, &r.src, &m, 404, "Not Found", "t9", NULL), 0);
	assert_non_null(strstr((rig_recv(&r, got, sizeof(got)), got), "SIP/2.0 404 Not Found\r\n"));
	txn_server_discard(st);
	txn_layer_counts(tl, &servers, &clients);
	assert_int_equal(servers, 0);
	assert_int_equal(txn_layer_pending(tl), 0);
	assert_int_equal(txn_server_take(&st2, tl, &m, &r.src, NULL), 0);
	assert_non_null(st2);
	assert_int_equal(rig_try_recv(&r, got, sizeof(got)), 0); /* no 100, nothing absorbed */

	parse(obuf, sizeof(obuf), &o, "OPTIONS", "discard-2");
	assert_int_equal(txn_server_take(&st, tl, &o, &r.src, NULL), 0);
	assert_int_equal(txn_server_trying(st, &o), 0);
	assert_int_equal(rig_try_recv(&r, got, sizeof(got)), 0);
	txn_layer_free(tl);
	rig_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trying_is_built_from_the_request),
		cmocka_unit_test(test_reply_to_equals_reply),
		cmocka_unit_test(test_other_request_is_not_used),
		cmocka_unit_test(test_take_new_then_absorbed),
		cmocka_unit_test(test_discard_forgets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
