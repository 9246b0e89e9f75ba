/* SQLite's memory allocator for the store: small blocks come from per-thread
 * free lists, larger ones straight from malloc. SQLite as Debian builds it has
 * no lookaside allocator (OMIT_LOOKASIDE), so each query would otherwise cost
 * a malloc/free pair per text column it copies out (about 18 pairs for one
 * credentials lookup). A block freed on another thread than the one that took
 * it simply joins that thread's list; each list keeps at most LIST_CAP blocks
 * and a thread's lists go back to malloc when the thread ends. */
#include "store/sqlite_mem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every block starts with this header; the caller's bytes follow it, 16-byte
 * aligned as malloc's own. */
struct hdr {
	uint32_t size;  /**< usable bytes after the header */
	uint32_t klass; /**< size class, or NO_CLASS for a plain malloc block */
	uint64_t pad;
};
_Static_assert(sizeof(struct hdr) == 16, "header keeps 16-byte alignment");

#define NCLASSES 5 /* 32, 64, 128, 256, 512 bytes */
#define MIN_SHIFT 5
#define NO_CLASS UINT32_MAX
#define LIST_CAP 128

struct free_block {
	struct free_block *next;
};

struct lists {
	struct free_block *head[NCLASSES];
	unsigned n[NCLASSES];
};

static __thread struct lists *tl;
static pthread_key_t lists_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void lists_release(void *arg)
{
	struct lists *l = arg;

	tl = NULL; /* a later free on this thread goes to malloc's */
	for (unsigned c = 0; c < NCLASSES; c++) {
		while (l->head[c]) {
			struct free_block *b = l->head[c];
			l->head[c] = b->next;
			free((struct hdr *)b - 1);
		}
	}
	free(l);
}

static void key_init(void)
{
	(void)pthread_key_create(&lists_key, lists_release);
}

/* This thread's lists, created on first use; NULL when out of memory. */
static struct lists *my_lists(void)
{
	if (tl)
		return tl;
	pthread_once(&key_once, key_init);
	tl = calloc(1, sizeof(*tl));
	if (tl && pthread_setspecific(lists_key, tl) != 0) {
		free(tl);
		tl = NULL;
	}
	return tl;
}

static uint32_t class_of(size_t n)
{
	uint32_t c = 0;

	while (c < NCLASSES && ((size_t)1 << (c + MIN_SHIFT)) < n)
		c++;
	return c < NCLASSES ? c : NO_CLASS;
}

static void *mem_malloc(int n)
{
	size_t want = n > 0 ? (size_t)n : 1;
	uint32_t c = class_of(want);
	struct hdr *h;

	if (c != NO_CLASS) {
		struct lists *l = my_lists();
		if (l && l->head[c]) {
			struct free_block *b = l->head[c];
			l->head[c] = b->next;
			l->n[c]--;
			return b;
		}
		want = (size_t)1 << (c + MIN_SHIFT);
	} else {
		want = (want + 15) & ~(size_t)15;
		if (want > UINT32_MAX - sizeof(*h))
			return NULL;
	}
	h = malloc(sizeof(*h) + want);
	if (!h)
		return NULL;
	h->size = (uint32_t)want;
	h->klass = c;
	return h + 1;
}

static void mem_free(void *p)
{
	if (!p)
		return;
	struct hdr *h = (struct hdr *)p - 1;
	uint32_t c = h->klass;

	if (c != NO_CLASS) {
		struct lists *l = my_lists();
		if (l && l->n[c] < LIST_CAP) {
			struct free_block *b = p;
			b->next = l->head[c];
			l->head[c] = b;
			l->n[c]++;
			return;
		}
	}
	free(h);
}

static int mem_size(void *p)
{
	return p ? (int)((struct hdr *)p - 1)->size : 0;
}

static void *mem_realloc(void *p, int n)
{
	if (!p)
		return mem_malloc(n);
	size_t want = n > 0 ? (size_t)n : 1;
	struct hdr *h = (struct hdr *)p - 1;

	if (want <= h->size && (h->klass != NO_CLASS || want > h->size / 2))
		return p;
	void *q = mem_malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, want < h->size ? want : h->size);
	mem_free(p);
	return q;
}

static int mem_roundup(int n)
{
	size_t want = n > 0 ? (size_t)n : 1;
	uint32_t c = class_of(want);

	if (c != NO_CLASS)
		return 1 << (c + MIN_SHIFT);
	want = (want + 15) & ~(size_t)15;
	return want > INT32_MAX ? n : (int)want;
}

static int mem_init(void *arg)
{
	(void)arg;
	return SQLITE_OK;
}

static void mem_shutdown(void *arg)
{
	(void)arg;
}

static const sqlite3_mem_methods methods = {
	.xMalloc = mem_malloc,
	.xFree = mem_free,
	.xRealloc = mem_realloc,
	.xSize = mem_size,
	.xRoundup = mem_roundup,
	.xInit = mem_init,
	.xShutdown = mem_shutdown,
};

const sqlite3_mem_methods *store_sqlite_mem_methods(void)
{
	return &methods;
}
