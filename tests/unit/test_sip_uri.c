/* sip_uri_parse and sip_param_find: RFC 3261 §19.1 SIP/SIPS URIs, RFC 5118
 * IPv6 references, tel: and unknown schemes, and malformed input. */
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

/* Parse from an exact-size heap copy so an over-read shows under ASan. */
static int uparse(struct sip_uri *u, const char *s, char **keep)
{
	size_t n = strlen(s);
	char *b = malloc(n ? n : 1);

	assert_non_null(b);
	memcpy(b, s, n);
	*keep = b;
	return sip_uri_parse(u, slice_from(b, n));
}

static void test_full_sip(void **state)
{
	struct sip_uri u;
	char *b;

	(void)state;
	assert_int_equal(uparse(&u, "sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr"
				    "?subject=project%20x&priority=urgent", &b), 0);
	assert_true(u.is_sip);
	assert_true(u.is_sips);
	assert_true(eq(u.scheme, "sips"));
	assert_true(eq(u.user, "alice"));
	assert_true(eq(u.password, "secret"));
	assert_true(eq(u.host, "atlanta.example.com"));
	assert_true(eq(u.port_str, "5061"));
	assert_int_equal(u.port, 5061);
	assert_true(eq(u.params, ";transport=tcp;lr"));
	assert_true(eq(u.headers, "subject=project%20x&priority=urgent"));
	free(b);

	assert_int_equal(uparse(&u, "SIP:example.com", &b), 0);
	assert_true(u.is_sip);
	assert_false(u.is_sips);
	assert_int_equal(u.user.len, 0);
	assert_true(eq(u.host, "example.com"));
	assert_int_equal(u.port, 0);
	assert_int_equal(u.port_str.len, 0);
	assert_int_equal(u.params.len, 0);
	assert_int_equal(u.headers.len, 0);
	free(b);

	assert_int_equal(uparse(&u, "sip:192.0.2.4:65535", &b), 0);
	assert_int_equal(u.port, 65535);
	free(b);
}

static void test_escapes_and_odd_users(void **state)
{
	struct sip_uri u;
	char *b;

	(void)state;
	/* escapes stay as received (RFC 4475 §3.1.1.3, §3.1.1.4) */
	assert_int_equal(uparse(&u, "sip:sips%3Auser%40example.com@example.net", &b), 0);
	assert_true(eq(u.user, "sips%3Auser%40example.com"));
	assert_true(eq(u.host, "example.net"));
	free(b);
	assert_int_equal(uparse(&u, "sip:null-%00-null@example.com", &b), 0);
	assert_true(eq(u.user, "null-%00-null"));
	free(b);
	/* ';' in the user part (RFC 4475 §3.1.1.9) */
	assert_int_equal(uparse(&u, "sip:user;par=u%40example.net@example.com", &b), 0);
	assert_true(eq(u.user, "user;par=u%40example.net"));
	assert_true(eq(u.host, "example.com"));
	assert_int_equal(u.params.len, 0);
	free(b);
	/* RFC 4475 §3.1.1.2 */
	assert_int_equal(uparse(&u, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,"
				    "weird!*pas$wo~d_too.(doesn't-it)@example.com", &b), 0);
	assert_true(eq(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"));
	assert_true(eq(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
	assert_true(eq(u.host, "example.com"));
	free(b);
	/* escaped parameter names and values */
	assert_int_equal(uparse(&u, "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31", &b), 0);
	assert_true(eq(u.params, ";%6C%72;n%61me=v%61lue%25%34%31"));
	free(b);
	/* escaped headers in the URI are kept, not interpreted */
	assert_int_equal(uparse(&u, "sip:user@example.com?Route=%3Csip:sip.example.com%3E", &b), 0);
	assert_true(eq(u.headers, "Route=%3Csip:sip.example.com%3E"));
	free(b);
}

static void test_ipv6(void **state)
{
	static const struct {
		const char *uri, *host;
		unsigned port;
	} ok[] = {
		{ "sip:[2001:db8::10]", "[2001:db8::10]", 0 },
		{ "sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070 },
		{ "sip:user@[2001:db8::10:5070]", "[2001:db8::10:5070]", 0 },
		{ "sip:user@[::ffff:192.0.2.1];transport=udp", "[::ffff:192.0.2.1]", 0 },
		{ "sip:[::1]:1", "[::1]", 1 },
		{ "sips:[2001:DB8:0:0:0:0:0:1]:5061;maddr=[2001:db8::20]", "[2001:DB8:0:0:0:0:0:1]", 5061 },
	};
	static const char *const bad[] = {
		"sip:[2001:db8::10", "sip:[]", "sip:[1]", "sip:[2001:db8::g]", "sip:[::1]x",
		"sip:2001:db8::10", "sip:[::1]:", "sip:[::1]:70000",
	};
	struct sip_uri u;
	char *b;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(uparse(&u, ok[i].uri, &b), 0);
		assert_true(eq(u.host, ok[i].host));
		assert_int_equal(u.port, ok[i].port);
		free(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(uparse(&u, bad[i], &b), -EINVAL);
		free(b);
	}
}

static void test_other_schemes(void **state)
{
	struct sip_uri u;
	char *b;

	(void)state;
	assert_int_equal(uparse(&u, "tel:+1-201-555-0123;phone-context=example.com", &b), 0);
	assert_false(u.is_sip);
	assert_true(eq(u.scheme, "tel"));
	assert_true(eq(u.user, "+1-201-555-0123;phone-context=example.com"));
	assert_int_equal(u.host.len, 0);
	free(b);
	assert_int_equal(uparse(&u, "nobodyKnowsThisScheme:totallyopaquecontent", &b), 0);
	assert_true(eq(u.scheme, "nobodyKnowsThisScheme"));
	free(b);
	assert_int_equal(uparse(&u, "soap.beep://192.0.2.103:3002", &b), 0);
	assert_true(eq(u.scheme, "soap.beep"));
	assert_true(eq(u.user, "//192.0.2.103:3002"));
	free(b);
	assert_int_equal(uparse(&u, "http://www.example.com", &b), 0);
	free(b);
	assert_int_equal(uparse(&u, "isbn:2983792873", &b), 0);
	free(b);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"", ":", "sip", "sip:", "1sip:host", "<sip:host>", "sip:@host", "sip:user@", "sip:host:",
		"sip:host:65536", "sip:host:5x", "sip:ho st", "sip:host ", " sip:host", "sip:host;;lr",
		"sip:host;", "sip:host;=x", "sip:host;a=", "sip:host\r\n", "sip:host\"", "sip:host>",
		"sip:user@host@other", "sip:host/path", "tel:", "x y:z", "tel:12 34", "sip:h\x01",
		"sip:%host",
	};
	struct sip_uri u;
	char *b;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (uparse(&u, bad[i], &b) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		free(b);
	}
	assert_int_equal(sip_uri_parse(&u, SLICE_NULL), -EINVAL);
}

static void test_param_find(void **state)
{
	struct slice v;
	struct slice p = slice_cstr(";transport=TCP;lr;maddr=[2001:db8::1];Method=\"IN;VITE\" ; q = 0.5");

	(void)state;
	assert_int_equal(sip_param_find(p, "transport", &v), 0);
	assert_true(eq(v, "TCP"));
	assert_int_equal(sip_param_find(p, "LR", &v), 0);
	assert_int_equal(v.len, 0);
	assert_int_equal(sip_param_find(p, "maddr", &v), 0);
	assert_true(eq(v, "[2001:db8::1]"));
	assert_int_equal(sip_param_find(p, "method", &v), 0);
	assert_true(eq(v, "\"IN;VITE\""));
	assert_int_equal(sip_param_find(p, "q", &v), 0);
	assert_true(eq(v, "0.5"));
	assert_int_equal(sip_param_find(p, "q", NULL), 0);
	assert_int_equal(sip_param_find(p, "user", &v), -ENOENT);
	assert_int_equal(sip_param_find(p, "tr", &v), -ENOENT);
	assert_int_equal(sip_param_find(SLICE_NULL, "lr", &v), -ENOENT);
	/* a malformed list hides what follows the error */
	assert_int_equal(sip_param_find(slice_cstr(";a;;b"), "b", &v), -ENOENT);
	assert_int_equal(sip_param_find(slice_cstr(";a=\"open;b"), "b", &v), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_sip),	cmocka_unit_test(test_escapes_and_odd_users),
		cmocka_unit_test(test_ipv6),		cmocka_unit_test(test_other_schemes),
		cmocka_unit_test(test_malformed),	cmocka_unit_test(test_param_find),
	};

	return cmocka_run_group_tests_name("sip_uri", tests, NULL, NULL);
}
