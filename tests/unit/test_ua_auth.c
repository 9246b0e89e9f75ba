/* The UA's digest answers: Authorization values for each algorithm and qop
 * against RFC 7616 §3.9.1/§3.9.2 vectors (SHA-512/256 per erratum 4897) and
 * independently computed auth-int, -sess and RFC 2069 forms; challenge parsing
 * with odd quoting; strongest-algorithm choice; nc counting and nextnonce. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sipwarden/ua.h"
#include "ua/ua_int.h"

#define NONCE "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
#define CNONCE "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
#define OPAQUE "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"

static struct sw_ua_challenge mufasa(const char *algo, const char *qop)
{
	struct sw_ua_challenge ch;
	char v[512];

	snprintf(v, sizeof(v),
		 "Digest realm=\"http-auth@example.org\", qop=\"%s\", algorithm=%s, nonce=\"" NONCE
		 "\", opaque=\"" OPAQUE "\"",
		 qop, algo);
	assert_int_equal(sw_ua_challenge_parse(&ch, v, false), 0);
	strcpy(ch.method, "GET");
	strcpy(ch.uri, "/dir/index.html");
	return ch;
}

static void answer(const struct sw_ua_challenge *ch, const struct sw_ua_auth_input *in, char *out,
		   size_t cap)
{
	int n = sw_ua_build_authorization(out, cap, ch, in);

	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(out));
}

static void test_md5_rfc7616(void **state)
{
	struct sw_ua_challenge ch = mufasa("MD5", "auth");
	struct sw_ua_auth_input in = { .user = "Mufasa", .password = "Circle of Life", .cnonce = CNONCE };
	char out[1024];

	(void)state;
	answer(&ch, &in, out, sizeof(out));
	assert_string_equal(out, "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", nonce=\"" NONCE
				 "\", uri=\"/dir/index.html\", response=\"8ca523f5e9506fed4657c9700eebdbec\", "
				 "algorithm=MD5, cnonce=\"" CNONCE "\", opaque=\"" OPAQUE
				 "\", qop=auth, nc=00000001");
	assert_string_equal(sw_ua_auth_header_name(&ch), "Authorization");
}

static void test_sha256_rfc7616(void **state)
{
	struct sw_ua_challenge ch = mufasa("SHA-256", "auth");
	struct sw_ua_auth_input in = { .user = "Mufasa", .password = "Circle of Life", .cnonce = CNONCE };
	char out[1024];

	(void)state;
	answer(&ch, &in, out, sizeof(out));
	assert_non_null(strstr(out, "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""));
	assert_non_null(strstr(out, "algorithm=SHA-256"));
}

static void test_sha512_256_rfc7616(void **state)
{
	struct sw_ua_challenge ch;
	struct sw_ua_auth_input in = { .user = "J\xc3\xa4s\xc3\xb8n Doe",
				       .password = "Secret, or not?",
				       .cnonce = "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v" };
	char out[1024];

	(void)state;
	assert_int_equal(sw_ua_challenge_parse(&ch,
					       "Digest realm=\"api@example.org\", qop=\"auth\", "
					       "algorithm=SHA-512-256, nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\", "
					       "opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\", charset=UTF-8, userhash=true",
					       false),
			 0);
	strcpy(ch.method, "GET");
	strcpy(ch.uri, "/doe.json");
	/* We send the username in clear (no userhash); A1 uses the clear
	 * username either way, so the response equals the RFC's. */
	answer(&ch, &in, out, sizeof(out));
	assert_non_null(strstr(out, "response=\"3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5\""));
	assert_non_null(strstr(out, "algorithm=SHA-512-256"));
}

static void test_auth_int_sess_2069(void **state)
{
	struct sw_ua_challenge ch = mufasa("MD5", "auth-int");
	struct sw_ua_auth_input in = { .user = "Mufasa", .password = "Circle of Life", .cnonce = CNONCE,
				       .body = "hello", .body_len = 5 };
	char out[1024];

	(void)state;
	/* auth-int is used when it is the only qop offered; H(body) enters A2. */
	answer(&ch, &in, out, sizeof(out));
	assert_non_null(strstr(out, "response=\"1707eaf5c6ed1a8f6ff2e49286b06bc2\""));
	assert_non_null(strstr(out, "qop=auth-int, nc=00000001"));

	ch = mufasa("SHA-256-sess", "auth");
	in.nc = 2;
	answer(&ch, &in, out, sizeof(out));
	assert_non_null(strstr(out, "response=\"6bb0010aa4bdf46422a798c509ea32e256f27bd37de5cc3bdf8ed51e1d77d650\""));
	assert_non_null(strstr(out, "algorithm=SHA-256-sess"));
	assert_non_null(strstr(out, "nc=00000002"));

	/* No qop offered: RFC 2069 form, no nc and no qop. */
	assert_int_equal(sw_ua_challenge_parse(&ch, "Digest realm=\"http-auth@example.org\", nonce=\"" NONCE "\"",
					       false),
			 0);
	strcpy(ch.method, "GET");
	strcpy(ch.uri, "/dir/index.html");
	in.nc = 0;
	answer(&ch, &in, out, sizeof(out));
	assert_non_null(strstr(out, "response=\"7b2cc3b30e75b4777ea31027084363fd\""));
	assert_null(strstr(out, "qop="));
	assert_null(strstr(out, "nc="));
}

static void test_ha1_instead_of_password(void **state)
{
	struct sw_ua_challenge ch = mufasa("MD5", "auth");
	/* MD5("Mufasa:http-auth@example.org:Circle of Life"), upper case accepted. */
	struct sw_ua_auth_input in = { .user = "Mufasa", .ha1 = "3D78807DEFE7DE2157E2B0B6573A855F",
				       .cnonce = CNONCE };
	char out[1024];

	(void)state;
	answer(&ch, &in, out, sizeof(out));
	assert_non_null(strstr(out, "response=\"8ca523f5e9506fed4657c9700eebdbec\""));
	in.ha1 = "3d78807d";
	assert_int_equal(sw_ua_build_authorization(out, sizeof(out), &ch, &in), -EINVAL);
	in.ha1 = NULL;
	assert_int_equal(sw_ua_build_authorization(out, sizeof(out), &ch, &in), -EINVAL);
	in.password = "Circle of Life";
	assert_int_equal(sw_ua_build_authorization(out, 40, &ch, &in), -ENOSPC);
	assert_string_equal(out, "");
}

static void test_parse_odd_quoting(void **state)
{
	struct sw_ua_challenge ch;

	(void)state;
	assert_int_equal(sw_ua_challenge_parse(&ch,
					       "Digest  realm=\"we \\\"quote\\\" it\" ,nonce=\"n,1\",qop=\"auth-int , auth\","
					       " opaque=\"a\\\\b\", stale=TRUE, algorithm=\"sha-256\"",
					       true),
			 0);
	assert_true(ch.proxy);
	assert_string_equal(ch.realm, "we \"quote\" it");
	assert_string_equal(ch.nonce, "n,1");
	assert_string_equal(ch.opaque, "a\\b");
	assert_true(ch.qop_auth);
	assert_true(ch.qop_auth_int);
	assert_true(ch.stale);
	assert_true(ch.algo_known);
	assert_int_equal(ch.algo, SW_UA_SHA256);
	assert_string_equal(sw_ua_auth_header_name(&ch), "Proxy-Authorization");

	/* Absent algorithm means MD5; unknown ones are kept but not computable. */
	assert_int_equal(sw_ua_challenge_parse(&ch, "Digest realm=\"r\", nonce=\"x\"", false), 0);
	assert_int_equal(ch.algo, SW_UA_MD5);
	assert_string_equal(ch.algorithm, "MD5");
	assert_false(ch.stale);
	assert_int_equal(sw_ua_challenge_parse(&ch, "Digest realm=\"r\", nonce=\"x\", algorithm=SHA-1024", false),
			 0);
	assert_false(ch.algo_known);

	/* Not Digest, no nonce, or broken syntax. */
	assert_int_equal(sw_ua_challenge_parse(&ch, "Basic realm=\"r\"", false), -EINVAL);
	assert_int_equal(sw_ua_challenge_parse(&ch, "Digest realm=\"r\"", false), -EINVAL);
	assert_int_equal(sw_ua_challenge_parse(&ch, "Digest realm=\"r, nonce=x", false), -EINVAL);
}

static void test_pick_strongest(void **state)
{
	struct sw_ua_challenge chs[4];
	const char *algos[4] = { "MD5", "SHA-512-256", "SHA-256", "SHA-1024" };

	(void)state;
	for (int i = 0; i < 4; i++) {
		char v[128];

		snprintf(v, sizeof(v), "Digest realm=\"r\", nonce=\"n%d\", algorithm=%s", i, algos[i]);
		assert_int_equal(sw_ua_challenge_parse(&chs[i], v, false), 0);
	}
	assert_int_equal(sw_ua_challenge_pick(chs, 4), 1);
	assert_int_equal(sw_ua_challenge_pick(chs, 1), 0);
	assert_int_equal(sw_ua_challenge_pick(&chs[2], 1), 0);
	assert_int_equal(sw_ua_challenge_pick(&chs[3], 1), -ENOENT);
	/* -sess ranks with its hash: SHA-256-sess beats MD5. */
	assert_int_equal(sw_ua_challenge_parse(&chs[1], "Digest realm=\"r\", nonce=\"s\", algorithm=SHA-256-sess",
					       false),
			 0);
	assert_int_equal(sw_ua_challenge_pick(chs, 2), 1);
}

static void test_nc_counting_and_nextnonce(void **state)
{
	struct sw_ua_cfg cfg = { .server = "127.0.0.1:5060", .aor = "Mufasa@example.org" };
	struct sw_ua_challenge ch = mufasa("MD5", "auth");
	struct sw_ua *ua;
	char out[4096], resp[] = "SIP/2.0 200 OK\r\n"
				 "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
				 "From: <sip:Mufasa@example.org>;tag=1\r\n"
				 "To: <sip:Mufasa@example.org>;tag=2\r\n"
				 "Call-ID: c1\r\n"
				 "CSeq: 2 REGISTER\r\n"
				 "Authentication-Info: qop=auth, rspauth=\"x\", nextnonce=\"NEXT\", nc=00000002\r\n"
				 "Content-Length: 0\r\n\r\n";
	struct sip_parse_err perr;
	struct sip_buf b;

	(void)state;
	assert_int_equal(sw_ua_new(&ua, &cfg), 0);
	assert_true(sw_ua_security_handling(ua));
	sw_ua_set_security_handling(ua, false);
	assert_false(sw_ua_security_handling(ua));
	assert_int_equal(sw_ua_add_credentials(ua, "http-auth@example.org", "Mufasa", "Circle of Life"), 0);
	assert_int_equal(sw_ua_add_ha1(ua, NULL, "x", SW_UA_MD5, "abc"), -EINVAL);
	assert_non_null(ua_cred_find(ua, "http-auth@example.org"));
	assert_null(ua_cred_find(ua, "other"));
	assert_int_equal(ua_nonce_store(ua, &ch), 0);

	for (unsigned i = 1; i <= 3; i++) {
		char want[32];

		sip_buf_init(&b, out, sizeof(out) - 1);
		ua_cred_put_auth(ua, &b, "REGISTER", "sip:example.org", NULL, 0);
		assert_false(b.overflow);
		out[b.len] = '\0';
		snprintf(want, sizeof(want), "nc=%08x\r\n", i);
		assert_non_null(strstr(out, want));
		assert_non_null(strstr(out, "Authorization: Digest username=\"Mufasa\""));
		assert_non_null(strstr(out, "nonce=\"" NONCE "\""));
	}

	/* Authentication-Info nextnonce replaces the nonce and restarts nc. */
	assert_int_equal(sip_msg_parse(&ua->msg, resp, strlen(resp), &perr), 0);
	ua_nonce_next(ua, &ua->msg);
	sip_buf_init(&b, out, sizeof(out) - 1);
	ua_cred_put_auth(ua, &b, "REGISTER", "sip:example.org", NULL, 0);
	out[b.len] = '\0';
	assert_non_null(strstr(out, "nonce=\"NEXT\""));
	assert_non_null(strstr(out, "nc=00000001"));
	sw_ua_free(ua);
}

static void test_new_rejects_bad_config(void **state)
{
	struct sw_ua *ua = NULL;
	struct sw_ua_cfg cfg = { .server = "127.0.0.1:99999", .aor = "a@b" };

	(void)state;
	assert_int_equal(sw_ua_new(&ua, &cfg), -EINVAL);
	cfg.server = "[::1]:5060";
	cfg.aor = "no-at-sign";
	assert_int_equal(sw_ua_new(&ua, &cfg), -EINVAL);
	cfg.aor = "sip:a@b";
	assert_int_equal(sw_ua_new(&ua, &cfg), 0);
	assert_int_equal(sw_ua_fd(ua), -1);
	assert_false(sw_ua_busy(ua));
	assert_int_equal(sw_ua_timeout_ms(ua), -1);
	sw_ua_free(ua);
	sw_ua_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_md5_rfc7616),
		cmocka_unit_test(test_sha256_rfc7616),
		cmocka_unit_test(test_sha512_256_rfc7616),
		cmocka_unit_test(test_auth_int_sess_2069),
		cmocka_unit_test(test_ha1_instead_of_password),
		cmocka_unit_test(test_parse_odd_quoting),
		cmocka_unit_test(test_pick_strongest),
		cmocka_unit_test(test_nc_counting_and_nextnonce),
		cmocka_unit_test(test_new_rejects_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
