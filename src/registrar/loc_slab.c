/* The location table's allocator: one per shard, used under the shard's lock.
 * Blocks of LOC_SLAB_BLOCK bytes are carved in 8-byte steps, so an AOR record
 * or a binding costs its exact size rounded up to 8 (no per-allocation header,
 * no 16-byte rounding, nothing interleaved with short-lived allocations of the
 * request path); freed pieces go to a free list per size and are reused by
 * the next piece of that size. Memory stays with the table until shutdown. */
#include <stdint.h>
#include <stdlib.h>

#include "registrar/reg_int.h"

/* Under AddressSanitizer, free pieces and unused block space are poisoned so
 * that a use after free is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#define LOC_SLAB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOC_SLAB_ASAN 1
#endif
#endif
#ifdef LOC_SLAB_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define LOC_SLAB_BLOCK (64u * 1024u)

static size_t round8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

/* A piece that is left over at the end of a block joins its size's list. */
static void put_free(struct loc_slab *s, void *p, size_t size)
{
	if (size < sizeof(void *))
		return;
	UNPOISON(p, sizeof(void *));
	*(void **)p = s->free[size / 8u];
	s->free[size / 8u] = p;
	POISON(p, size);
}

void *loc_slab_alloc(struct loc_slab *s, size_t want)
{
	size_t size = round8(want ? want : 1);

	if (size > LOC_SLAB_MAX) {
		void *p = malloc(size);
		if (p)
			s->bytes += size;
		return p;
	}
	void *p = s->free[size / 8u];
	if (p) {
		UNPOISON(p, sizeof(void *));
		s->free[size / 8u] = *(void **)p;
		POISON(p, size);
		UNPOISON(p, want);
		s->bytes += size;
		return p;
	}
	if (s->left < size) {
		/* The first 8 bytes of a block link it into the list freed at the end. */
		char *blk = malloc(LOC_SLAB_BLOCK);
		if (!blk)
			return NULL;
		if (s->left)
			put_free(s, s->cur, s->left);
		*(void **)blk = s->blocks;
		s->blocks = blk;
		s->cur = blk + 8;
		s->left = LOC_SLAB_BLOCK - 8;
		s->reserved += LOC_SLAB_BLOCK;
		POISON(s->cur, s->left);
	}
	p = s->cur;
	UNPOISON(p, want);
	s->cur += size;
	s->left -= size;
	s->bytes += size;
	return p;
}

void loc_slab_free(struct loc_slab *s, void *p, size_t size)
{
	if (!p)
		return;
	size = round8(size ? size : 1);
	s->bytes -= size;
	if (size > LOC_SLAB_MAX) {
		free(p);
		return;
	}
	POISON(p, size);
	put_free(s, p, size);
}

void loc_slab_fini(struct loc_slab *s)
{
	void *b = s->blocks;

	while (b) {
		void *n = *(void **)b;
		UNPOISON(b, LOC_SLAB_BLOCK);
		free(b);
		b = n;
	}
	s->blocks = NULL;
	s->cur = NULL;
	s->left = 0;
}
