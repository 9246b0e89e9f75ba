/* Unit tests for overload episodes (base/overload.c): the queueing delay from a
 * receive timestamp, the shedding decision at its bound, counting, and the
 * episode ending after SW_OVERLOAD_QUIET_MS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/overload.h"

static void bound_is_exclusive_and_zero_disables(void **state)
{
	struct overload o;

	(void)state;
	overload_init(&o, 200, 0);
	assert_false(overload_exceeded(&o, 0));
	assert_false(overload_exceeded(&o, 200));
	assert_true(overload_exceeded(&o, 201));
	overload_init(&o, 0, 0);
	assert_false(overload_exceeded(&o, UINT32_MAX));
}

static void episode_counts_and_ends_when_quiet(void **state)
{
	struct overload o;

	(void)state;
	overload_init(&o, 20, 1);
	assert_false(overload_tick(&o, 5000)); /* nothing to end */
	overload_note_shed(&o, 30, 1000);
	overload_note_shed(&o, 90, 1100);
	overload_note_shed(&o, 40, 1200);
	assert_true(o.shedding);
	assert_int_equal(o.episode_shed, 3);
	assert_int_equal(o.max_delay_ms, 90);
	assert_false(overload_tick(&o, 1200 + SW_OVERLOAD_QUIET_MS - 1));
	assert_true(overload_tick(&o, 1200 + SW_OVERLOAD_QUIET_MS));
	assert_false(o.shedding);
	assert_false(overload_tick(&o, 10000));
	overload_note_shed(&o, 25, 20000); /* a new episode starts from zero */
	assert_int_equal(o.episode_shed, 1);
	assert_int_equal(o.total_shed, 4);
	assert_int_equal(o.max_delay_ms, 25);
}

static void queued_ms_from_receive_timestamp(void **state)
{
	const int64_t ms = 1000000, now = (int64_t)1800000000 * 1000 * ms;

	(void)state;
	assert_int_equal(overload_queued_ms(now - 250 * ms, now), 250);
	assert_int_equal(overload_queued_ms(now - 250 * ms - 999999, now), 250); /* truncated */
	assert_int_equal(overload_queued_ms(0, now), 0);                         /* no timestamp */
	assert_int_equal(overload_queued_ms(now + 5 * ms, now), 0);              /* clock stepped back */
	assert_int_equal(overload_queued_ms(now, now), 0);
	assert_int_equal(overload_queued_ms(now - 60000 * ms, now), 60000);
	assert_int_equal(overload_queued_ms(now - 60000 * ms - 1, now), 0);      /* stepped forward */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bound_is_exclusive_and_zero_disables),
		cmocka_unit_test(episode_counts_and_ends_when_quiet),
		cmocka_unit_test(queued_ms_from_receive_timestamp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
