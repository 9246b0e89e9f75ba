/* Private to src/registrar: location tables and their records. */
#ifndef SW_REG_INT_H
#define SW_REG_INT_H

#include <pthread.h>

#include "registrar/registrar.h"

/* One binding, with its strings stored inline after the struct:
 * contact | call-id | received | user-agent (no terminators). */
struct binding {
	struct binding *next;
	int64_t expires;           /**< absolute UNIX seconds */
	uint32_t cseq;
	uint32_t branch_hash;      /**< Via branch of the REGISTER that set it */
	int16_t q;                 /**< q * 1000, -1 when absent */
	uint16_t contact_len, callid_len, received_len, ua_len;
	char data[];
};

static inline const char *binding_contact(const struct binding *b)
{
	return b->data;
}
static inline const char *binding_callid(const struct binding *b)
{
	return b->data + b->contact_len;
}
static inline const char *binding_received(const struct binding *b)
{
	return b->data + b->contact_len + b->callid_len;
}
static inline const char *binding_ua(const struct binding *b)
{
	return b->data + b->contact_len + b->callid_len + b->received_len;
}

struct aor_rec {
	struct aor_rec *next;      /**< hash chain */
	struct binding *bindings;
	uint64_t hash;
	uint16_t nbindings;
	bool dirty;                /**< queued for write-back */
	uint16_t key_len;
	char key[];                /**< "user@domain", domain lower-case */
};

#define LOC_SHARDS 64

struct loc_shard {
	pthread_mutex_t lock;
	struct aor_rec **buckets;
	size_t nbuckets;
	size_t count;
	uint64_t nbindings;
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
struct binding *binding_new(struct slice contact, struct slice callid, struct slice received, struct slice ua,
			    uint32_t cseq, int64_t expires, int q);
uint32_t binding_branch_hash(struct slice branch);
/* Walk every shard dropping expired bindings and empty AORs. */
void location_sweep(struct location *loc, int64_t now);

/* Write-back persistence. */
struct persist;
int persist_start(struct persist **out, struct location *loc, const char *db_url, unsigned interval_ms,
		  struct auth_pinq *pins);
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
