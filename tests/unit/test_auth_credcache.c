/* The per-worker credential cache: hits and misses, negative entries, TTL,
 * the flush generation, the size bound, copies of every column, and the
 * read-through lookup against a real SQLite store (store errors not kept). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/credcache.h"

#define T0 1000u
#define DOM "example.com"
#define S(x) slice_cstr(x)

static void fill(struct store_cred *c, const char *user, const char *ha1)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->username, sizeof(c->username), "%s", user);
	snprintf(c->domain, sizeof(c->domain), "%s", DOM);
	snprintf(c->ha1, sizeof(c->ha1), "%s", ha1);
	c->min_algo = -1;
	c->pin_algo = -1;
}

static void test_hit_miss_negative(void **state)
{
	struct auth_credcache *c;
	struct store_cred in, out;
	struct auth_credcache_stats a, b;
	uint64_t g = auth_credcache_generation();
	int rc = 1;

	(void)state;
	assert_int_equal(auth_credcache_new(&c, 64, 10), 0);
	assert_non_null(c);
	auth_credcache_stats(&a);
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("alice"), S(DOM), T0, &out, &rc));
	fill(&in, "alice", "0123456789abcdef0123456789abcdef");
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S("alice"), S(DOM), T0, g, &in);
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S("nobody"), S(DOM), T0, g, NULL);

	memset(&out, 0x55, sizeof(out));
	assert_true(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("alice"), S("EXAMPLE.com"), T0 + 1, &out, &rc));
	assert_int_equal(rc, 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* negative entry: same path, answered "no such user" */
	memset(&out, 0x55, sizeof(out));
	assert_true(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("nobody"), S(DOM), T0 + 1, &out, &rc));
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(out.username[0], 0);
	assert_int_equal(out.ha1[0], 0);
	/* user names are exact, and a userhash lookup is another key */
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("Alice"), S(DOM), T0 + 1, &out, &rc));
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_USERHASH, S("alice"), S(DOM), T0 + 1, &out, &rc));
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("alice"), S("example.org"), T0 + 1, &out, &rc));
	auth_credcache_stats(&b);
	assert_int_equal(b.hits - a.hits, 2);
	assert_int_equal(b.misses - a.misses, 4);
	assert_int_equal(auth_credcache_count(c, T0 + 1), 2);
	auth_credcache_free(c);
}

static void test_every_column_copied(void **state)
{
	struct auth_credcache *c;
	struct store_cred in, out;
	int rc;

	(void)state;
	assert_int_equal(auth_credcache_new(&c, 8, 10), 0);
	memset(&in, 0, sizeof(in));
	/* every text field at its longest */
	memset(in.username, 'u', sizeof(in.username) - 1);
	memset(in.domain, 'd', sizeof(in.domain) - 1);
	memset(in.password, 'p', sizeof(in.password) - 1);
	memset(in.ha1, 'a', sizeof(in.ha1) - 1);
	memset(in.ha1b, 'b', sizeof(in.ha1b) - 1);
	memset(in.email, 'e', sizeof(in.email) - 1);
	memset(in.rpid, 'r', sizeof(in.rpid) - 1);
	memset(in.ha1_sha256, '2', sizeof(in.ha1_sha256) - 1);
	memset(in.ha1b_sha256, '3', sizeof(in.ha1b_sha256) - 1);
	memset(in.ha1_sha512t256, '5', sizeof(in.ha1_sha512t256) - 1);
	memset(in.ha1b_sha512t256, '6', sizeof(in.ha1b_sha512t256) - 1);
	for (unsigned i = 0; i < STORE_MAX_EXTRA_COLS; i++)
		memset(in.extra[i], 'A' + (int)i, i * 16);
	in.status = 1;
	in.hashes = 7;
	in.min_algo = 1;
	in.pin_algo = 2;
	in.valid_until = 4102444799;
	in.locked_until = -5;
	in.extra_unusable = 0x81;
	auth_credcache_put(c, AUTH_CRED_BY_USERHASH + 1, S("ABCDEF0123"), S(DOM), T0, auth_credcache_generation(), &in);
	/* a userhash is hex of any case */
	assert_true(auth_credcache_get(c, AUTH_CRED_BY_USERHASH + 1, S("abcdef0123"), S(DOM), T0, &out, &rc));
	assert_int_equal(rc, 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* the daemon's own pin write updates the entry */
	auth_credcache_note_pin(c, AUTH_CRED_BY_USERHASH + 1, S("abcdef0123"), S(DOM), 1); /* lower: no change */
	auth_credcache_note_pin(c, AUTH_CRED_BY_USERHASH + 1, S("abcdef0123"), S(DOM), 3);
	assert_true(auth_credcache_get(c, AUTH_CRED_BY_USERHASH + 1, S("abcdef0123"), S(DOM), T0, &out, &rc));
	assert_int_equal(out.pin_algo, 3);
	auth_credcache_free(c);
}

static void test_ttl(void **state)
{
	struct auth_credcache *c;
	struct store_cred in, out;
	uint64_t g = auth_credcache_generation();
	int rc;

	(void)state;
	assert_int_equal(auth_credcache_new(&c, 16, 10), 0);
	fill(&in, "bob", "ffff");
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S("bob"), S(DOM), T0, g, &in);
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S("ghost"), S(DOM), T0, g, NULL);
	assert_true(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("bob"), S(DOM), T0 + 9, &out, &rc));
	assert_true(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("ghost"), S(DOM), T0 + 9, &out, &rc));
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("bob"), S(DOM), T0 + 10, &out, &rc));
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("ghost"), S(DOM), T0 + 10, &out, &rc));
	/* an expired entry is gone, not revived by an earlier clock */
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("bob"), S(DOM), T0, &out, &rc));
	auth_credcache_free(c);
}

static void test_generation_flush(void **state)
{
	struct auth_credcache *c, *d;
	struct store_cred in, out;
	struct auth_credcache_stats a, b;
	uint64_t g = auth_credcache_generation();
	int rc;

	(void)state;
	assert_int_equal(auth_credcache_new(&c, 16, 60), 0);
	assert_int_equal(auth_credcache_new(&d, 16, 60), 0);
	fill(&in, "carol", "1234");
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, g, &in);
	auth_credcache_put(d, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, g, &in);
	auth_credcache_stats(&a);
	auth_credcache_flush_all();
	auth_credcache_stats(&b);
	assert_int_equal(b.flushes - a.flushes, 1);
	assert_int_not_equal(auth_credcache_generation(), g);
	/* every cache (one per worker) drops its entries */
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, &out, &rc));
	assert_false(auth_credcache_get(d, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, &out, &rc));
	/* a row read before the flush is not kept after it */
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, g, &in);
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, &out, &rc));
	assert_int_equal(auth_credcache_count(c, T0), 0);
	/* one read after it is */
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, auth_credcache_generation(), &in);
	assert_true(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, &out, &rc));
	/* a stale put for a live key drops the live entry too */
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, g, &in);
	assert_false(auth_credcache_get(c, AUTH_CRED_BY_NAME, S("carol"), S(DOM), T0, &out, &rc));
	auth_credcache_free(c);
	auth_credcache_free(d);
}

static void test_size_bound(void **state)
{
	struct auth_credcache *c;
	struct store_cred in, out;
	uint64_t g = auth_credcache_generation();
	char name[32];
	unsigned hits = 0;
	int rc;

	(void)state;
	assert_int_equal(auth_credcache_new(&c, 10, 60), 0); /* rounded up to 12 */
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		fill(&in, name, "abcd");
		auth_credcache_put(c, AUTH_CRED_BY_NAME, S(name), S(DOM), T0 + i / 100, g, i % 3 ? &in : NULL);
		assert_true(auth_credcache_count(c, T0 + i / 100) <= 12);
	}
	assert_int_equal(auth_credcache_count(c, T0 + 9), 12);
	for (unsigned i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "user%u", i);
		if (auth_credcache_get(c, AUTH_CRED_BY_NAME, S(name), S(DOM), T0 + 9, &out, &rc)) {
			hits++;
			assert_true(i >= 900); /* the oldest went first */
			assert_int_equal(rc, i % 3 ? 0 : -ENOENT);
			if (!rc)
				assert_string_equal(out.username, name);
		}
	}
	assert_int_equal(hits, 12);
	auth_credcache_free(c);
}

static void test_disabled_and_limits(void **state)
{
	struct auth_credcache *c = (struct auth_credcache *)&c;
	struct store_cred in, out;
	char longname[SW_MAX_USER + 2];
	int rc;

	(void)state;
	assert_int_equal(auth_credcache_new(&c, 0, 60), 0);
	assert_null(c);
	assert_int_equal(auth_credcache_new(&c, 100, 0), 0);
	assert_null(c);
	assert_int_equal(auth_credcache_new(&c, AUTH_CREDCACHE_MAX_SIZE + 1, 60), -EINVAL);
	/* NULL is a cache that keeps nothing */
	fill(&in, "dave", "aa");
	auth_credcache_put(NULL, AUTH_CRED_BY_NAME, S("dave"), S(DOM), T0, auth_credcache_generation(), &in);
	assert_false(auth_credcache_get(NULL, AUTH_CRED_BY_NAME, S("dave"), S(DOM), T0, &out, &rc));
	auth_credcache_free(NULL);
	/* a name longer than any user is never kept */
	assert_int_equal(auth_credcache_new(&c, 8, 60), 0);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	auth_credcache_put(c, AUTH_CRED_BY_NAME, S(longname), S(DOM), T0, auth_credcache_generation(), NULL);
	assert_int_equal(auth_credcache_count(c, T0), 0);
	auth_credcache_free(c);
}

/* Read-through against SQLite: a hit is served without the store (proved by
 * deleting the row behind the cache), fresh reads and replaces the entry, a
 * store error is never kept. */
static void test_lookup_through_store(void **state)
{
	struct auth_credcache *c;
	struct store *st;
	struct store_cred out;
	char path[96], url[128];
	bool hit;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sw_test_credcache_%ld.db", (long)getpid());
	unlink(path);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	assert_int_equal(store_open(&st, url), 0);
	assert_int_equal(store_user_add(st, "erin", DOM, &(struct store_user_secrets){ .ha1 = "00ff" }), 0);
	assert_int_equal(auth_credcache_new(&c, 16, 60), 0);

	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("erin"), S(DOM), false, &out, &hit), 0);
	assert_false(hit);
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("zed"), S(DOM), false, &out, &hit),
			 -ENOENT);
	assert_false(hit);
	assert_int_equal(store_user_del(st, "erin", DOM), 0);
	assert_int_equal(store_user_add(st, "zed", DOM, &(struct store_user_secrets){ .ha1 = "11ee" }), 0);
	/* both answers now come from the cache, the store says otherwise */
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("erin"), S(DOM), false, &out, &hit), 0);
	assert_true(hit);
	assert_string_equal(out.ha1, "00ff");
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("zed"), S(DOM), false, &out, &hit),
			 -ENOENT);
	assert_true(hit);
	/* fresh: the store's answer, which then replaces the entry */
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("zed"), S(DOM), true, &out, &hit), 0);
	assert_false(hit);
	assert_string_equal(out.ha1, "11ee");
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("zed"), S(DOM), false, &out, &hit), 0);
	assert_true(hit);
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("erin"), S(DOM), true, &out, &hit),
			 -ENOENT);
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("erin"), S(DOM), false, &out, &hit),
			 -ENOENT);
	assert_true(hit);
	/* a failing store: the error is answered, nothing kept */
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_USERHASH + 7, S("abcd"), S(DOM), false, &out, &hit),
			 -EINVAL);
	assert_int_equal(auth_credcache_count(c, 0), 2);
	auth_credcache_free(c);
	store_close(st);
	unlink(path);
}

/* With the store sharing one read snapshot per batch (as a worker runs it),
 * a flush makes the next store read start a new snapshot: a row changed and
 * committed before the flush is read as it is now, not as the open snapshot
 * showed it, and that new row is what the cache keeps. */
static void test_flush_ends_shared_snapshot(void **state)
{
	struct auth_credcache *c;
	struct store *st, *admin;
	struct store_cred out;
	char path[96], url[128];
	bool hit;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sw_test_credcache_snap_%ld.db", (long)getpid());
	unlink(path);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	assert_int_equal(store_open(&st, url), 0);
	assert_int_equal(store_open(&admin, url), 0);
	assert_int_equal(store_user_add(admin, "erin", DOM, &(struct store_user_secrets){ .ha1 = "00ff" }), 0);
	assert_int_equal(store_user_add(admin, "fred", DOM, &(struct store_user_secrets){ .ha1 = "0aaa" }), 0);
	assert_int_equal(auth_credcache_new(&c, 16, 60), 0);
	store_share_snapshot(st, true);

	/* the batch's snapshot is opened by this read */
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("fred"), S(DOM), false, &out, &hit), 0);
	/* an administrator changes erin's secret, then flushes the caches */
	assert_int_equal(store_user_update(admin, "erin", DOM, &(struct store_user_secrets){ .ha1 = "11ee" }), 0);
	auth_credcache_flush_all();
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("erin"), S(DOM), false, &out, &hit), 0);
	assert_false(hit);
	assert_string_equal(out.ha1, "11ee");
	assert_int_equal(auth_credcache_lookup(c, st, AUTH_CRED_BY_NAME, S("erin"), S(DOM), false, &out, &hit), 0);
	assert_true(hit);
	assert_string_equal(out.ha1, "11ee");
	store_cred_wipe(&out);
	auth_credcache_free(c);
	store_close(admin);
	store_close(st);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit_miss_negative),
		cmocka_unit_test(test_every_column_copied),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_generation_flush),
		cmocka_unit_test(test_size_bound),
		cmocka_unit_test(test_disabled_and_limits),
		cmocka_unit_test(test_lookup_through_store),
		cmocka_unit_test(test_flush_ends_shared_snapshot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
