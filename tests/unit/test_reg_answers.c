/* REGISTER answers kept for retransmissions (registrar/answers.c): a 200 is
 * kept without its Contact lines and comes back with the AOR's bindings as
 * they are then, everything else byte for byte; other answers come back as
 * sent; answers too long even without their contacts are not kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "registrar/reg_int.h"
#include "txn/txn.h"

#define NOW_S 1700000000u

static char reqbuf[4096], hdrmem[4096], ansmem[8192], again[8192];

/* Parse a REGISTER for alice with one Contact, Call-ID callid, CSeq 1. */
static void parse_register(struct sip_msg *msg, const char *contact, const char *callid, const char *to_display)
{
	struct sip_parse_err perr;
	int n = snprintf(reqbuf, sizeof(reqbuf),
			 "REGISTER sip:example.com SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK%s\r\n"
			 "From: <sip:alice@example.com>;tag=f1\r\n"
			 "To: %s<sip:alice@example.com>\r\n"
			 "Call-ID: %s\r\n"
			 "CSeq: 1 REGISTER\r\n"
			 "Contact: <%s>;expires=600\r\n"
			 "Content-Length: 0\r\n\r\n",
			 callid, to_display, callid, contact);
	assert_int_equal(sip_msg_parse(msg, reqbuf, (size_t)n, &perr), 0);
}

/* The registrar's 200 for msg, built as the daemon builds it; its length. */
static size_t save_and_answer(struct registrar *r, const struct sip_msg *msg, struct registrar_reply *rep)
{
	struct registrar_req req = { .msg = msg, .received = "udp:10.0.0.1:5060", .now_s = NOW_S };
	struct sip_src src = { .ip = "10.0.0.1", .port = 5060 };
	struct sip_buf out;

	memset(rep, 0, sizeof(*rep));
	sip_buf_init(&rep->hdrs, hdrmem, sizeof(hdrmem));
	registrar_save(r, &req, slice_cstr("alice@example.com"), rep);
	assert_int_equal(rep->code, 200);
	sip_buf_put(&rep->hdrs, "", 1);
	sip_buf_init(&out, ansmem, sizeof(ansmem));
	assert_int_equal(sip_reply_build(&out, msg, 200, "OK", "t1", &src, rep->hdrs.p), 0);
	return out.len;
}

static void test_kept_200_lists_bindings_afresh(void **state)
{
	struct registrar_cfg cfg = { .min_expires = 60, .max_expires = 3600, .default_expires = 600 };
	struct registrar *r;
	struct txn_reply_cache *c;
	struct registrar_reply rep;
	static struct sip_msg msg;
	/* A To display name that carries a Contact line's text stays whole: the
	 * cut is made where the registrar listed the contacts. */
	const char *lookalike = "\"Contact: <sip:a1@10.0.0.1>;expires=600\" ";

	(void)state;
	assert_int_equal(registrar_new(&r, &cfg), 0);
	assert_int_equal(txn_reply_cache_new(&c), 0);
	parse_register(&msg, "sip:a1@10.0.0.1", "call-1", lookalike);
	size_t len = save_and_answer(r, &msg, &rep);
	assert_true(rep.contacts_len > 0);
	assert_int_equal(rep.aor_len, strlen("alice@example.com"));
	registrar_answer_keep(c, 42, 1000, ansmem, len, &rep);

	/* unchanged bindings, same second: the very same bytes */
	size_t n = registrar_answer_again(r, c, 42, 1001, NOW_S, again, sizeof(again));
	assert_int_equal(n, len);
	assert_memory_equal(again, ansmem, len);
	assert_int_equal(registrar_answer_again(r, c, 43, 1001, NOW_S, again, sizeof(again)), 0);

	/* a second phone registers: the resend lists both, the rest unchanged */
	char first[8192];
	memcpy(first, ansmem, len);
	static struct sip_msg msg2;
	parse_register(&msg2, "sip:a2@10.0.0.2", "call-2", "");
	save_and_answer(r, &msg2, &rep);
	n = registrar_answer_again(r, c, 42, 1002, NOW_S + 10, again, sizeof(again));
	assert_true(n > len);
	again[n] = '\0';
	assert_non_null(strstr(again, "Contact: <sip:a1@10.0.0.1>;expires=590\r\n"));
	assert_non_null(strstr(again, "Contact: <sip:a2@10.0.0.2>;expires=590\r\n"));
	assert_non_null(strstr(again, lookalike)); /* the To header kept whole */
	const char *at = strstr(first, "\r\nContact: <sip:a1@10.0.0.1>;expires=600\r\n");
	assert_non_null(at);
	size_t head = (size_t)(at - first) + 2;
	assert_memory_equal(again, first, head);
	const char *tail = strstr(first + head, "Server: ");
	assert_non_null(tail);
	assert_memory_equal(again + n - strlen(tail), tail, strlen(tail));

	/* a short verbatim answer (no registrar reply) comes back as sent */
	registrar_answer_keep(c, 44, 1003, "SIP/2.0 403 Forbidden\r\n\r\n", 25, NULL);
	n = registrar_answer_again(r, c, 44, 1003, NOW_S, again, sizeof(again));
	assert_int_equal(n, 25);
	assert_memory_equal(again, "SIP/2.0 403 Forbidden\r\n\r\n", 25);

	/* too long even without contacts: not kept */
	static char big[TXN_REPLY_CACHE_MAX + 1];
	memset(big, 'x', sizeof(big));
	registrar_answer_keep(c, 45, 1004, big, sizeof(big), NULL);
	assert_int_equal(registrar_answer_again(r, c, 45, 1004, NOW_S, again, sizeof(again)), 0);
	registrar_answer_keep(c, 46, 1004, big, TXN_REPLY_CACHE_MAX, NULL);
	assert_int_equal(registrar_answer_again(r, c, 46, 1004, NOW_S, again, sizeof(again)), TXN_REPLY_CACHE_MAX);

	/* an output buffer too small: nothing rather than a cut answer */
	assert_int_equal(registrar_answer_again(r, c, 42, 1005, NOW_S, again, 100), 0);

	txn_reply_cache_free(c);
	registrar_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept_200_lists_bindings_afresh),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
