/* Nonce-count replay table (RFC 7616 §3.4 nc), the brute-force limiter, the
 * [auth] list parsers and the escaping of network values in security events. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/auth.h"

#define T0 1700000000ull

static struct auth_nonce_info nonce(uint64_t tag, uint64_t issued)
{
	return (struct auth_nonce_info){ .tag = tag, .issued = issued };
}

static void test_nc_window(void **state)
{
	struct auth_replay *r;
	struct auth_nonce_info a = nonce(1234, T0);

	(void)state;
	assert_int_equal(auth_replay_new(&r, 16), 0);
	assert_int_equal(auth_replay_use(r, &a, 1, false), AUTH_REPLAY_FRESH);
	assert_int_equal(auth_replay_use(r, &a, 1, false), AUTH_REPLAY_SEEN); /* byte-for-byte replay */
	assert_int_equal(auth_replay_use(r, &a, 3, false), AUTH_REPLAY_FRESH);
	assert_int_equal(auth_replay_use(r, &a, 2, false), AUTH_REPLAY_FRESH); /* late, inside the window */
	assert_int_equal(auth_replay_use(r, &a, 2, false), AUTH_REPLAY_SEEN);
	assert_int_equal(auth_replay_use(r, &a, 0, false), AUTH_REPLAY_SEEN);
	assert_int_equal(auth_replay_use(r, &a, 200, false), AUTH_REPLAY_FRESH);
	assert_int_equal(auth_replay_use(r, &a, 100, false), AUTH_REPLAY_SEEN); /* below the window */
	assert_int_equal(auth_replay_use(r, &a, 199, false), AUTH_REPLAY_FRESH);
	auth_replay_free(r);
}

/* A nonce evicted from its slot is never valid again: stale, even replayed. */
static void test_evicted_is_stale(void **state)
{
	struct auth_replay *r;
	struct auth_nonce_info a = nonce(5, T0), b = nonce(5 + 4, T0 + 1), c = nonce(5 + 8, T0);

	(void)state;
	assert_int_equal(auth_replay_new(&r, 4), 0); /* a, b and c share slot 1 */
	assert_int_equal(auth_replay_use(r, &a, 1, false), AUTH_REPLAY_FRESH);
	assert_int_equal(auth_replay_use(r, &b, 1, false), AUTH_REPLAY_FRESH); /* evicts a */
	assert_int_equal(auth_replay_use(r, &a, 1, false), AUTH_REPLAY_STALE);
	assert_int_equal(auth_replay_use(r, &a, 2, false), AUTH_REPLAY_STALE);
	/* an unseen nonce issued no later than something evicted cannot be trusted either */
	assert_int_equal(auth_replay_use(r, &c, 1, false), AUTH_REPLAY_STALE);
	assert_int_equal(auth_replay_use(r, &b, 2, false), AUTH_REPLAY_FRESH);
	auth_replay_free(r);
}

static void test_one_time(void **state)
{
	struct auth_replay *r;
	struct auth_nonce_info a = nonce(77, T0);

	(void)state;
	assert_int_equal(auth_replay_new(&r, 0), 0);
	assert_int_equal(auth_replay_use(r, &a, 1, true), AUTH_REPLAY_FRESH);
	assert_int_equal(auth_replay_use(r, &a, 2, true), AUTH_REPLAY_STALE);
	assert_int_equal(auth_replay_use(r, &a, 1, true), AUTH_REPLAY_SEEN);
	auth_replay_free(r);
}

static void test_limiter(void **state)
{
	struct auth_limiter *l;
	struct auth_cfg cfg;
	const char *why;
	struct slice alice = slice_cstr("alice"), bob = slice_cstr("bob"), none = slice_from("", 0);
	uint64_t t = T0;

	(void)state;
	auth_cfg_defaults(&cfg);
	cfg.max_failures = 4;
	cfg.max_source_failures = 6;
	cfg.failure_window_s = 60;
	cfg.block_time_s = 100;
	assert_int_equal(auth_cfg_set_trusted(&cfg, "10.0.0.0/8, ::1", &why), 0);
	assert_int_equal(auth_limiter_new(&l, &cfg), 0);
	/* one failure never slows nor blocks */
	auth_limiter_fail(l, "192.0.2.1", alice, t);
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", alice, t + 1), AUTH_LIMIT_PASS);
	/* half the limit: a retry in the same second is slowed, a second later it passes */
	auth_limiter_fail(l, "192.0.2.1", alice, t + 1);
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", alice, t + 1), AUTH_LIMIT_SLOW);
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", alice, t + 2), AUTH_LIMIT_PASS);
	auth_limiter_fail(l, "192.0.2.1", alice, t + 2);
	auth_limiter_fail(l, "192.0.2.1", alice, t + 3);
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", alice, t + 5), AUTH_LIMIT_BLOCKED);
	/* the block is for alice from there: bob from there and alice elsewhere pass */
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", bob, t + 5), AUTH_LIMIT_PASS);
	assert_int_equal(auth_limiter_check(l, "192.0.2.2", alice, t + 5), AUTH_LIMIT_PASS);
	/* the source-wide limit: two more failures for other users block the source */
	auth_limiter_fail(l, "192.0.2.1", bob, t + 6);
	auth_limiter_fail(l, "192.0.2.1", slice_cstr("carol"), t + 7);
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", none, t + 8), AUTH_LIMIT_BLOCKED);
	/* blocks end by themselves */
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", alice, t + 3 + 100), AUTH_LIMIT_BLOCKED); /* source */
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", alice, t + 7 + 100), AUTH_LIMIT_PASS);
	assert_int_equal(auth_limiter_check(l, "192.0.2.1", none, t + 7 + 100), AUTH_LIMIT_PASS);
	/* trusted networks are never counted */
	for (int i = 0; i < 20; i++)
		auth_limiter_fail(l, "10.1.2.3", alice, t);
	assert_int_equal(auth_limiter_check(l, "10.1.2.3", alice, t), AUTH_LIMIT_PASS);
	/* lifting by hand */
	for (int i = 0; i < 4; i++)
		auth_limiter_fail(l, "198.51.100.9", alice, t + 500 + (uint64_t)i);
	assert_int_equal(auth_limiter_check(l, "198.51.100.9", alice, t + 510), AUTH_LIMIT_BLOCKED);
	assert_int_equal(auth_limiter_lift(l, "198.51.100.9", "alice", "admin"), 1);
	assert_int_equal(auth_limiter_check(l, "198.51.100.9", alice, t + 510), AUTH_LIMIT_PASS);
	auth_limiter_free(l);
}

/* Memory stays bounded: a flood of distinct sources only recycles entries. */
static void test_limiter_bounded(void **state)
{
	struct auth_limiter *l;
	struct auth_cfg cfg;
	char ip[32];

	(void)state;
	auth_cfg_defaults(&cfg);
	assert_int_equal(auth_limiter_new(&l, &cfg), 0);
	for (unsigned i = 0; i < 50000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		auth_limiter_fail(l, ip, slice_cstr("u"), T0);
	}
	auth_limiter_free(l);
}

static void test_cfg_parsers(void **state)
{
	struct auth_cfg c;
	const char *why = NULL;
	struct auth_net n;

	(void)state;
	auth_cfg_defaults(&c);
	assert_int_equal(c.nalgos, 2);
	assert_int_equal(c.algos[0], AUTH_ALGO_SHA256);
	assert_int_equal(c.algos[1], AUTH_ALGO_MD5);
	assert_int_equal(c.qop, AUTH_QOP_AUTH | AUTH_QOP_AUTH_INT);
	assert_int_equal(c.ntrusted, 0); /* tests run on loopback: nothing trusted by default */
	assert_int_equal(auth_cfg_set_algorithms(&c, "SHA-512-256, sha-256-sess,MD5", &why), 0);
	assert_int_equal(c.nalgos, 3);
	assert_int_equal(c.algos[1], AUTH_ALGO_SHA256_SESS);
	assert_int_equal(auth_cfg_set_algorithms(&c, "MD5, MD5", &why), -EINVAL);
	assert_int_equal(auth_cfg_set_algorithms(&c, "SHA-1", &why), -EINVAL);
	assert_int_equal(auth_cfg_set_algorithms(&c, "", &why), -EINVAL);
	assert_int_equal(c.nalgos, 3);
	assert_int_equal(auth_cfg_set_qop(&c, "auth", &why), 0);
	assert_int_equal(c.qop, AUTH_QOP_AUTH);
	assert_int_equal(auth_cfg_set_qop(&c, "auth,bogus", &why), -EINVAL);
	assert_int_equal(auth_cfg_set_min_algorithm(&c, "SHA-256", &why), 0);
	assert_int_equal(c.min_rank, 1);
	assert_int_equal(auth_net_parse("192.168.0.0/16", &n), 0);
	assert_true(auth_net_match(&n, "192.168.44.1"));
	assert_false(auth_net_match(&n, "192.169.0.1"));
	assert_false(auth_net_match(&n, "::1"));
	assert_int_equal(auth_net_parse("2001:db8::/32", &n), 0);
	assert_true(auth_net_match(&n, "2001:db8:1::5"));
	assert_int_equal(auth_net_parse("10.0.0.0/33", &n), -EINVAL);
	assert_int_equal(auth_net_parse("nonsense", &n), -EINVAL);
	assert_int_equal(auth_cfg_set_trusted(&c, "127.0.0.1, 10.0.0.0/8", &why), 0);
	assert_int_equal(c.ntrusted, 2);
}

/* A user name cannot forge a key nor break the line of a security event. */
static void test_log_value(void **state)
{
	char out[200];

	(void)state;
	auth_log_value(slice_cstr("alice@example.com"), out, sizeof(out));
	assert_string_equal(out, "alice@example.com");
	auth_log_value(slice_cstr("x src=6.6.6.6\"\r\n"), out, sizeof(out));
	assert_string_equal(out, "x%20src%3D6.6.6.6%22%0D%0A");
	auth_log_value(slice_from("", 0), out, sizeof(out));
	assert_string_equal(out, "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nc_window),       cmocka_unit_test(test_evicted_is_stale),
		cmocka_unit_test(test_one_time),        cmocka_unit_test(test_limiter),
		cmocka_unit_test(test_limiter_bounded), cmocka_unit_test(test_cfg_parsers),
		cmocka_unit_test(test_log_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
