/* sip_addr_parse and sip_addr_list_next: name-addr and addr-spec forms
 * (RFC 3261 §20.10), header vs URI parameters, Contact lists and "*". */
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

/* An exact-size heap copy of s (freed by the next call or the teardown). */
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

static void test_name_addr(void **state)
{
	struct sip_addr a;

	(void)state;
	assert_int_equal(sip_addr_parse(&a, heap("\"Alice \\\"A\\\" Liddell\" "
						  "<sip:alice@example.com;transport=tcp>;tag=1928301774;x")),
			 0);
	assert_true(eq(a.display, "Alice \\\"A\\\" Liddell"));
	assert_true(eq(a.uri_str, "sip:alice@example.com;transport=tcp"));
	assert_true(eq(a.uri.params, ";transport=tcp"));
	assert_true(eq(a.params, ";tag=1928301774;x"));
	assert_true(eq(a.tag, "1928301774"));
	assert_false(a.star);

	assert_int_equal(sip_addr_parse(&a, heap("  Bob   Smith <sip:bob@example.com>  ")), 0);
	assert_true(eq(a.display, "Bob   Smith"));
	assert_int_equal(a.params.len, 0);
	assert_int_equal(a.tag.len, 0);

	/* no LWS between display name and '<' (RFC 4475 §3.1.1.6) */
	assert_int_equal(sip_addr_parse(&a, heap("caller<sip:caller@example.com>;tag=323")), 0);
	assert_true(eq(a.display, "caller"));
	assert_true(eq(a.tag, "323"));

	assert_int_equal(sip_addr_parse(&a, heap("<sip:x@y>")), 0);
	assert_int_equal(a.display.len, 0);
	assert_int_equal(sip_addr_parse(&a, heap("\"\"<sip:x@y>")), 0);
	assert_int_equal(a.display.len, 0);

	/* token display names with every token character (RFC 4475 §3.1.1.2) */
	assert_int_equal(sip_addr_parse(&a, heap("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;"
		"fromParam''~+*_!.-%=\"\xd1\x80\xd0\xb0\";tag=_token~1'+`*%!-.")),
			 0);
	assert_true(eq(a.display, "token1~` token2'+_ token3*%!.-"));
	assert_true(eq(a.tag, "_token~1'+`*%!-."));

	/* LWS around ';' and '=' in header params (RFC 4475 §3.1.1.1) */
	assert_int_equal(sip_addr_parse(&a, heap("\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; "
						  "newparam =  newvalue ;  secondparam ; q = 0.33")),
			 0);
	assert_true(eq(a.display, "Quoted string \\\"\\\""));
	struct slice v;
	assert_int_equal(sip_param_find(a.params, "q", &v), 0);
	assert_true(eq(v, "0.33"));
	assert_int_equal(sip_param_find(a.params, "secondparam", &v), 0);
	assert_int_equal(v.len, 0);

	/* URIs with other schemes are still addresses (RFC 4475 §3.3.4) */
	assert_int_equal(sip_addr_parse(&a, heap("<http://www.example.com>")), 0);
	assert_false(a.uri.is_sip);
	assert_int_equal(sip_addr_parse(&a, heap("isbn:2983792873")), 0);
	assert_true(eq(a.uri.scheme, "isbn"));
}

static void test_addr_spec(void **state)
{
	struct sip_addr a;

	(void)state;
	/* without <>, params after the URI belong to the header (RFC 3261 §20.10) */
	assert_int_equal(sip_addr_parse(&a, heap("sip:caller@example.net;tag=134161461246;lr")), 0);
	assert_true(eq(a.uri_str, "sip:caller@example.net"));
	assert_int_equal(a.uri.params.len, 0);
	assert_true(eq(a.params, ";tag=134161461246;lr"));
	assert_true(eq(a.tag, "134161461246"));
	assert_int_equal(a.display.len, 0);

	assert_int_equal(sip_addr_parse(&a, heap("sip:vivekg@chair-dnrc.example.com ;   "
						  "tag    = 1918181833n")), 0);
	assert_true(eq(a.uri_str, "sip:vivekg@chair-dnrc.example.com"));
	assert_true(eq(a.tag, "1918181833n"));

	assert_int_equal(sip_addr_parse(&a, heap("tel:+12125550101;tag=x")), 0);
	assert_true(eq(a.uri.user, "+12125550101"));
	assert_true(eq(a.tag, "x"));
}

static void test_star(void **state)
{
	struct sip_addr a;

	(void)state;
	assert_int_equal(sip_addr_parse(&a, heap(" * ")), 0);
	assert_true(a.star);
	assert_int_equal(sip_addr_parse(&a, heap("*;expires=0")), -EINVAL);
	assert_int_equal(sip_addr_parse(&a, heap("**")), -EINVAL);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"\"Mr. J. User <sip:j.user@example.com>",   /* unterminated quote (RFC 4475 §3.1.2.6) */
		"Bell, Alexander <sip:a.g.bell@example.com>", /* unquoted comma (§3.1.2.15) */
		"sip:user@example.com?Route=%3Csip:sip.example.com%3E", /* '?' needs <> (§3.1.2.13) */
		"< sip:t.watson@example.org >",             /* LWS inside <> (§3.1.2.14) */
		"\"Joe\" <sip:joe@example.org>;;;;",        /* empty params (§3.1.2.1) */
		"<sip:a@b",
		"<sip:a@b> junk",
		"<sip:a@b>;tag",
		"<sip:a@b>;tag=",
		"<sip:a@b>;tag=1;tag=2",
		"<sip:a@b>;tag=\"q\"",
		"<sip:a@b>;=x",
		"\"x\" sip:a@b",
		"\"x\"",
		"<>",
		"<not a uri>",
		"sip:a@b,sip:c@d",
		"<sip:a@<b>>",
		"name",
		"\"esc at end\\",
	};
	struct sip_addr a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (sip_addr_parse(&a, heap(bad[i])) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
}

static void test_list(void **state)
{
	struct slice cur = heap("\"Doe, John\" <sip:jd@h1;x=1>;expires=60, sip:a@h2 ;q=0.1,\r\n"
				"  <sip:b@h3?Subject=a%2Cb> ,<sip:c@h4>;+sip.instance=\"<urn:uuid:1,2>\"");
	struct sip_addr a;
	struct slice v;

	(void)state;
	assert_int_equal(sip_addr_list_next(&cur, &a), 1);
	assert_true(eq(a.display, "Doe, John"));
	assert_true(eq(a.uri.host, "h1"));
	assert_true(eq(a.params, ";expires=60"));
	assert_int_equal(sip_addr_list_next(&cur, &a), 1);
	assert_true(eq(a.uri_str, "sip:a@h2"));
	assert_int_equal(sip_param_find(a.params, "q", &v), 0);
	assert_true(eq(v, "0.1"));
	assert_int_equal(sip_addr_list_next(&cur, &a), 1);
	assert_true(eq(a.uri.headers, "Subject=a%2Cb"));
	assert_int_equal(sip_addr_list_next(&cur, &a), 1);
	assert_true(eq(a.uri.host, "h4"));
	assert_int_equal(sip_param_find(a.params, "+sip.instance", &v), 0);
	assert_true(eq(v, "\"<urn:uuid:1,2>\""));
	assert_int_equal(sip_addr_list_next(&cur, &a), 0);
	assert_int_equal(sip_addr_list_next(&cur, &a), 0);

	cur = heap("*");
	assert_int_equal(sip_addr_list_next(&cur, &a), 1);
	assert_true(a.star);
	assert_int_equal(sip_addr_list_next(&cur, &a), 0);

	cur = heap("   ");
	assert_int_equal(sip_addr_list_next(&cur, &a), 0);
}

static void test_list_malformed(void **state)
{
	static const char *const bad[] = {
		"<sip:a@b>,", "<sip:a@b>, ,<sip:c@d>", "<sip:a@b>,,<sip:c@d>", "<sip:a@b", "\"open <sip:a@b>",
		"<sip:a@b> x, <sip:c@d>",
	};
	struct sip_addr a;
	int rc;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct slice cur = heap(bad[i]);
		while ((rc = sip_addr_list_next(&cur, &a)) == 1)
			;
		if (rc != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_name_addr, teardown),
		cmocka_unit_test_teardown(test_addr_spec, teardown),
		cmocka_unit_test_teardown(test_star, teardown),
		cmocka_unit_test_teardown(test_malformed, teardown),
		cmocka_unit_test_teardown(test_list, teardown),
		cmocka_unit_test_teardown(test_list_malformed, teardown),
	};

	return cmocka_run_group_tests_name("sip_addr", tests, NULL, NULL);
}
