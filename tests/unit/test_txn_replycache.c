/* The retransmission cache of stateless answers (txn/replycache.c), a byte
 * ring: an answer is found again until the ring laps it, with its exact
 * bytes; across many laps of answers of every length, every recent answer
 * is found and nothing is ever returned with another answer's bytes; Timer J
 * ends an answer; over-long answers are not kept. The ring grows (to 64 MiB
 * at most) instead of overwriting answers younger than 2 s, keeping every
 * answer and the newer of two for one request, and does not grow when 8 MiB
 * hold more than 2 s of answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>

#include "txn/txn.h"

#define RING (8u << 20)
#define PUTS 200000u

/* The answer stored under key: its length and bytes follow from the key. */
static size_t answer(uint64_t key, char *out)
{
	size_t len = 1 + (size_t)((key * 2654435761u) % 1000u);

	for (size_t i = 0; i < len; i++)
		out[i] = (char)('a' + (key + i) % 26);
	return len;
}

static size_t entry_bytes(size_t len)
{
	return (24 + len + 7) & ~(size_t)7;
}

static void found_exact(struct txn_reply_cache *c, uint64_t key, uint64_t now)
{
	char want[1000];
	size_t n = answer(key, want), got_len = 0;
	const char *got = txn_reply_cache_find(c, key, now, &got_len);

	assert_non_null(got);
	assert_int_equal(got_len, n);
	assert_memory_equal(got, want, n);
}

static void test_laps_keep_recent_answers_exact(void **state)
{
	struct txn_reply_cache *c;
	char buf[1000];
	uint64_t now = 1000;

	(void)state;
	assert_int_equal(txn_reply_cache_new(&c), 0);
	for (uint64_t key = 1; key <= PUTS; key++) {
		size_t n = answer(key, buf);
		txn_reply_cache_put(c, key, now, buf, n);
		found_exact(c, key, now);
		if (key % 20011 == 0) {
			/* every answer of the last RING - 2 KiB bytes is there */
			size_t bytes = 0;
			for (uint64_t k = key; k >= 1; k--) {
				bytes += entry_bytes(answer(k, buf));
				if (bytes > RING - 2048)
					break;
				found_exact(c, k, now);
			}
			/* older ones are either gone or exact, never other bytes */
			for (uint64_t k = 1; k < key; k += 97) {
				size_t len = 0;
				const char *got = txn_reply_cache_find(c, k, now, &len);
				if (got) {
					size_t n2 = answer(k, buf);
					assert_int_equal(len, n2);
					assert_memory_equal(got, buf, n2);
				}
			}
		}
	}
	/* Timer J: 64 * T1 after, still there; a millisecond later, gone */
	found_exact(c, PUTS, now + 64 * TXN_T1);
	size_t len = 0;
	assert_null(txn_reply_cache_find(c, PUTS, now + 64 * TXN_T1 + 1, &len));
	txn_reply_cache_free(c);
}

static void test_long_answers_not_kept(void **state)
{
	struct txn_reply_cache *c;
	char big[2000];
	size_t len = 0;

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(txn_reply_cache_new(&c), 0);
	txn_reply_cache_put(c, 7, 0, big, TXN_REPLY_CACHE_ENTRY_MAX);
	assert_non_null(txn_reply_cache_find(c, 7, 0, &len));
	assert_int_equal(len, TXN_REPLY_CACHE_ENTRY_MAX);
	txn_reply_cache_put(c, 8, 0, big, TXN_REPLY_CACHE_ENTRY_MAX + 1);
	assert_null(txn_reply_cache_find(c, 8, 0, &len));
	assert_null(txn_reply_cache_find(c, 9, 0, &len));
	txn_reply_cache_free(c);
}

/* Keys come from SipHash under each cache's own random key: stable within a
 * cache, unrelated between two, and any byte of the request or its source
 * changes them. */
static void test_keys_are_keyed_per_cache(void **state)
{
	struct txn_reply_cache *a, *b;
	struct tp_src src = { .proto = TP_UDP, .peerlen = sizeof(struct sockaddr_in) };
	char req[] = "REGISTER sip:example.com SIP/2.0\r\nCall-ID: k@h\r\nCSeq: 1 REGISTER\r\n\r\n";
	size_t n = sizeof(req) - 1;

	(void)state;
	assert_int_equal(txn_reply_cache_new(&a), 0);
	assert_int_equal(txn_reply_cache_new(&b), 0);
	uint64_t ka = txn_reply_cache_key(a, req, n, &src);
	assert_true(ka != 0);
	assert_true(ka == txn_reply_cache_key(a, req, n, &src));
	assert_true(ka != txn_reply_cache_key(b, req, n, &src));
	req[n - 5] = 'X';
	assert_true(ka != txn_reply_cache_key(a, req, n, &src));
	req[n - 5] = 'R';
	((struct sockaddr_in *)&src.peer)->sin_port = 1;
	assert_true(ka != txn_reply_cache_key(a, req, n, &src));
	txn_reply_cache_free(a);
	txn_reply_cache_free(b);
}

/* The same key again (a request answered twice: the newer answer wins). */
static void test_newer_answer_wins(void **state)
{
	struct txn_reply_cache *c;
	size_t len = 0;
	const char *got;

	(void)state;
	assert_int_equal(txn_reply_cache_new(&c), 0);
	txn_reply_cache_put(c, 42, 0, "first", 5);
	txn_reply_cache_put(c, 42, 1, "second", 6);
	got = txn_reply_cache_find(c, 42, 1, &len);
	assert_non_null(got);
	assert_int_equal(len, 6);
	assert_memory_equal(got, "second", 6);
	txn_reply_cache_free(c);
}

/* 20,000 answers a second (one millisecond per 20): 8 MiB hold less than a
 * second of them, so the ring grows; every answer of the last 2 s is found
 * with its bytes, also across the growth; a request answered twice keeps its
 * newer answer through the move. */
static void test_grows_for_fast_answers(void **state)
{
	struct txn_reply_cache *c;
	char buf[1000];
	uint64_t now = 1000;
	size_t len = 0;
	const char *got;

	(void)state;
	assert_int_equal(txn_reply_cache_new(&c), 0);
	assert_int_equal(txn_reply_cache_bytes(c), RING);
	txn_reply_cache_put(c, (uint64_t)1 << 40, now, "first", 5);
	txn_reply_cache_put(c, (uint64_t)1 << 40, now, "second", 6);
	for (uint64_t key = 1; key <= 60000; key++) {
		if (key % 20 == 0)
			now++;
		txn_reply_cache_put(c, key, now, buf, answer(key, buf));
	}
	assert_true(txn_reply_cache_bytes(c) > RING);
	for (uint64_t key = 60000 - 2 * 20000 + 1; key <= 60000; key++)
		found_exact(c, key, now);
	got = txn_reply_cache_find(c, (uint64_t)1 << 40, now, &len);
	assert_non_null(got);
	assert_int_equal(len, 6);
	assert_memory_equal(got, "second", 6);

	/* the cap: answers all of one millisecond never take more than 64 MiB */
	for (uint64_t key = 100001; key <= 300000; key++)
		txn_reply_cache_put(c, key, now, buf, answer(key, buf));
	assert_int_equal(txn_reply_cache_bytes(c), 8 * RING);
	found_exact(c, 300000, now);
	txn_reply_cache_free(c);
}

/* 1,000 answers a second: 8 MiB hold about 16 s of them, the ring stays. */
static void test_no_growth_for_slow_answers(void **state)
{
	struct txn_reply_cache *c;
	char buf[1000];
	uint64_t now = 1000;

	(void)state;
	assert_int_equal(txn_reply_cache_new(&c), 0);
	for (uint64_t key = 1; key <= 50000; key++)
		txn_reply_cache_put(c, key, now++, buf, answer(key, buf));
	assert_int_equal(txn_reply_cache_bytes(c), RING);
	found_exact(c, 50000, now);
	txn_reply_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_laps_keep_recent_answers_exact),
		cmocka_unit_test(test_long_answers_not_kept),
		cmocka_unit_test(test_keys_are_keyed_per_cache),
		cmocka_unit_test(test_newer_answer_wins),
		cmocka_unit_test(test_grows_for_fast_answers),
		cmocka_unit_test(test_no_growth_for_slow_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
