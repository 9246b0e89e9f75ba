/* SQLite's allocator for the store (store/sqlite_mem.c): sizes, alignment,
 * reuse of freed small blocks, realloc across classes, large blocks, frees
 * from another thread. That an open store installs it is checked in
 * test_store_sqlite_memstat.c with SQLite's other process-wide settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "store/sqlite_mem.h"

static void sizes_and_alignment(void **state)
{
	const sqlite3_mem_methods *m = store_sqlite_mem_methods();
	static const int asks[] = { 1, 8, 31, 32, 33, 64, 100, 200, 300, 512, 513, 4096, 70000 };

	(void)state;
	for (size_t i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		unsigned char *p = m->xMalloc(asks[i]);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 16, 0);
		assert_true(m->xSize(p) >= asks[i]);
		assert_int_equal(m->xSize(p), m->xRoundup(asks[i]));
		memset(p, 0xa5, (size_t)m->xSize(p)); /* the whole reported size is ours (ASan checks) */
		m->xFree(p);
	}
	assert_int_equal(m->xRoundup(40), 64);
	assert_int_equal(m->xRoundup(512), 512);
	assert_int_equal(m->xRoundup(513), 528);
	m->xFree(NULL);
	assert_int_equal(m->xSize(NULL), 0);
}

static void small_blocks_are_reused(void **state)
{
	const sqlite3_mem_methods *m = store_sqlite_mem_methods();

	(void)state;
	void *a = m->xMalloc(40);
	m->xFree(a);
	void *b = m->xMalloc(60); /* same class: the block just freed */
	assert_ptr_equal(a, b);
	void *c = m->xMalloc(20); /* another class: another block */
	assert_ptr_not_equal(b, c);
	m->xFree(b);
	m->xFree(c);
}

static void realloc_keeps_content(void **state)
{
	const sqlite3_mem_methods *m = store_sqlite_mem_methods();
	char *p = m->xMalloc(20);

	(void)state;
	for (int i = 0; i < 20; i++)
		p[i] = (char)i;
	char *q = m->xRealloc(p, 30); /* fits its class: the same block */
	assert_ptr_equal(p, q);
	q = m->xRealloc(q, 1000); /* to a large block */
	for (int i = 0; i < 20; i++)
		assert_int_equal(q[i], i);
	q[999] = 'x';
	q = m->xRealloc(q, 100000);
	for (int i = 0; i < 20; i++)
		assert_int_equal(q[i], i);
	assert_int_equal(q[999], 'x');
	q = m->xRealloc(q, 10); /* back to a small one */
	for (int i = 0; i < 10; i++)
		assert_int_equal(q[i], i);
	assert_int_equal(m->xSize(q), 32);
	m->xFree(q);
	q = m->xRealloc(NULL, 8);
	assert_non_null(q);
	m->xFree(q);
}

/* More frees than a list keeps: the surplus goes back to malloc (ASan and
 * LeakSanitizer would report a block lost or freed twice). */
static void lists_are_bounded(void **state)
{
	const sqlite3_mem_methods *m = store_sqlite_mem_methods();
	void *p[600];

	(void)state;
	for (int i = 0; i < 600; i++)
		assert_non_null(p[i] = m->xMalloc(100));
	for (int i = 0; i < 600; i++)
		m->xFree(p[i]);
	for (int i = 0; i < 600; i++)
		assert_non_null(p[i] = m->xMalloc(100));
	for (int i = 0; i < 600; i++)
		m->xFree(p[i]);
}

static void *free_them(void *arg)
{
	void **p = arg;
	const sqlite3_mem_methods *m = store_sqlite_mem_methods();

	for (int i = 0; i < 300; i++)
		m->xFree(p[i]);
	/* and some of its own, left in its lists when it ends */
	for (int i = 0; i < 10; i++)
		m->xFree(m->xMalloc(50));
	return NULL;
}

static void freed_on_another_thread(void **state)
{
	const sqlite3_mem_methods *m = store_sqlite_mem_methods();
	void *p[300];
	pthread_t t;

	(void)state;
	for (int i = 0; i < 300; i++)
		assert_non_null(p[i] = m->xMalloc(i % 2 ? 24 : 200));
	assert_int_equal(pthread_create(&t, NULL, free_them, p), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_and_alignment),
		cmocka_unit_test(small_blocks_are_reused),
		cmocka_unit_test(realloc_keeps_content),
		cmocka_unit_test(lists_are_bounded),
		cmocka_unit_test(freed_on_another_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
