/* Private to src/registrar: location tables and their records. */
#ifndef SW_REG_INT_H
#define SW_REG_INT_H

#include <pthread.h>
#include <stddef.h>

#include "registrar/registrar.h"

/* One binding: a fixed 27-byte head, then its strings packed without
 * terminators: contact | call-id | received | user-agent. Allocated at its
 * exact size (binding_size) from the shard's slab, so no padding is stored:
 * the head's fields are laid out largest first and data[] starts at byte 27.
 * A received source "udp|tcp|tls:A.B.C.D:PORT" in canonical form is kept in 7
 * bytes (protocol, address, port) and given back as the same text. A
 * User-Agent is kept once per shard (phones of one make share one string) and
 * the binding holds its one-byte slot; when the shard's table is full, inline. */
struct binding {
	struct binding *next;
	uint32_t expires;          /**< absolute UNIX seconds (unsigned: to 2106) */
	uint32_t cseq;
	uint32_t branch_hash;      /**< Via branch of the REGISTER that set it */
	int16_t q;                 /**< q * 1000, -1 when absent */
	uint16_t contact_len;      /**< <= SW_MAX_CONTACT_URI */
	uint8_t callid_len;        /**< <= LOC_MAX_CALLID */
	uint8_t received_len;      /**< bytes stored, LOC_RECEIVED_PACKED set: the 7-byte form */
	uint8_t ua_len;            /**< <= LOC_MAX_UA (longer ones are cut), or LOC_UA_SHARED: one slot byte */
	char data[];
};

/* Longest strings a binding keeps (the store's columns hold as much). */
#define LOC_MAX_CALLID 255
#define LOC_MAX_RECEIVED 127
#define LOC_MAX_UA 127
#define LOC_RECEIVED_PACKED 0x80u
#define LOC_UA_SHARED 0xffu

static inline size_t binding_received_stored(const struct binding *b)
{
	return b->received_len & ~LOC_RECEIVED_PACKED;
}
static inline size_t binding_ua_stored(const struct binding *b)
{
	return b->ua_len == LOC_UA_SHARED ? 1 : b->ua_len;
}
static inline size_t binding_size(const struct binding *b)
{
	return offsetof(struct binding, data) + (size_t)b->contact_len + b->callid_len + binding_received_stored(b) +
	       binding_ua_stored(b);
}
static inline const char *binding_contact(const struct binding *b)
{
	return b->data;
}
static inline const char *binding_callid(const struct binding *b)
{
	return b->data + b->contact_len;
}
/* The received source as text into buf (LOC_MAX_RECEIVED + 1 bytes, NUL
 * terminated); returns its length. */
size_t binding_received(const struct binding *b, char *buf);
struct loc_shard;
/* The User-Agent (empty when none); valid while the binding is, shard locked. */
struct slice binding_ua(const struct loc_shard *sh, const struct binding *b);

/* One address-of-record: a 24-byte head and its key, exact size. */
struct aor_rec {
	struct aor_rec *next;      /**< hash chain */
	struct binding *bindings;
	uint32_t hash;             /**< location_hash() / LOC_SHARDS, truncated: picks the bucket */
	uint16_t nbindings;
	uint8_t key_len;
	bool dirty;                /**< queued for write-back */
	char key[];                /**< "user@domain", domain lower-case, no terminator */
};

#define LOC_SHARDS 64

/* Per-shard allocator for AOR records and bindings (loc_slab.c): pieces of up
 * to LOC_SLAB_MAX bytes in 8-byte steps, carved from 64 KiB blocks, reused
 * through a free list per size. Only used with the shard locked. */
#define LOC_SLAB_MAX 1056
struct loc_slab {
	char *cur;                 /**< unused rest of the newest block */
	size_t left;
	void *blocks;              /**< every block, linked through its first word */
	void *free[LOC_SLAB_MAX / 8 + 1];
	uint64_t bytes;            /**< handed out and not freed */
	uint64_t reserved;         /**< in blocks */
};
void *loc_slab_alloc(struct loc_slab *s, size_t size);
void loc_slab_free(struct loc_slab *s, void *p, size_t size);
void loc_slab_fini(struct loc_slab *s);

/* A User-Agent string shared by a shard's bindings, freed with its last one. */
struct loc_ua {
	uint32_t hash;
	uint32_t refs;
	uint8_t len;
	char text[];
};
/* User-Agent slots per shard: few makes and versions in one deployment; a
 * shard with all of them taken stores new strings inline. */
#define LOC_UA_SLOTS 127

struct loc_shard {
	pthread_mutex_t lock;
	struct aor_rec **buckets;
	size_t nbuckets;
	size_t count;
	uint64_t nbindings;
	struct loc_slab slab;
	struct loc_ua **ua;        /**< LOC_UA_SLOTS, allocated with the first one */
	unsigned ua_top;           /**< slots below this may be in use */
};

struct location {
	struct loc_shard shards[LOC_SHARDS];
};

int location_init(struct location *loc);
void location_fini(struct location *loc);
struct loc_shard *location_shard(struct location *loc, uint64_t hash);
uint64_t location_hash(struct slice key);
/* With the shard locked: find or create (create may fail with NULL). */
struct aor_rec *location_find(struct loc_shard *sh, struct slice key, uint64_t hash);
struct aor_rec *location_create(struct loc_shard *sh, struct slice key, uint64_t hash);
/* With the shard locked: unlink and free an AOR with no bindings. */
void location_remove(struct loc_shard *sh, struct aor_rec *rec);
/* With the shard locked: drop bindings expired at now; returns how many. */
unsigned location_expire(struct loc_shard *sh, struct aor_rec *rec, int64_t now);
/* With the shard locked: a binding from the shard's slab (NULL when a string
 * is too long or memory is short), freed with binding_free. */
struct binding *binding_new(struct loc_shard *sh, struct slice contact, struct slice callid, struct slice received,
			    struct slice ua, uint32_t cseq, int64_t expires, int q);
void binding_free(struct loc_shard *sh, struct binding *b);
uint32_t binding_branch_hash(struct slice branch);
/* Walk every shard dropping expired bindings and empty AORs. */
void location_sweep(struct location *loc, int64_t now);

/* Write-back persistence. With write_bindings false the thread only sweeps
 * expired bindings and writes the first-use records (pins). */
struct persist;
int persist_start(struct persist **out, struct location *loc, const char *db_url, unsigned interval_ms,
		  struct auth_pinq *pins, bool write_bindings);
/* Load unexpired bindings from the store into loc (before persist_start). */
int persist_load(struct location *loc, const char *db_url, int64_t now);
/* With rec's shard locked: queue rec for write-back (idempotent). */
void persist_mark(struct persist *p, struct aor_rec *rec);
void persist_stop(struct persist *p);

struct registrar {
	struct registrar_cfg cfg;
	struct location loc;
	struct persist *persist;
};

/* Apply the Contact headers of an authenticated REGISTER to aor
 * (RFC 3261 §10.3 steps 6-8) and list the resulting bindings in rep. */
void registrar_save(struct registrar *r, const struct registrar_req *req, struct slice aor,
		    struct registrar_reply *rep);

#endif
