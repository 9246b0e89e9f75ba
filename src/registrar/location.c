/* The location table: AOR records in 64 independently locked shards, each a
 * hash table of chains that doubles when it fills. Records and bindings come
 * from the shard's slab (loc_slab.c) at their exact size; a binding keeps its
 * strings inline, so one binding is one allocation, except the User-Agent,
 * kept once per shard and counted by its bindings. */
#include <errno.h>
#include <stddef.h>
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

static size_t aor_size(size_t key_len)
{
	return offsetof(struct aor_rec, key) + key_len;
}

static void free_bindings(struct loc_shard *sh, struct binding *b)
{
	while (b) {
		struct binding *n = b->next;
		binding_free(sh, b);
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
				free_bindings(sh, r->bindings);
				loc_slab_free(&sh->slab, r, aor_size(r->key_len));
				r = n;
			}
		}
		free(sh->buckets);
		free(sh->ua);
		loc_slab_fini(&sh->slab);
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
	uint32_t h = (uint32_t)(hash / LOC_SHARDS);

	for (struct aor_rec *r = sh->buckets[h & (sh->nbuckets - 1)]; r; r = r->next)
		if (r->hash == h && r->key_len == key.len && strncasecmp(r->key, key.p, key.len) == 0)
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
			size_t b = r->hash & (n - 1);
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

	if (key.len > UINT8_MAX)
		return NULL;
	r = loc_slab_alloc(&sh->slab, aor_size(key.len));
	if (!r)
		return NULL;
	r->bindings = NULL;
	r->hash = (uint32_t)(hash / LOC_SHARDS);
	r->nbindings = 0;
	r->key_len = (uint8_t)key.len;
	r->dirty = false;
	memcpy(r->key, key.p, key.len);
	if (sh->count + 1 > sh->nbuckets)
		grow(sh);
	size_t b = r->hash & (sh->nbuckets - 1);
	r->next = sh->buckets[b];
	sh->buckets[b] = r;
	sh->count++;
	return r;
}

void location_remove(struct loc_shard *sh, struct aor_rec *rec)
{
	size_t b = rec->hash & (sh->nbuckets - 1);

	for (struct aor_rec **pp = &sh->buckets[b]; *pp; pp = &(*pp)->next) {
		if (*pp == rec) {
			*pp = rec->next;
			sh->count--;
			sh->nbindings -= rec->nbindings;
			free_bindings(sh, rec->bindings);
			loc_slab_free(&sh->slab, rec, aor_size(rec->key_len));
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
			binding_free(sh, b);
			rec->nbindings--;
			sh->nbindings--;
			n++;
		} else {
			pp = &b->next;
		}
	}
	return n;
}

bool registrar_received_pack(struct slice t, uint8_t out[7])
{
	static const char protos[3][5] = { "udp:", "tcp:", "tls:" };
	size_t i = 4;
	unsigned proto = 0;

	if (t.len < 4 + 7 + 2)
		return false;
	for (unsigned k = 0; k < 3; k++)
		if (memcmp(t.p, protos[k], 4) == 0)
			proto = k + 1;
	if (!proto)
		return false;
	out[0] = (uint8_t)proto;
	for (unsigned part = 0; part < 5; part++) {
		unsigned v = 0, digits = 0, max = part < 4 ? 255 : 65535;
		while (i < t.len && t.p[i] >= '0' && t.p[i] <= '9' && digits < 6) {
			v = v * 10 + (unsigned)(t.p[i] - '0');
			digits++;
			i++;
		}
		/* no leading zeros, in range, the right separator after it */
		if (digits == 0 || v > max || (digits > 1 && t.p[i - digits] == '0'))
			return false;
		if (part < 4) {
			if (i >= t.len || t.p[i] != (part < 3 ? '.' : ':'))
				return false;
			i++;
			out[1 + part] = (uint8_t)v;
		} else {
			if (i != t.len || v == 0)
				return false;
			out[5] = (uint8_t)(v >> 8);
			out[6] = (uint8_t)v;
		}
	}
	return true;
}

static char *put_uint(char *p, unsigned v)
{
	char tmp[5];
	unsigned n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

size_t binding_received(const struct binding *b, char *buf)
{
	const char *src = b->data + b->contact_len + b->callid_len;
	size_t n = binding_received_stored(b);

	if (!(b->received_len & LOC_RECEIVED_PACKED)) {
		memcpy(buf, src, n);
		buf[n] = '\0';
		return n;
	}
	static const char protos[3][4] = { "udp", "tcp", "tls" };
	const uint8_t *u = (const uint8_t *)src;
	char *p = buf;
	memcpy(p, protos[(u[0] - 1) % 3], 3);
	p += 3;
	*p++ = ':';
	for (unsigned k = 0; k < 4; k++) {
		p = put_uint(p, u[1 + k]);
		*p++ = k < 3 ? '.' : ':';
	}
	p = put_uint(p, (unsigned)u[5] << 8 | u[6]);
	*p = '\0';
	return (size_t)(p - buf);
}

/* The slot of ua in the shard's table, taken (refs + 1) or added; -1 when
 * the table is full or out of memory (the caller then stores ua inline). */
static int ua_ref(struct loc_shard *sh, struct slice ua)
{
	uint32_t h = (uint32_t)base_hash_words(ua.p, ua.len);
	int free_slot = -1;

	if (!sh->ua) {
		sh->ua = calloc(LOC_UA_SLOTS, sizeof(*sh->ua));
		if (!sh->ua)
			return -1;
	}
	for (unsigned i = 0; i < sh->ua_top; i++) {
		struct loc_ua *u = sh->ua[i];
		if (!u) {
			if (free_slot < 0)
				free_slot = (int)i;
		} else if (u->hash == h && u->len == ua.len && memcmp(u->text, ua.p, ua.len) == 0) {
			u->refs++;
			return (int)i;
		}
	}
	if (free_slot < 0) {
		if (sh->ua_top == LOC_UA_SLOTS)
			return -1;
		free_slot = (int)sh->ua_top++;
	}
	struct loc_ua *u = loc_slab_alloc(&sh->slab, offsetof(struct loc_ua, text) + ua.len);
	if (!u)
		return -1;
	u->hash = h;
	u->refs = 1;
	u->len = (uint8_t)ua.len;
	memcpy(u->text, ua.p, ua.len);
	sh->ua[free_slot] = u;
	return free_slot;
}

static void ua_unref(struct loc_shard *sh, unsigned slot)
{
	struct loc_ua *u = sh->ua[slot];

	if (--u->refs)
		return;
	loc_slab_free(&sh->slab, u, offsetof(struct loc_ua, text) + u->len);
	sh->ua[slot] = NULL;
	while (sh->ua_top && !sh->ua[sh->ua_top - 1])
		sh->ua_top--;
}

struct slice binding_ua(const struct loc_shard *sh, const struct binding *b)
{
	const char *p = b->data + b->contact_len + b->callid_len + binding_received_stored(b);

	if (b->ua_len != LOC_UA_SHARED)
		return slice_from(p, b->ua_len);
	const struct loc_ua *u = sh->ua[(uint8_t)*p];
	return slice_from(u->text, u->len);
}

struct binding *binding_new(struct loc_shard *sh, struct slice contact, struct slice callid, struct slice received,
			    struct slice ua, uint32_t cseq, int64_t expires, int q)
{
	if (contact.len > SW_MAX_CONTACT_URI || callid.len > LOC_MAX_CALLID || received.len > LOC_MAX_RECEIVED)
		return NULL;
	if (ua.len > LOC_MAX_UA)
		ua.len = LOC_MAX_UA;
	uint8_t packed[7];
	bool pack = registrar_received_pack(received, packed);
	if (pack)
		received = slice_from((const char *)packed, sizeof(packed));
	int ua_slot = ua.len ? ua_ref(sh, ua) : -1;
	char slot_byte = (char)ua_slot;
	if (ua_slot >= 0)
		ua = slice_from(&slot_byte, 1);
	struct binding *b = loc_slab_alloc(&sh->slab, offsetof(struct binding, data) + contact.len + callid.len +
							      received.len + ua.len);
	if (!b) {
		if (ua_slot >= 0)
			ua_unref(sh, (unsigned)ua_slot);
		return NULL;
	}
	b->next = NULL;
	b->expires = expires < 0 ? 0 : expires > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)expires;
	b->cseq = cseq;
	b->branch_hash = 0;
	b->q = (int16_t)q;
	b->contact_len = (uint16_t)contact.len;
	b->callid_len = (uint8_t)callid.len;
	b->received_len = (uint8_t)(received.len | (pack ? LOC_RECEIVED_PACKED : 0));
	b->ua_len = ua_slot >= 0 ? LOC_UA_SHARED : (uint8_t)ua.len;
	char *p = b->data;
	if (contact.len)
		memcpy(p, contact.p, contact.len);
	p += contact.len;
	if (callid.len)
		memcpy(p, callid.p, callid.len);
	p += callid.len;
	if (received.len)
		memcpy(p, received.p, received.len);
	p += received.len;
	if (ua.len)
		memcpy(p, ua.p, ua.len);
	return b;
}

void binding_free(struct loc_shard *sh, struct binding *b)
{
	if (!b)
		return;
	if (b->ua_len == LOC_UA_SHARED)
		ua_unref(sh, (uint8_t)b->data[binding_size(b) - offsetof(struct binding, data) - 1]);
	loc_slab_free(&sh->slab, b, binding_size(b));
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
	return (uint32_t)base_hash_words(branch.p, branch.len) | 1u;
}

_Static_assert(LOC_MAX_RECEIVED < sizeof(((struct store_contact *)0)->received),
	       "binding_received() writes into a store_contact");
