/* The transaction tables' incremental doubling (src/txn/chains.c): every
 * entry stays findable while chains are spread, no operation spreads more
 * than TXN_CHAINS_STEP old chains, a doubling ends before the next one is
 * due, a walk during a doubling sees every entry once, and the table stops
 * at its maximum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "txn/chains.h"

struct item {
	struct txn_link link; /* first member */
	unsigned id;
	unsigned seen;
};

/* Spread hashes; low bits of consecutive ids differ. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static bool findable(const struct txn_chains *t, const struct item *it)
{
	for (struct txn_link *l = txn_chains_first(t, it->link.hash); l; l = l->next)
		if (l == &it->link)
			return true;
	return false;
}

static struct item *make_items(unsigned n)
{
	struct item *v = calloc(n, sizeof(*v));
	assert_non_null(v);
	for (unsigned i = 0; i < n; i++) {
		v[i].id = i;
		v[i].link.hash = mix(i + 1);
	}
	return v;
}

static void test_doubling_is_spread_over_operations(void **state)
{
	(void)state;
	enum { NB = 64, N = 20000 };
	struct txn_chains t;
	struct item *v = make_items(N);
	unsigned doublings = 0, most_moved = 0;

	assert_int_equal(txn_chains_init(&t, NB, 1u << 20), 0);
	for (unsigned i = 0; i < N; i++) {
		bool was_doubling = t.old != NULL;
		unsigned nb = t.nb, moved = t.moved;
		txn_chains_add(&t, &v[i].link);
		if (!was_doubling && t.old) {
			doublings++;
			assert_int_equal(t.nb, 2 * nb);
			assert_true(t.count > 2 * nb); /* doubled past two per chain */
			assert_int_equal(t.moved, 0);  /* nothing spread yet */
		} else if (was_doubling) {
			unsigned step = t.old ? t.moved - moved : nb / 2 - moved;
			if (step > most_moved)
				most_moved = step;
			assert_true(step <= TXN_CHAINS_STEP);
		}
		/* Spot checks while the old array is in use, all at the end. */
		if (t.old && i % 7 == 0)
			for (unsigned j = 0; j <= i; j += 97)
				assert_true(findable(&t, &v[j]));
	}
	assert_null(t.old); /* every doubling ended before the next was due */
	assert_int_equal(doublings, 8); /* 64 -> 16,384 chains: 20,000 <= 2 * 16,384 */
	assert_int_equal(t.nb, 16384);
	assert_int_equal(most_moved, TXN_CHAINS_STEP);
	for (unsigned i = 0; i < N; i++)
		assert_true(findable(&t, &v[i]));
	assert_int_equal(t.count, N);
	txn_chains_fini(&t);
	free(v);
}

static void test_del_during_doubling(void **state)
{
	(void)state;
	enum { NB = 64, N = 129 };
	struct txn_chains t;
	struct item *v = make_items(N + 1);

	assert_int_equal(txn_chains_init(&t, NB, 1024), 0);
	for (unsigned i = 0; i < N; i++)
		txn_chains_add(&t, &v[i].link);
	assert_non_null(t.old); /* the 129th add started a doubling */
	/* Deleting every other entry spreads chains too; the rest stay findable. */
	for (unsigned i = 0; i < N; i += 2) {
		assert_int_equal(txn_chains_del(&t, &v[i].link), 0);
		assert_false(findable(&t, &v[i]));
		for (unsigned j = 1; j < N; j += 2)
			assert_true(findable(&t, &v[j]));
	}
	assert_null(t.old);
	assert_int_equal(t.count, N / 2);
	assert_int_equal(txn_chains_del(&t, &v[0].link), -ENOENT);
	assert_int_equal(txn_chains_del(&t, &v[N].link), -ENOENT); /* never linked */
	assert_int_equal(t.count, N / 2);
	txn_chains_fini(&t);
	free(v);
}

static void test_walk_during_doubling_sees_each_once(void **state)
{
	(void)state;
	enum { NB = 64, N = 133 };
	struct txn_chains t;
	struct item *v = make_items(N);

	assert_int_equal(txn_chains_init(&t, NB, 1024), 0);
	for (unsigned i = 0; i < N; i++)
		txn_chains_add(&t, &v[i].link);
	assert_non_null(t.old);
	assert_true(t.moved > 0 && t.moved < NB); /* half spread */
	assert_int_equal(txn_chains_heads(&t), 128 + 64);
	for (unsigned i = 0; i < txn_chains_heads(&t); i++)
		for (struct txn_link *l = txn_chains_head(&t, i); l; l = l->next)
			((struct item *)l)->seen++;
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(v[i].seen, 1);
	/* Settling ends the doubling; the walk covers the new array alone. */
	txn_chains_settle(&t);
	assert_null(t.old);
	assert_int_equal(txn_chains_heads(&t), 128);
	for (unsigned i = 0; i < txn_chains_heads(&t); i++)
		for (struct txn_link *l = txn_chains_head(&t, i); l; l = l->next)
			((struct item *)l)->seen++;
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(v[i].seen, 2);
	txn_chains_fini(&t);
	free(v);
}

static void test_stops_at_max(void **state)
{
	(void)state;
	enum { N = 2000 };
	struct txn_chains t;
	struct item *v = make_items(N);

	assert_int_equal(txn_chains_init(&t, 16, 128), 0);
	for (unsigned i = 0; i < N; i++)
		txn_chains_add(&t, &v[i].link);
	assert_int_equal(t.nb, 128);
	assert_null(t.old);
	for (unsigned i = 0; i < N; i++)
		assert_true(findable(&t, &v[i]));
	txn_chains_fini(&t);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubling_is_spread_over_operations),
		cmocka_unit_test(test_del_during_doubling),
		cmocka_unit_test(test_walk_during_doubling_sees_each_once),
		cmocka_unit_test(test_stops_at_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
