/* SQLite's process-wide settings made by the store (store/sqlite.c): once a
 * store is open, SQLite keeps no memory statistics (with them, every
 * allocation of every connection takes one global mutex that the workers and
 * the write-back thread contend for), and it allocates with the store's own
 * allocator (store/sqlite_mem.c). With statistics on, the memory in use by
 * the open connection would read above zero; with SQLite's default
 * allocator a 40-byte request would report 40 bytes, not its class's 64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store/store.h"

static void settings_made_once_a_store_is_open(void **state)
{
	char dir[] = "/tmp/sw-memstat-XXXXXX";
	char url[128], path[96];
	struct store *s = NULL;
	sqlite3_int64 cur = -1, hi = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	assert_int_equal(store_open(&s, url), 0);
	assert_int_equal(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0), SQLITE_OK);
	assert_int_equal(cur, 0);
	assert_int_equal(hi, 0);
	void *p = sqlite3_malloc(40);
	assert_non_null(p);
	assert_int_equal(sqlite3_msize(p), 64);
	sqlite3_free(p);
	store_close(s);
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char f[128];
		snprintf(f, sizeof(f), "%s%s", path, suffixes[i]);
		unlink(f);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(settings_made_once_a_store_is_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
