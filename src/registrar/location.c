/* The location table: AOR records in 64 independently locked shards, each an
 * open hash table of chains that doubles when it fills. Bindings keep their
 * strings inline so one binding is one allocation. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "registrar/reg_int.h"

int location_init(struct location *loc)
{
	memset(loc, 0, sizeof(*loc));
	for (unsigned i = 0; i < LOC_SHARDS; i++) {
		struct loc_shard *sh = &loc->shards[i];
		pthread_mutex_init(&sh->lock, NULL);
		sh->nbuckets = 256;
		sh->buckets = calloc(sh->nbuckets, sizeof(*sh->buckets));
		if (!sh->buckets)
			return -ENOMEM;
	}
	return 0;
}

static void free_bindings(struct binding *b)
{
	while (b) {
		struct binding *n = b->next;
		free(b);
		b = n;
	}
}

void location_fini(struct location *loc)
{
	for (unsigned i = 0; i < LOC_SHARDS; i++) {
		struct loc_shard *sh = &loc->shards[i];
		for (size_t j = 0; sh->buckets && j < sh->nbuckets; j++) {
			struct aor_rec *r = sh->buckets[j];
			while (r) {
				struct aor_rec *n = r->next;
				free_bindings(r->bindings);
				free(r);
				r = n;
			}
		}
		free(sh->buckets);
		pthread_mutex_destroy(&sh->lock);
	}
}

uint64_t location_hash(struct slice key)
{
	return base_hash_lower(key.p, key.len);
}

struct loc_shard *location_shard(struct location *loc, uint64_t hash)
{
	return &loc->shards[hash % LOC_SHARDS];
}

struct aor_rec *location_find(struct loc_shard *sh, struct slice key, uint64_t hash)
{
	size_t b = (hash / LOC_SHARDS) & (sh->nbuckets - 1);

	for (struct aor_rec *r = sh->buckets[b]; r; r = r->next)
		if (r->hash == hash && r->key_len == key.len && strncasecmp(r->key, key.p, key.len) == 0)
			return r;
	return NULL;
}

static void grow(struct loc_shard *sh)
{
	size_t n = sh->nbuckets * 2;
	struct aor_rec **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return; /* keep working with longer chains */
	for (size_t i = 0; i < sh->nbuckets; i++) {
		struct aor_rec *r = sh->buckets[i];
		while (r) {
			struct aor_rec *next = r->next;
			size_t b = (r->hash / LOC_SHARDS) & (n - 1);
			r->next = nb[b];
			nb[b] = r;
			r = next;
		}
	}
	free(sh->buckets);
	sh->buckets = nb;
	sh->nbuckets = n;
}

struct aor_rec *location_create(struct loc_shard *sh, struct slice key, uint64_t hash)
{
	struct aor_rec *r;

	if (key.len > UINT16_MAX)
		return NULL;
	r = calloc(1, sizeof(*r) + key.len + 1);
	if (!r)
		return NULL;
	r->hash = hash;
	r->key_len = (uint16_t)key.len;
	memcpy(r->key, key.p, key.len);
	if (sh->count + 1 > sh->nbuckets)
		grow(sh);
	size_t b = (hash / LOC_SHARDS) & (sh->nbuckets - 1);
	r->next = sh->buckets[b];
	sh->buckets[b] = r;
	sh->count++;
	return r;
}

void location_remove(struct loc_shard *sh, struct aor_rec *rec)
{
	size_t b = (rec->hash / LOC_SHARDS) & (sh->nbuckets - 1);

	for (struct aor_rec **pp = &sh->buckets[b]; *pp; pp = &(*pp)->next) {
		if (*pp == rec) {
			*pp = rec->next;
			sh->count--;
			sh->nbindings -= rec->nbindings;
			free_bindings(rec->bindings);
			free(rec);
			return;
		}
	}
}

unsigned location_expire(struct loc_shard *sh, struct aor_rec *rec, int64_t now)
{
	unsigned n = 0;

	for (struct binding **pp = &rec->bindings; *pp;) {
		struct binding *b = *pp;
		if (b->expires <= now) {
			*pp = b->next;
			free(b);
			rec->nbindings--;
			sh->nbindings--;
			n++;
		} else {
			pp = &b->next;
		}
	}
	return n;
}

struct binding *binding_new(struct slice contact, struct slice callid, struct slice received, struct slice ua,
			    uint32_t cseq, int64_t expires, int q)
{
	if (contact.len > SW_MAX_CONTACT_URI || callid.len > 255 || received.len > 127)
		return NULL;
	if (ua.len > 127)
		ua.len = 127;
	struct binding *b = malloc(sizeof(*b) + contact.len + callid.len + received.len + ua.len);
	if (!b)
		return NULL;
	b->next = NULL;
	b->expires = expires;
	b->cseq = cseq;
	b->branch_hash = 0;
	b->q = (int16_t)q;
	b->contact_len = (uint16_t)contact.len;
	b->callid_len = (uint16_t)callid.len;
	b->received_len = (uint16_t)received.len;
	b->ua_len = (uint16_t)ua.len;
	char *p = b->data;
	memcpy(p, contact.p, contact.len);
	p += contact.len;
	memcpy(p, callid.p, callid.len);
	p += callid.len;
	memcpy(p, received.p, received.len);
	p += received.len;
	if (ua.len)
		memcpy(p, ua.p, ua.len);
	return b;
}

void location_sweep(struct location *loc, int64_t now)
{
	for (unsigned i = 0; i < LOC_SHARDS; i++) {
		struct loc_shard *sh = &loc->shards[i];
		pthread_mutex_lock(&sh->lock);
		for (size_t j = 0; j < sh->nbuckets; j++) {
			struct aor_rec *r = sh->buckets[j];
			while (r) {
				struct aor_rec *next = r->next;
				location_expire(sh, r, now);
				/* Dirty records are kept until written back. */
				if (!r->bindings && !r->dirty)
					location_remove(sh, r);
				r = next;
			}
		}
		pthread_mutex_unlock(&sh->lock);
	}
}

uint32_t binding_branch_hash(struct slice branch)
{
	return (uint32_t)base_hash(branch.p, branch.len) | 1u;
}
