/* The token in our Record-Route entries (rrtoken.c): a SipHash-2-4-128 MAC of
 * the Call-ID under a key derived from the node's secret and bound to the
 * address of the dialog's inside party (the earlier HMAC-SHA256 form is still
 * computed for dialogs recorded before an upgrade). A route set is taken as ours only with the token
 * for the request's own Call-ID and that address under our key; both
 * entries of a double Record-Route (RFC 5658) carry it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/siphash.h"
#include "proxy/proxy_int.h"
#include "transport/tp.h"

static const uint8_t key_a[PROXY_RR_KEY_LEN] = { 1, 2, 3 };
static const uint8_t key_b[PROXY_RR_KEY_LEN] = { 1, 2, 4 };
static struct sockaddr_storage inside; /* 198.51.100.7:5060, set in main */

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	assert_int_equal(tp_addr_from_text(ip, strlen(ip), port, &ss, &len), 0);
	return ss;
}

/* Does sip:192.0.2.1:5060 with these params match token? (A URI that does
 * not parse is never a Route entry of ours.) */
static bool matches(const char *token, const char *params)
{
	char text[256];
	struct sip_uri u;

	snprintf(text, sizeof(text), "sip:192.0.2.1:5060%s", params);
	return sip_uri_parse(&u, slice_cstr(text)) == 0 && proxy_rr_token_match(token, &u);
}

static void test_token_checks(void **state)
{
	(void)state;
	char tok[PROXY_RR_TOKEN_LEN + 1], other[PROXY_RR_TOKEN_LEN + 1], params[128];

	assert_int_equal(proxy_rr_token(key_a, slice_cstr("abc@host"), &inside, tok), 0);
	assert_int_equal(strlen(tok), PROXY_RR_TOKEN_LEN);
	/* good token, either case, anywhere among the params */
	snprintf(params, sizeof(params), ";lr;sw=%s", tok);
	assert_true(matches(tok, params));
	snprintf(params, sizeof(params), ";sw=%s;lr;transport=tcp", tok);
	assert_true(matches(tok, params));
	for (char *p = params; *p; p++)
		*p = (*p >= 'a' && *p <= 'f') ? (char)(*p - 32) : *p;
	assert_true(matches(tok, params));
	/* wrong Call-ID: the token of another dialog */
	assert_int_equal(proxy_rr_token(key_a, slice_cstr("abc@hosT"), &inside, other), 0);
	assert_string_not_equal(tok, other);
	snprintf(params, sizeof(params), ";lr;sw=%s", other);
	assert_false(matches(tok, params));
	/* other key (another node's secret) */
	assert_int_equal(proxy_rr_token(key_b, slice_cstr("abc@host"), &inside, other), 0);
	assert_string_not_equal(tok, other);
	snprintf(params, sizeof(params), ";lr;sw=%s", other);
	assert_false(matches(tok, params));
	/* tampered: one digit changed, at either end */
	snprintf(params, sizeof(params), ";lr;sw=%s", tok);
	char *v = strstr(params, "sw=") + 3;
	v[0] = v[0] == '0' ? '1' : '0';
	assert_false(matches(tok, params));
	snprintf(params, sizeof(params), ";lr;sw=%s", tok);
	v[PROXY_RR_TOKEN_LEN - 1] = v[PROXY_RR_TOKEN_LEN - 1] == '0' ? '1' : '0';
	assert_false(matches(tok, params));
	/* truncated, extended, empty, absent */
	snprintf(params, sizeof(params), ";lr;sw=%.*s", PROXY_RR_TOKEN_LEN - 1, tok);
	assert_false(matches(tok, params));
	snprintf(params, sizeof(params), ";lr;sw=%s0", tok);
	assert_false(matches(tok, params));
	assert_false(matches(tok, ";lr;sw="));
	assert_false(matches(tok, ";lr;sw"));
	assert_false(matches(tok, ";lr"));
	/* no Call-ID: no token, and an empty token matches nothing */
	assert_int_equal(proxy_rr_token(key_a, slice_cstr(""), &inside, other), -EINVAL);
	assert_string_equal(other, "");
	assert_false(matches(other, ";lr;sw="));
}

/* The token is bound to the inside party's address, not its port: another
 * address (the far end, or a host it names) gets another token; an IPv4
 * address reads the same as its v4-mapped IPv6 form; no address, no token. */
static void test_token_bound_to_inside_address(void **state)
{
	(void)state;
	char tok[PROXY_RR_TOKEN_LEN + 1], other[PROXY_RR_TOKEN_LEN + 1];
	struct slice cid = slice_cstr("abc@host");
	struct sockaddr_storage a;

	assert_int_equal(proxy_rr_token(key_a, cid, &inside, tok), 0);
	a = addr("198.51.100.7", 40000);
	assert_int_equal(proxy_rr_token(key_a, cid, &a, other), 0);
	assert_string_equal(tok, other);
	a = addr("::ffff:198.51.100.7", 5060);
	assert_int_equal(proxy_rr_token(key_a, cid, &a, other), 0);
	assert_string_equal(tok, other);
	a = addr("198.51.100.8", 5060);
	assert_int_equal(proxy_rr_token(key_a, cid, &a, other), 0);
	assert_string_not_equal(tok, other);
	a = addr("2001:db8::7", 5060);
	assert_int_equal(proxy_rr_token(key_a, cid, &a, other), 0);
	assert_string_not_equal(tok, other);
	/* a long Call-ID (signed through its own MAC) still depends on every byte */
	static char longid[1000];
	memset(longid, 'x', sizeof(longid) - 1);
	assert_int_equal(proxy_rr_token(key_a, slice_cstr(longid), &inside, tok), 0);
	longid[sizeof(longid) - 2] = 'y';
	assert_int_equal(proxy_rr_token(key_a, slice_cstr(longid), &inside, other), 0);
	assert_string_not_equal(tok, other);
	assert_int_equal(strlen(other), PROXY_RR_TOKEN_LEN);
	assert_int_equal(proxy_rr_token(key_a, cid, NULL, other), -EINVAL);
	assert_string_equal(other, "");
	memset(&a, 0, sizeof(a));
	a.ss_family = AF_UNIX;
	assert_int_equal(proxy_rr_token(key_a, cid, &a, other), -EINVAL);
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* Both token forms rebuilt from their definitions: SipHash-2-4-128 under the
 * key's first 16 bytes of (4, IPv4 address, 'c', Call-ID), and HMAC-SHA256
 * under its last 32 bytes of the same, truncated to 16 bytes. */
static void test_token_forms(void **state)
{
	(void)state;
	static const char cid[] = "abc@host";
	uint8_t msg[64] = { 4, 198, 51, 100, 7, 'c' }, mac[32];
	char want[PROXY_RR_TOKEN_LEN + 1], got[PROXY_RR_TOKEN_LEN + 1];
	unsigned n = 0;

	memcpy(msg + 6, cid, sizeof(cid) - 1);
	base_siphash128(key_a, msg, 6 + sizeof(cid) - 1, mac);
	to_hex(mac, 16, want);
	assert_int_equal(proxy_rr_token(key_a, slice_cstr(cid), &inside, got), 0);
	assert_string_equal(got, want);

	assert_non_null(HMAC(EVP_sha256(), key_a + 16, 32, msg, 6 + sizeof(cid) - 1, mac, &n));
	to_hex(mac, 16, want);
	assert_int_equal(proxy_rr_token_hmac(key_a, slice_cstr(cid), &inside, got), 0);
	assert_string_equal(got, want);
	assert_int_equal(proxy_rr_token(key_a, slice_cstr(cid), &inside, want), 0);
	assert_string_not_equal(got, want);
	assert_int_equal(proxy_rr_token_hmac(key_a, slice_cstr(""), &inside, got), -EINVAL);
}

/* Nodes sharing [auth] secret derive one key; another secret, or none
 * (random per start), another key. */
static void test_key_from_secret(void **state)
{
	(void)state;
	static struct auth_ctx a, b, c, r;
	uint8_t ka[PROXY_RR_KEY_LEN], kb[PROXY_RR_KEY_LEN], kc[PROXY_RR_KEY_LEN], kr[PROXY_RR_KEY_LEN];

	assert_int_equal(auth_ctx_init(&a, "shared", 60), 0);
	assert_int_equal(auth_ctx_init(&b, "shared", 60), 0);
	assert_int_equal(auth_ctx_init(&c, "other", 60), 0);
	assert_int_equal(auth_ctx_init(&r, NULL, 0), 0);
	proxy_rr_key(&a, ka);
	proxy_rr_key(&b, kb);
	proxy_rr_key(&c, kc);
	proxy_rr_key(&r, kr);
	assert_memory_equal(ka, kb, sizeof(ka));
	assert_memory_not_equal(ka, kc, sizeof(ka));
	assert_memory_not_equal(ka, kr, sizeof(ka));
	/* not the nonce key itself */
	assert_memory_not_equal(ka, a.nonce_key.secret, sizeof(ka));
	auth_ctx_fini(&a);
	auth_ctx_fini(&b);
	auth_ctx_fini(&c);
	auth_ctx_fini(&r);
}

/* Both entries of a double Record-Route carry the token. */
static void test_record_route_entries_signed(void **state)
{
	(void)state;
	static char in[2048], out[4096];
	static struct sip_msg msg;
	struct sip_parse_err perr;
	struct tp_listen udp, tls;
	struct sip_buf b;
	const char *text = "INVITE sip:bob@example.com SIP/2.0\r\n"
			   "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\nMax-Forwards: 10\r\n"
			   "From: <sip:alice@example.com>;tag=t1\r\nTo: <sip:bob@example.com>\r\n"
			   "Call-ID: c@x\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
	char want[256];

	memcpy(in, text, strlen(text));
	assert_int_equal(sip_msg_parse(&msg, in, strlen(text), &perr), 0);
	assert_int_equal(tp_listen_parse(&udp, "udp:192.0.2.1:5060"), 0);
	assert_int_equal(tp_listen_parse(&tls, "tls:192.0.2.1:5061"), 0);
	struct proxy_fwd f = { .branch = "z9hG4bKsw0x1", .via_lst = &tls, .rr_in = &udp, .record_route = true };
	assert_int_equal(proxy_rr_token(key_a, msg.call_id, &inside, f.rr_token), 0);
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	out[b.len] = '\0';
	snprintf(want, sizeof(want), "Record-Route: <sips:192.0.2.1:5061;lr;sw=%s>\r\n"
		 "Record-Route: <sip:192.0.2.1:5060;lr;sw=%s>\r\n", f.rr_token, f.rr_token);
	assert_non_null(strstr(out, want));
}

int main(void)
{
	inside = addr("198.51.100.7", 5060);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_checks),
		cmocka_unit_test(test_token_bound_to_inside_address),
		cmocka_unit_test(test_token_forms),
		cmocka_unit_test(test_key_from_secret),
		cmocka_unit_test(test_record_route_entries_signed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
