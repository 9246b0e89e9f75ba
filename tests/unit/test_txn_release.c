/* Transactions keep copies only while they can still be needed: a client
 * transaction drops its request copy at the final response (then only
 * absorbs retransmissions through timer D, K or M), and still answers a
 * retransmitted non-2xx final with the same ACK; a server INVITE transaction
 * drops its last response once the ACK confirmed it. Requests go over a
 * loopback UDP socket pair through a worker with one UDP socket. */
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

static size_t request(char *buf, size_t cap, const char *method, const char *branch)
{
	int n = snprintf(buf, cap,
			 "%s sip:bob@127.0.0.1 SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%s;rport\r\n"
			 "Max-Forwards: 70\r\n"
			 "From: <sip:alice@example.com>;tag=a1\r\n"
			 "To: <sip:bob@example.com>\r\n"
			 "Call-ID: release-%s@example.com\r\n"
			 "CSeq: 1 %s\r\n"
			 "Content-Type: application/sdp\r\n"
			 "Content-Length: 23\r\n\r\n"
			 "v=0\r\no=- 1 1 IN IP4 x\r\n",
			 method, branch, branch, method);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static void parse_response(struct sip_msg *m, char *buf, size_t cap, int code, const char *method,
			   const char *branch)
{
	struct sip_parse_err perr;
	int n = snprintf(buf, cap,
			 "SIP/2.0 %d Reason\r\n"
			 "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%s\r\n"
			 "From: <sip:alice@example.com>;tag=a1\r\n"
			 "To: <sip:bob@example.com>;tag=b2\r\n"
			 "Call-ID: release-%s@example.com\r\n"
			 "CSeq: 1 %s\r\n"
			 "Content-Length: 0\r\n\r\n",
			 code, branch, branch, method);
	assert_true(n > 0 && (size_t)n < cap);
	assert_int_equal(sip_msg_parse(m, buf, (size_t)n, &perr), 0);
}

/* Open the rig and a layer on it, and start a client transaction for method
 * with branch; the peer got the request. */
static struct txn_client *start_client(struct rig *r, struct txn_layer **tl, enum sip_method id,
				       const char *method, const char *branch)
{
	static char req[1024], got[2048];
	struct txn_client *ct = NULL;

	rig_open(r);
	assert_int_equal(txn_layer_new(tl, &r->w, &no_ops), 0);
	size_t n = request(req, sizeof(req), method, branch);
	assert_int_equal(txn_client_new(&ct, *tl, id, branch, &r->peer_addr, req, n, NULL), 0);
	assert_int_equal(rig_recv(r, got, sizeof(got)), n);
	assert_non_null(ct);
	return ct;
}

/* INVITE answered 200: Accepted, the request copy gone, 2xx retransmissions
 * still matched (they go up to the proxy until timer M). */
static void test_client_invite_2xx(void **state)
{
	(void)state;
	static char rsp[1024], got[2048];
	static struct sip_msg m;
	struct txn_layer *tl;
	unsigned servers, clients;
	struct rig r;
	struct txn_client *ct = start_client(&r, &tl, SIP_INVITE, "INVITE", "z9hG4bK-rel-1");

	assert_non_null(ct->req);
	assert_true(ct->req_len > 0);

	parse_response(&m, rsp, sizeof(rsp), 100, "INVITE", "z9hG4bK-rel-1");
	assert_true(txn_client_response(tl, &m));
	assert_non_null(ct->req); /* a CANCEL may still be built from it */

	parse_response(&m, rsp, sizeof(rsp), 200, "INVITE", "z9hG4bK-rel-1");
	assert_true(txn_client_response(tl, &m));
	assert_int_equal(ct->state, TXN_ACCEPTED);
	assert_null(ct->req);
	assert_int_equal(ct->req_len, 0);
	assert_int_equal(txn_client_cancel(ct), 0);
	assert_int_equal(rig_try_recv(&r, got, sizeof(got)), 0); /* no CANCEL, no ACK */
	assert_true(txn_client_response(tl, &m));            /* a retransmitted 200 */
	txn_layer_counts(tl, &servers, &clients);
	assert_int_equal(clients, 1);
	txn_layer_free(tl);
	rig_close(&r);
}

/* INVITE answered 486: the ACK is built before the copy goes, and a
 * retransmitted 486 gets the very same ACK again. */
static void test_client_invite_error(void **state)
{
	(void)state;
	static char rsp[1024], ack1[2048], ack2[2048];
	static struct sip_msg m;
	struct txn_layer *tl;
	struct rig r;
	struct txn_client *ct = start_client(&r, &tl, SIP_INVITE, "INVITE", "z9hG4bK-rel-2");

	parse_response(&m, rsp, sizeof(rsp), 486, "INVITE", "z9hG4bK-rel-2");
	assert_true(txn_client_response(tl, &m));
	assert_int_equal(ct->state, TXN_COMPLETED);
	assert_null(ct->req);
	size_t a1 = rig_recv(&r, ack1, sizeof(ack1));
	assert_true(a1 > 0);
	assert_non_null(strstr(ack1, "ACK sip:bob@127.0.0.1 SIP/2.0\r\n"));
	assert_non_null(strstr(ack1, "branch=z9hG4bK-rel-2"));
	assert_non_null(strstr(ack1, "To: <sip:bob@example.com>;tag=b2\r\n"));

	assert_true(txn_client_response(tl, &m));
	size_t a2 = rig_recv(&r, ack2, sizeof(ack2));
	assert_int_equal(a1, a2);
	assert_memory_equal(ack1, ack2, a1);
	txn_layer_free(tl);
	rig_close(&r);
}

/* A non-INVITE (BYE) answered 200: Completed (timer K), the copy gone. */
static void test_client_non_invite(void **state)
{
	(void)state;
	static char rsp[1024];
	static struct sip_msg m;
	struct txn_layer *tl;
	struct rig r;
	struct txn_client *ct = start_client(&r, &tl, SIP_BYE, "BYE", "z9hG4bK-rel-3");

	parse_response(&m, rsp, sizeof(rsp), 200, "BYE", "z9hG4bK-rel-3");
	assert_true(txn_client_response(tl, &m));
	assert_int_equal(ct->state, TXN_COMPLETED);
	assert_null(ct->req);
	assert_true(txn_client_response(tl, &m)); /* absorbed */
	txn_layer_free(tl);
	rig_close(&r);
}

/* Server INVITE: 407 kept and resent to a retransmitted INVITE while
 * Completed; after the ACK (Confirmed) it is gone and a late retransmission
 * is absorbed without an answer. */
static void test_server_confirmed(void **state)
{
	(void)state;
	static char req[1024], ack[1024], got[2048], again[2048];
	static struct sip_msg m, a;
	struct sip_parse_err perr;
	struct txn_server *st = NULL, *st2 = NULL;
	struct txn_layer *tl;
	struct rig r;

	rig_open(&r);
	assert_int_equal(txn_layer_new(&tl, &r.w, &no_ops), 0);
	size_t n = request(req, sizeof(req), "INVITE", "z9hG4bK-rel-4");
	assert_int_equal(sip_msg_parse(&m, req, n, &perr), 0);
	assert_int_equal(txn_server_take(&st, tl, &m, &r.src, NULL), 0);
	assert_int_equal(txn_server_trying(st, &m), 0);
	assert_true(rig_recv(&r, got, sizeof(got)) > 0);
	assert_non_null(strstr(got, "SIP/2.0 100 Trying\r\n"));
	assert_int_equal(txn_server_reply(st, 407, "Proxy Authentication Required", "t1", NULL), 0);
	size_t p1 = rig_recv(&r, got, sizeof(got));
	assert_non_null(strstr(got, "SIP/2.0 407 "));
	assert_non_null(st->last);

	assert_int_equal(txn_server_take(&st2, tl, &m, &r.src, NULL), 1); /* retransmission */
	size_t p2 = rig_recv(&r, again, sizeof(again));
	assert_int_equal(p1, p2);
	assert_memory_equal(got, again, p1);

	int an = snprintf(ack, sizeof(ack),
			  "ACK sip:bob@127.0.0.1 SIP/2.0\r\n"
			  "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-rel-4;rport\r\n"
			  "Max-Forwards: 70\r\n"
			  "From: <sip:alice@example.com>;tag=a1\r\n"
			  "To: <sip:bob@example.com>;tag=t1\r\n"
			  "Call-ID: release-z9hG4bK-rel-4@example.com\r\n"
			  "CSeq: 1 ACK\r\n"
			  "Content-Length: 0\r\n\r\n");
	assert_int_equal(sip_msg_parse(&a, ack, (size_t)an, &perr), 0);
	assert_true(txn_server_absorb(tl, &a));
	assert_int_equal(st->state, TXN_CONFIRMED);
	assert_null(st->last);
	assert_int_equal(st->last_len, 0);
	assert_int_equal(txn_server_take(&st2, tl, &m, &r.src, NULL), 1);
	assert_int_equal(rig_try_recv(&r, again, sizeof(again)), 0);
	txn_layer_free(tl);
	rig_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_invite_2xx),
		cmocka_unit_test(test_client_invite_error),
		cmocka_unit_test(test_client_non_invite),
		cmocka_unit_test(test_server_confirmed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
