/* Proxy pieces without the network: the forwarded request (RFC 3261 §16.6:
 * Via on top, Max-Forwards - 1, Record-Route, our Route entry popped, our
 * realm's Proxy-Authorization consumed, From rewritten with its tag), the
 * relayed response without our Via (§16.7), rpid parsing, trusted networks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy/proxy_int.h"

static char in[4096], out[8192];
static struct sip_msg msg;

static void parse(const char *text)
{
	struct sip_parse_err err;
	size_t n = strlen(text);
	memcpy(in, text, n);
	assert_int_equal(sip_msg_parse(&msg, in, n, &err), 0);
}

static void test_forwarded_request(void **state)
{
	(void)state;
	struct tp_listen l;
	struct sip_buf b;
	assert_int_equal(tp_listen_parse(&l, "udp:192.0.2.1:5060"), 0);
	parse("INVITE sip:bob@example.com SIP/2.0\r\n"
	      "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
	      "Route: <sip:192.0.2.1:5060;lr>, <sip:198.51.100.7;lr>\r\n"
	      "Max-Forwards: 10\r\n"
	      "From: \"Al\" <sip:alice@example.com>;tag=t1\r\n"
	      "To: <sip:bob@example.com>\r\nCall-ID: c@x\r\nCSeq: 2 INVITE\r\n"
	      "Proxy-Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:bob@example.com\", response=\"r\"\r\n"
	      "Proxy-Authorization: Digest username=\"al\", realm=\"other.net\", nonce=\"n\", uri=\"sip:x\", response=\"r\"\r\n"
	      "P-Asserted-Identity: <sip:forged@example.com>\r\n"
	      "Content-Length: 4\r\n\r\nbody");
	struct proxy_fwd f = {
		.ruri = slice_cstr("sip:bob@10.0.0.9:5070"),
		.branch = "z9hG4bKsw0x1",
		.via_lst = &l,
		.record_route = true,
		.pop_routes = 1,
		.consume_realm = "example.com",
		.from_value = "\"Anonymous\" <sip:anonymous@anonymous.invalid>",
		.strip_identity = true,
	};
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	out[b.len] = '\0';
	assert_non_null(strstr(out, "INVITE sip:bob@10.0.0.9:5070 SIP/2.0\r\n"
				    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsw0x1\r\n"
				    "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"));
	assert_non_null(strstr(out, "Record-Route: <sip:192.0.2.1:5060;lr>\r\n"));
	assert_non_null(strstr(out, "\r\nRoute: <sip:198.51.100.7;lr>\r\n"));
	assert_null(strstr(out, "\r\nRoute: <sip:192.0.2.1"));
	assert_non_null(strstr(out, "Max-Forwards: 9\r\n"));
	assert_non_null(strstr(out, "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=t1\r\n"));
	assert_null(strstr(out, "realm=\"example.com\""));
	assert_non_null(strstr(out, "realm=\"other.net\""));
	assert_null(strstr(out, "P-Asserted-Identity"));
	assert_non_null(strstr(out, "\r\n\r\nbody"));
}

/* Via and Record-Route name the listen address as IP:PORT, an IPv6 one in
 * brackets, from its text or, for one built without text, printed. */
static void test_listen_hostport(void **state)
{
	(void)state;
	struct tp_listen l6, bare;
	struct sip_buf b;
	assert_int_equal(tp_listen_parse(&l6, "tcp:[2001:db8::7]:5070"), 0);
	parse("OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
	      "Max-Forwards: 10\r\nFrom: <sip:alice@example.com>;tag=t1\r\n"
	      "To: <sip:bob@example.com>\r\nCall-ID: c@x\r\nCSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n");
	struct proxy_fwd f = { .branch = "z9hG4bKsw0x1", .via_lst = &l6, .record_route = true };
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	out[b.len] = '\0';
	assert_non_null(strstr(out, "Via: SIP/2.0/TCP [2001:db8::7]:5070;branch=z9hG4bKsw0x1\r\n"));
	assert_non_null(strstr(out, "Record-Route: <sip:[2001:db8::7]:5070;transport=tcp;lr>\r\n"));

	bare = l6;
	bare.text[0] = '\0';
	f.via_lst = &bare;
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	out[b.len] = '\0';
	assert_non_null(strstr(out, "Via: SIP/2.0/TCP [2001:db8::7]:5070;branch=z9hG4bKsw0x1\r\n"));
}

/* The Proxy-Authorization already proven (consumed_hdr) is dropped without
 * a second parse: the same copy as when build.c finds it by realm, and only
 * that one when no realm is given. */
static void test_consumed_hdr_same_copy(void **state)
{
	(void)state;
	static char by_realm[8192];
	struct tp_listen l;
	struct sip_buf b;
	assert_int_equal(tp_listen_parse(&l, "udp:192.0.2.1:5060"), 0);
	parse("INVITE sip:bob@example.com SIP/2.0\r\n"
	      "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
	      "Max-Forwards: 10\r\nFrom: <sip:alice@example.com>;tag=t1\r\n"
	      "To: <sip:bob@example.com>\r\nCall-ID: c@x\r\nCSeq: 2 INVITE\r\n"
	      "Proxy-Authorization: Digest username=\"al\", realm=\"other.net\", nonce=\"n\", uri=\"sip:x\", response=\"r\"\r\n"
	      "Proxy-Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:bob@example.com\", response=\"r\"\r\n"
	      "Content-Length: 0\r\n\r\n");
	const struct sip_hdr *ours = sip_msg_hdr_next(&msg, sip_msg_hdr(&msg, SIP_HDR_PROXY_AUTHORIZATION));
	assert_non_null(ours);
	struct proxy_fwd f = { .branch = "z9hG4bKsw0x1", .via_lst = &l, .consume_realm = "example.com" };
	sip_buf_init(&b, by_realm, sizeof(by_realm));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	size_t by_realm_len = b.len;

	f.consumed_hdr = ours;
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	assert_int_equal(b.len, by_realm_len);
	assert_memory_equal(out, by_realm, by_realm_len);

	f.consume_realm = NULL;
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	out[b.len] = '\0';
	assert_null(strstr(out, "realm=\"example.com\""));
	assert_non_null(strstr(out, "realm=\"other.net\""));
}

/* One Route entry to drop, its end given (pop_hdr, pop_rest): the same copy
 * as when build.c finds it, whether the entry is alone in its header, the
 * first of a list, or in the second Route header after an unparsable one. */
static void test_pop_hint_same_copy(void **state)
{
	(void)state;
	static char plain[8192];
	struct tp_listen l;
	struct sip_buf b;
	const char *forms[] = {
		"Route: <sip:192.0.2.1:5060;lr>\r\n",
		"Route: <sip:192.0.2.1:5060;lr> ,  <sip:198.51.100.7;lr>,<sip:203.0.113.5;lr>\r\n",
		"Route: <sip:192.0.2.1:5060;lr>\r\nRoute: <sip:198.51.100.7;lr>\r\n",
		"Route: <sip:192.0.2.1:5060;lr\r\nRoute: <sip:192.0.2.1:5060;lr>, <sip:198.51.100.7;lr>\r\n",
	};
	char text[1024];
	assert_int_equal(tp_listen_parse(&l, "udp:192.0.2.1:5060"), 0);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		snprintf(text, sizeof(text),
			 "BYE sip:bob@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n%s"
			 "Max-Forwards: 10\r\nFrom: <sip:alice@example.com>;tag=t1\r\n"
			 "To: <sip:bob@example.com>;tag=t2\r\nCall-ID: c@x\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
			 forms[i]);
		parse(text);
		struct proxy_fwd f = { .branch = "z9hG4bKsw0x1", .via_lst = &l, .pop_routes = 1 };
		sip_buf_init(&b, plain, sizeof(plain));
		assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
		size_t plain_len = b.len;

		/* where the first entry that parses ends, as proxy.c finds it */
		struct sip_addr a;
		for (const struct sip_hdr *h = sip_msg_hdr(&msg, SIP_HDR_ROUTE); h && !f.pop_hdr;
		     h = sip_msg_hdr_next(&msg, h)) {
			struct slice cur = h->value;
			if (sip_addr_list_next(&cur, &a) == 1) {
				f.pop_hdr = h;
				f.pop_rest = cur;
			}
		}
		assert_non_null(f.pop_hdr);
		sip_buf_init(&b, out, sizeof(out));
		assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
		assert_int_equal(b.len, plain_len);
		assert_memory_equal(out, plain, plain_len);
	}
}

/* RFC 5658: both of our entries of a double Record-Route are dropped, in
 * one Route header or spread over two. */
static void test_two_of_our_routes_popped(void **state)
{
	(void)state;
	struct tp_listen l;
	struct sip_buf b;
	const char *forms[] = {
		"Route: <sips:192.0.2.1:5061;lr>, <sip:192.0.2.1:5060;lr>, <sip:198.51.100.7;lr>\r\n",
		"Route: <sips:192.0.2.1:5061;lr>\r\nRoute: <sip:192.0.2.1:5060;lr>,<sip:198.51.100.7;lr>\r\n",
	};
	char text[1024];
	assert_int_equal(tp_listen_parse(&l, "udp:192.0.2.1:5060"), 0);
	for (int i = 0; i < 2; i++) {
		snprintf(text, sizeof(text),
			 "BYE sip:bob@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKa\r\n%s"
			 "Max-Forwards: 10\r\nFrom: <sip:alice@example.com>;tag=t1\r\n"
			 "To: <sip:bob@example.com>;tag=t2\r\nCall-ID: c@x\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
			 forms[i]);
		parse(text);
		struct proxy_fwd f = { .branch = "z9hG4bKsw0x1", .via_lst = &l, .pop_routes = 2 };
		sip_buf_init(&b, out, sizeof(out));
		assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
		out[b.len] = '\0';
		assert_non_null(strstr(out, "\r\nRoute: <sip:198.51.100.7;lr>\r\n"));
		assert_null(strstr(out, "192.0.2.1:5061"));
		assert_null(strstr(out, "Route: <sip:192.0.2.1"));
		assert_null(strstr(out, "Record-Route"));
	}
}

static void test_relayed_response_loses_our_via(void **state)
{
	(void)state;
	struct sip_buf b;
	parse("SIP/2.0 180 Ringing\r\n"
	      "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKsw0x1, SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
	      "From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:bob@example.com>;tag=b\r\n"
	      "Call-ID: c@x\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n");
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_response(&b, &msg), 0);
	out[b.len] = '\0';
	assert_non_null(strstr(out, "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"));
	assert_null(strstr(out, "z9hG4bKsw0x1"));
}

/* The asserted identity of an authenticated caller: its AOR, or its rpid
 * URI (which also becomes the From of an INVITE); none for others. */
static void test_identity_of_caller(void **state)
{
	(void)state;
	static struct proxy_caller caller;
	static struct proxy_identity id;

	parse("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
	      "From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c@x\r\n"
	      "CSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n");
	memset(&caller, 0, sizeof(caller));
	proxy_identity_decide(&msg, &caller, &id);
	assert_string_equal(id.pai, "");
	assert_string_equal(id.from, "");

	caller.authenticated = true;
	strcpy(caller.user, "alice");
	strcpy(caller.realm, "example.com");
	proxy_identity_decide(&msg, &caller, &id);
	assert_string_equal(id.pai, "<sip:alice@example.com>");
	assert_string_equal(id.from, "");
	assert_false(id.anonymous);

	/* the longest user and realm still fit */
	memset(caller.user, 'u', SW_MAX_USER);
	caller.user[SW_MAX_USER] = '\0';
	memset(caller.realm, 'r', SW_MAX_DOMAIN);
	caller.realm[SW_MAX_DOMAIN] = '\0';
	proxy_identity_decide(&msg, &caller, &id);
	assert_int_equal(strlen(id.pai), 7 + SW_MAX_USER + SW_MAX_DOMAIN);
	assert_int_equal(id.pai[5 + SW_MAX_USER], '@');
	assert_int_equal(id.pai[6 + SW_MAX_USER + SW_MAX_DOMAIN], '>');

	strcpy(caller.rpid, "\"Al\" <sip:+1555@example.com>");
	proxy_identity_decide(&msg, &caller, &id);
	assert_string_equal(id.pai, "<sip:+1555@example.com>");
	assert_string_equal(id.from, "\"Al\" <sip:+1555@example.com>");
}

static void test_rpid_forms(void **state)
{
	(void)state;
	struct slice d, u;
	assert_int_equal(proxy_rpid_parse(slice_cstr("\"Alice Smith\" <sip:+15551234@example.com>"), &d, &u), 0);
	assert_true(slice_eq_cstr(d, "Alice Smith"));
	assert_true(slice_eq_cstr(u, "sip:+15551234@example.com"));
	assert_int_equal(proxy_rpid_parse(slice_cstr("sip:1000@example.com"), &d, &u), 0);
	assert_true(d.len == 0 && slice_eq_cstr(u, "sip:1000@example.com"));
	assert_int_equal(proxy_rpid_parse(slice_cstr("Front Desk"), &d, &u), 0);
	assert_true(slice_eq_cstr(d, "Front Desk") && u.len == 0);
	assert_int_equal(proxy_rpid_parse(slice_cstr("\"bad\r\nX: y\" <sip:a@b>"), &d, &u), -EINVAL);
	assert_int_equal(proxy_rpid_parse(slice_cstr("<sip:a@b"), &d, &u), -EINVAL);
}

static void test_trusted_networks(void **state)
{
	(void)state;
	struct proxy_cfg cfg;
	struct sockaddr_storage a;
	socklen_t len;

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(proxy_trusted_parse(&cfg.trusted[0], "10.1.2.3/8 name=gw1"), 0);
	assert_int_equal(proxy_trusted_parse(&cfg.trusted[1], "::1"), 0);
	cfg.ntrusted = 2;
	assert_string_equal(cfg.trusted[0].name, "gw1");
	assert_int_equal(tp_addr_from_text("10.200.0.1", 10, 5060, &a, &len), 0);
	assert_ptr_equal(proxy_trusted_find(&cfg, &a), &cfg.trusted[0]);
	assert_int_equal(tp_addr_from_text("11.0.0.1", 8, 5060, &a, &len), 0);
	assert_null(proxy_trusted_find(&cfg, &a));
	assert_int_equal(tp_addr_from_text("::1", 3, 5060, &a, &len), 0);
	assert_ptr_equal(proxy_trusted_find(&cfg, &a), &cfg.trusted[1]);
	assert_int_equal(proxy_trusted_parse(&cfg.trusted[2], "10.0.0.0/33"), -EINVAL);
	assert_int_equal(proxy_trusted_parse(&cfg.trusted[2], "10.0.0.0/8 nom=x"), -EINVAL);
	assert_int_equal(proxy_trusted_parse(&cfg.trusted[2], "example.com"), -EINVAL);
	assert_true(proxy_ip_is_private(slice_cstr("192.168.1.20")));
	assert_true(proxy_ip_is_private(slice_cstr("172.20.0.1")));
	assert_false(proxy_ip_is_private(slice_cstr("127.0.0.1")));
	assert_false(proxy_ip_is_private(slice_cstr("phone.example.com")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forwarded_request),
		cmocka_unit_test(test_two_of_our_routes_popped),
		cmocka_unit_test(test_pop_hint_same_copy),
		cmocka_unit_test(test_consumed_hdr_same_copy),
		cmocka_unit_test(test_listen_hostport),
		cmocka_unit_test(test_identity_of_caller),
		cmocka_unit_test(test_relayed_response_loses_our_via),
		cmocka_unit_test(test_rpid_forms),
		cmocka_unit_test(test_trusted_networks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
