/* Digest header parsing: credentials (RFC 2617 §3.2.2, RFC 7616 §3.4),
 * challenges (RFC 2617 §3.2.1, RFC 7616 §3.3) and the auth-param iterator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

static bool eq(struct slice s, const char *c)
{
	return slice_eq_cstr(s, c);
}

static char *copy;

static struct slice heap(const char *s)
{
	size_t n = strlen(s);

	free(copy);
	copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, s, n);
	return slice_from(copy, n);
}

static int teardown(void **state)
{
	(void)state;
	free(copy);
	copy = NULL;
	return 0;
}

/* RFC 2617 §3.5, folded as it arrives after unfolding (spaces). */
#define RFC2617_CRED                                                                              \
	"Digest username=\"Mufasa\",\r\n                 realm=\"testrealm@host.com\",\r\n"         \
	"                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n"                        \
	"                 uri=\"/dir/index.html\",\r\n                 qop=auth,\r\n"               \
	"                 nc=00000001,\r\n                 cnonce=\"0a4f113b\",\r\n"                \
	"                 response=\"6629fae49393a05397450978507c4ef1\",\r\n"                       \
	"                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""

static void test_cred_rfc2617(void **state)
{
	struct sip_digest_cred c;

	(void)state;
	assert_int_equal(sip_digest_cred_parse(&c, heap(RFC2617_CRED)), 0);
	assert_true(eq(c.username, "Mufasa"));
	assert_true(eq(c.realm, "testrealm@host.com"));
	assert_true(eq(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093"));
	assert_true(eq(c.uri, "/dir/index.html"));
	assert_true(eq(c.qop, "auth"));
	assert_true(eq(c.nc, "00000001"));
	assert_true(eq(c.cnonce, "0a4f113b"));
	assert_true(eq(c.response, "6629fae49393a05397450978507c4ef1"));
	assert_true(eq(c.opaque, "5ccc069c403ebaf9f0171e9517f40e41"));
	assert_int_equal(c.algorithm.len, 0);
	assert_false(c.userhash_true);
}

static void test_cred_variants(void **state)
{
	struct sip_digest_cred c;

	(void)state;
	/* scheme and names case-insensitive, any order, unknown params ignored */
	assert_int_equal(sip_digest_cred_parse(&c, heap("  dIgEsT RESPONSE=\"r\" , Uri=\"sip:a@b\","
		"x-ext=\"1,2\",nonce=n1,Realm=\"r1\",algorithm=SHA-256,username=\"u\"")), 0);
	assert_true(eq(c.response, "r"));
	assert_true(eq(c.uri, "sip:a@b"));
	assert_true(eq(c.nonce, "n1"));
	assert_true(eq(c.algorithm, "SHA-256"));
	/* backslash escapes are returned raw */
	assert_int_equal(sip_digest_cred_parse(&c, heap("Digest username=\"a\\\"b\\\\c\", realm=\"r\", "
							 "nonce=\"n\", uri=\"sip:x\", response=\"d\"")), 0);
	assert_true(eq(c.username, "a\\\"b\\\\c"));
	/* RFC 7616 §3.4.4 userhash */
	assert_int_equal(sip_digest_cred_parse(&c, heap("Digest username=\"488869477bf257147b804c45308cd62"
		"ac4e25eb717b12b298c79e62dcea254ec\", realm=\"api@example.org\", uri=\"/doe.json\", "
		"algorithm=SHA-512-256, nonce=\"5TsQW\", nc=00000001, cnonce=\"NTg6RKc\", qop=auth, "
		"response=\"ae66\", opaque=\"HRPC\", userhash=true")), 0);
	assert_true(c.userhash_true);
	assert_true(eq(c.userhash, "true"));
	/* empty values are syntax the verifier must judge, not the parser */
	assert_int_equal(sip_digest_cred_parse(&c, heap("Digest username=\"\", realm=\"\", nonce=\"\", "
							 "uri=\"\", response=\"\"")), 0);
	/* empty list elements are allowed by the #rule */
	assert_int_equal(sip_digest_cred_parse(&c, heap("Digest ,username=u,, realm=r ,nonce=n,uri=x,"
							 "response=y,")), 0);
}

static void test_cred_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"Digest",
		"Digest ",
		"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
		"NoOneKnowsThisScheme opaque-data=here",
		"Digestusername=\"u\", realm=r, nonce=n, uri=x, response=y",
		"Digest username=\"u\", username=\"v\", realm=r, nonce=n, uri=x, response=y",
		"Digest username=\"u\", realm=r, REALM=r, nonce=n, uri=x, response=y",
		"Digest username=\"u\", realm=r, nonce=n, uri=x, response=y, qop=auth, qop=auth",
		"Digest realm=r, nonce=n, uri=x, response=y",
		"Digest username=u, realm=r, nonce=n, uri=x",
		"Digest username=u, realm=r, uri=x, response=y",
		"Digest username=\"u, realm=r, nonce=n, uri=x, response=y",
		"Digest username u, realm=r, nonce=n, uri=x, response=y",
		"Digest username=, realm=r, nonce=n, uri=x, response=y",
		"Digest username=u realm=r, nonce=n, uri=x, response=y",
		"Digest =u, realm=r, nonce=n, uri=x, response=y",
		"Digest username=\"u\"x, realm=r, nonce=n, uri=x, response=y",
		"Digest username=\"u\\",
	};
	struct sip_digest_cred c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sip_digest_cred_parse(&c, heap(bad[i])) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
}

static void test_chal(void **state)
{
	struct sip_digest_chal ch;

	(void)state;
	assert_int_equal(sip_digest_chal_parse(&ch, heap("Digest\r\n    realm=\"testrealm@host.com\",\r\n"
		"                 qop=\"auth,auth-int\",\r\n"
		"                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n"
		"                 opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"")), 0);
	assert_true(eq(ch.realm, "testrealm@host.com"));
	assert_true(eq(ch.qop, "auth,auth-int"));
	assert_true(eq(ch.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093"));
	assert_true(eq(ch.opaque, "5ccc069c403ebaf9f0171e9517f40e41"));
	assert_false(ch.stale);
	assert_false(ch.userhash);

	assert_int_equal(sip_digest_chal_parse(&ch, heap("Digest realm=\"http-auth@example.org\", "
		"qop=\"auth, auth-int\", algorithm=SHA-256, nonce=\"7ypf\", opaque=\"FQhe\", stale=TRUE, "
		"userhash=true, charset=UTF-8, domain=\"sip:a.example.com sip:b.example.com\"")), 0);
	assert_true(ch.stale);
	assert_true(ch.userhash);
	assert_true(eq(ch.algorithm, "SHA-256"));
	assert_true(eq(ch.qop, "auth, auth-int"));
	assert_true(eq(ch.charset, "UTF-8"));
	assert_true(eq(ch.domain, "sip:a.example.com sip:b.example.com"));

	assert_int_equal(sip_digest_chal_parse(&ch, heap("Digest realm=r, nonce=n, stale=true")), 0);
	assert_true(ch.stale);
	assert_int_equal(sip_digest_chal_parse(&ch, heap("Digest realm=r, nonce=n, stale=false")), 0);
	assert_false(ch.stale);
	assert_int_equal(sip_digest_chal_parse(&ch, heap("Digest realm=r, nonce=n, stale=\"maybe\"")), 0);
	assert_false(ch.stale);

	static const char *const bad[] = {
		"Digest realm=r", "Digest nonce=n", "Basic realm=r, nonce=n",
		"Digest realm=r, nonce=n, nonce=m",
		"Digest realm=r, nonce=n, stale=true, stale=false", "Digest realm=\"r, nonce=n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sip_digest_chal_parse(&ch, heap(bad[i])) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
}

static void test_param_iter(void **state)
{
	struct slice cur = heap(" a=1 ,b = \"x,\\\"y\" ,, c=tok/en  ,");
	struct slice n, v;

	(void)state;
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), 1);
	assert_true(eq(n, "a"));
	assert_true(eq(v, "1"));
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), 1);
	assert_true(eq(n, "b"));
	assert_true(eq(v, "x,\\\"y"));
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), 1);
	assert_true(eq(n, "c"));
	assert_true(eq(v, "tok/en"));
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), 0);
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), 0);

	cur = heap("a=\"\"");
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), 1);
	assert_int_equal(v.len, 0);
	assert_non_null(v.p);

	cur = heap("a=1 b=2");
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), -EINVAL);
	cur = heap("a");
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), -EINVAL);
	cur = heap("a=");
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), -EINVAL);
	cur = heap("\"a\"=1");
	assert_int_equal(sip_auth_param_next(&cur, &n, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_cred_rfc2617, teardown),
		cmocka_unit_test_teardown(test_cred_variants, teardown),
		cmocka_unit_test_teardown(test_cred_bad, teardown),
		cmocka_unit_test_teardown(test_chal, teardown),
		cmocka_unit_test_teardown(test_param_iter, teardown),
	};

	return cmocka_run_group_tests_name("sip_auth_hdr", tests, NULL, NULL);
}
