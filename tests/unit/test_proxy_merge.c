/* Challenges merged across forked branches (RFC 3261 §16.7 step 7): every
 * WWW-Authenticate / Proxy-Authenticate of every 401/407 ends up, unmodified
 * and once each, in the 401/407 sent upstream; other responses add nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy_int.h"

static char in[2048], scratch[8192];
static struct sip_msg msg;

static void parse(const char *text)
{
	struct sip_parse_err err;
	size_t n = strlen(text);
	memcpy(in, text, n);
	assert_int_equal(sip_msg_parse(&msg, in, n, &err), 0);
}

static void keep_best(struct proxy_call *c, const char *text, int code)
{
	free(c->best);
	c->best_len = strlen(text);
	c->best = malloc(c->best_len);
	memcpy(c->best, text, c->best_len);
	c->best_code = code;
}

#define R401(realm)                                                                               \
	"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n"                   \
	"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\n"           \
	"WWW-Authenticate: Digest realm=\"" realm "\", nonce=\"n\", algorithm=MD5\r\n"               \
	"Content-Length: 0\r\n\r\n"

static void test_two_realms_merged(void **state)
{
	(void)state;
	struct proxy_call c;
	memset(&c, 0, sizeof(c));
	parse(R401("one.test"));
	assert_int_equal(proxy_merge_collect(&c, &msg), 0);
	keep_best(&c, R401("one.test"), 401);
	parse("SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\nFrom: <sip:a@x>;tag=1\r\n"
	      "To: <sip:b@x>;tag=3\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\nWWW-Authenticate: Digest realm=\"no\"\r\n\r\n");
	assert_int_equal(proxy_merge_collect(&c, &msg), 0); /* not a 401/407: ignored */
	parse("SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n"
	      "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=4\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\n"
	      "Proxy-Authenticate: Digest realm=\"two.test\", nonce=\"m\"\r\n"
	      "Proxy-Authenticate: Digest realm=\"two.test\", nonce=\"m2\", algorithm=SHA-256\r\n\r\n");
	assert_int_equal(proxy_merge_collect(&c, &msg), 0);
	assert_int_equal(proxy_merge_apply(&c, scratch, sizeof(scratch)), 0);

	assert_true(c.best_len < sizeof(scratch));
	memcpy(scratch, c.best, c.best_len);
	scratch[c.best_len] = '\0';
	parse(scratch);
	assert_int_equal(msg.status, 401);
	int www = 0, prx = 0;
	for (unsigned i = 0; i < msg.nhdrs; i++) {
		www += msg.hdrs[i].id == SIP_HDR_WWW_AUTHENTICATE;
		prx += msg.hdrs[i].id == SIP_HDR_PROXY_AUTHENTICATE;
	}
	assert_int_equal(www, 1); /* the best's own challenge, once */
	assert_int_equal(prx, 2);
	assert_non_null(strstr(scratch, "WWW-Authenticate: Digest realm=\"one.test\", nonce=\"n\", algorithm=MD5\r\n"));
	assert_non_null(strstr(scratch, "Proxy-Authenticate: Digest realm=\"two.test\", nonce=\"m2\", algorithm=SHA-256\r\n"));
	assert_null(strstr(scratch, "realm=\"no\""));
	assert_non_null(strstr(scratch, "Call-ID: c\r\n"));
	free(c.best);
	free(c.chal);
}

static void test_other_best_left_alone(void **state)
{
	(void)state;
	struct proxy_call c;
	memset(&c, 0, sizeof(c));
	parse(R401("one.test"));
	assert_int_equal(proxy_merge_collect(&c, &msg), 0);
	const char *busy = "SIP/2.0 600 Busy Everywhere\r\nCall-ID: c\r\n\r\n";
	keep_best(&c, busy, 600);
	assert_int_equal(proxy_merge_apply(&c, scratch, sizeof(scratch)), 0);
	assert_int_equal(c.best_len, strlen(busy));
	assert_memory_equal(c.best, busy, c.best_len);
	free(c.best);
	free(c.chal);
}

static void test_collection_is_bounded(void **state)
{
	(void)state;
	struct proxy_call c;
	memset(&c, 0, sizeof(c));
	parse(R401("one.test"));
	int err = 0;
	for (int i = 0; i < 1000 && !err; i++)
		err = proxy_merge_collect(&c, &msg);
	assert_int_equal(err, -ENOSPC);
	assert_true(c.chal_len <= SW_MAX_MERGED_CHALLENGES);
	free(c.chal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_realms_merged),
		cmocka_unit_test(test_other_best_left_alone),
		cmocka_unit_test(test_collection_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
