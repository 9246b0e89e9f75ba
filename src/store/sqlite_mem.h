/* SQLite's allocator for the store (sqlite_mem.c): small blocks from
 * per-thread free lists. Installed once, before SQLite's first use. */
#ifndef SW_STORE_SQLITE_MEM_H
#define SW_STORE_SQLITE_MEM_H

#include <sqlite3.h>

const sqlite3_mem_methods *store_sqlite_mem_methods(void);

#endif
