/* The store layer's door: subscribers (Kamailio-compatible `subscriber` table
 * plus `status`) and persisted registrations (`location` table), behind one
 * interface with pluggable backends. A struct store is NOT thread-safe: open
 * one per thread. Every function returns 0 or a negative errno:
 *   -ENOENT  no such row
 *   -EEXIST  row already exists (add)
 *   -EINVAL  bad argument (over-long name, bad URL)
 *   -EAGAIN  backend busy/locked (retry later; answer 503 + Retry-After)
 *   -EIO     backend unavailable or failed (answer 500/503)
 * Secrets returned in struct store_cred must be wiped by the caller
 * (store_cred_wipe) once used. */
#ifndef SW_STORE_H
#define SW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "base/slice.h"

struct store;

/* Hash families that each have their own HA1 and userhash columns (RFC 7616
 * §3.4.2 and §3.4.4, RFC 8760); the -sess forms share their base's column. */
enum store_hash { STORE_HASH_MD5, STORE_HASH_SHA256, STORE_HASH_SHA512_256, STORE_HASH__COUNT };

/* Digest strength ranks stored in subscriber.min_algo and subscriber.auth_pin:
 * -1 none recorded, 0 MD5, 1 SHA-256, 2 SHA-512-256 (equal to enum store_hash). */
#define STORE_RANK_NONE (-1)

/* Extra subscriber columns loaded with the credentials, in the same query (the
 * idea of Kamailio's auth_db load_credentials, seed 001): at most 8, because
 * each costs a copy on every authentication and a policy needs a handful at
 * most; names of at most 32 characters ([A-Za-z_][A-Za-z0-9_]*, no secret
 * column); values of at most 128 bytes (a longer one is marked unusable, never
 * cut). */
#define STORE_MAX_EXTRA_COLS 8
#define STORE_COLUMN_NAME_MAX 32
#define STORE_EXTRA_VALUE_MAX 128

struct store_cred {
	char username[SW_MAX_USER + 1];
	char domain[SW_MAX_DOMAIN + 1];
	char password[SW_MAX_PASSWORD + 1]; /**< cleartext, "" unless stored */
	char ha1[SW_MAX_HASH_HEX + 1];      /**< MD5(username:realm:password) hex, or "" */
	char ha1b[SW_MAX_HASH_HEX + 1];     /**< MD5(username@domain:realm:password) hex, or "" */
	char email[SW_MAX_DOMAIN * 2 + 1];
	char rpid[SW_MAX_CONTACT_URI + 1];
	int status;                         /**< 0 active, non-zero disabled (seed 001) */
	char ha1_sha256[SW_MAX_HASH_HEX + 1];      /**< SHA-256(username:realm:password), or "" */
	char ha1b_sha256[SW_MAX_HASH_HEX + 1];     /**< SHA-256(username@domain:realm:password) */
	char ha1_sha512t256[SW_MAX_HASH_HEX + 1];  /**< SHA-512/256(username:realm:password) */
	char ha1b_sha512t256[SW_MAX_HASH_HEX + 1]; /**< SHA-512/256(username@domain:realm:password) */
	unsigned hashes;      /**< bit (1 << enum store_hash) set when that family's ha1 is stored */
	int min_algo;         /**< per-user minimum rank, STORE_RANK_NONE when unset */
	int pin_algo;         /**< strongest rank ever accepted (downgrade pin), or STORE_RANK_NONE */
	int64_t valid_until;  /**< account expiry, UNIX seconds; 0 never */
	int64_t locked_until; /**< locked by an administrator until then; 0 not locked */
	/** values of the extra columns (store_extra_columns_set order) as text; NULL reads as "" */
	char extra[STORE_MAX_EXTRA_COLS][STORE_EXTRA_VALUE_MAX + 1];
	unsigned extra_unusable; /**< bit i: extra column i was longer than STORE_EXTRA_VALUE_MAX */
};

/* Per-account settings writable one at a time (store_user_set_field). */
enum store_field {
	STORE_FIELD_STATUS,       /**< 0 active, 1 disabled */
	STORE_FIELD_MIN_ALGO,     /**< rank or STORE_RANK_NONE */
	STORE_FIELD_PIN,          /**< rank or STORE_RANK_NONE (reset-pin) */
	STORE_FIELD_VALID_UNTIL,  /**< UNIX seconds, 0 never */
	STORE_FIELD_LOCKED_UNTIL, /**< UNIX seconds, 0 unlocked */
	STORE_FIELD__COUNT
};

/* A source (or one user from a source) blocked by the brute-force limiter,
 * mirrored in the `sw_blocks` table so that sipwarden-ctl can list and lift it. */
struct store_block {
	char src[48];                /**< textual IP address */
	char user[SW_MAX_USER + 1];  /**< "" for a block of the whole source */
	int64_t since, until;        /**< UNIX seconds */
	char reason[32];
};

/* Column values to write for a user; NULL members are left unchanged on update
 * and stored as '' on insert. */
struct store_user_secrets {
	const char *password; /**< cleartext; NULL unless --plaintext */
	const char *ha1;
	const char *ha1b;
	const char *ha1_sha256, *ha1b_sha256;
	const char *ha1_sha512t256, *ha1b_sha512t256;
	/** RFC 7616 §3.4.4 H(username:realm) per family, to find a user by userhash */
	const char *userhash[STORE_HASH__COUNT];
};

/* A persisted registration binding. */
struct store_contact {
	char aor[SW_MAX_USER + SW_MAX_DOMAIN + 2]; /**< "user@domain", domain lower-case */
	char contact[SW_MAX_CONTACT_URI + 1];      /**< Contact URI as registered */
	char received[128];                        /**< "udp:IP:PORT" source of the REGISTER */
	char call_id[256];
	uint32_t cseq;
	int64_t expires;                           /**< absolute UNIX time */
	int q;                                     /**< q-value * 1000, -1 if absent */
	char user_agent[128];
};

/* Open a store from a URL. Supported: "postgres://..." or "postgresql://..."
 * (a libpq connection URI; the tables are created when missing, as below),
 * and "sqlite:PATH" (created with the schema
 * when missing; an existing Kamailio database gains the `status` column and the
 * `location` table if they are absent, nothing else is altered; when a Kamailio
 * `location` table of its own is present, bindings go to `sw_location`).
 * Returns 0 and *out, or -EINVAL (unknown scheme, or an extra column of
 * store_extra_columns_set missing from the subscriber table), -EIO (cannot open, not a
 * database, read-only), -EAGAIN (schema setup locked out by another writer).
 * After an I/O fault the store reconnects by itself on a later call. */
int store_open(struct store **out, const char *url);
/* Close and free; NULL-safe. */
void store_close(struct store *s);
/* url as it may be logged: the password of a "scheme://user:password@..." URL
 * and of a password= parameter replaced by "***" (control characters as '?');
 * always NUL-terminated, cut to cap. Returns out. */
char *store_url_redact(const char *url, char *out, size_t cap);
/* How long a call waits for a lock held by another connection before giving up
 * with -EAGAIN (default 200 ms: a worker must not stall; the CLI may wait longer).
 * 0, or -EINVAL. Backends without locks ignore it. */
int store_set_busy_timeout(struct store *s, unsigned ms);
/* Snapshot sharing (off by default): with it on, credential reads share one
 * read transaction until store_release_snapshot(), or at most 5 ms or 64
 * reads, so a batch of requests pays for one transaction instead of one
 * each. Every other call ends the shared transaction first. The owner
 * releases it before it waits for more input, so that a change committed
 * elsewhere is seen by the next batch. Backends without read transactions
 * (each query sees the latest commit) ignore both. NULL-safe. */
void store_share_snapshot(struct store *s, bool on);
void store_release_snapshot(struct store *s);

/* A name accepted as an extra column: an SQL identifier of 1..STORE_COLUMN_NAME_MAX
 * characters, [A-Za-z_][A-Za-z0-9_]*, and none of the secret columns (password,
 * ha1*), which never leave the store through this path. */
bool store_column_name_ok(const char *name);
/* Set, for the whole process, the extra subscriber columns that every store
 * opened afterwards reads with the credentials (store_cred.extra[i] is
 * names[i]). Call once at start-up before any store_open; stores already open
 * pick the list up only when they reconnect. A store then refuses to open
 * (-EINVAL, with an error line naming the column) when its subscriber table
 * lacks one of them. 0, -EINVAL (bad or repeated name) or -E2BIG (too many). */
int store_extra_columns_set(const char *const *names, unsigned n);

/* Credentials of user@domain (exact username, case-insensitive domain).
 * -ENOENT also for an empty or over-long name (it cannot exist). A lookup that
 * finds no row reads a decoy row the same way and wipes it, so an unknown user
 * costs what a known one does (*out is all zero on -ENOENT). */
int store_get_cred(struct store *s, struct slice username, struct slice domain, struct store_cred *out);

/* The same, finding the subscriber by its RFC 7616 §3.4.4 userhash (hex, any
 * case) for family h in domain. -ENOENT when none, -EINVAL for a bad h. */
int store_get_cred_by_userhash(struct store *s, enum store_hash h, struct slice userhash, struct slice domain,
			       struct store_cred *out);
void store_cred_wipe(struct store_cred *c);

/* Insert a subscriber; the domain is stored lower-case. -EEXIST when the account
 * exists with the domain in any case. update/del/set_status: -ENOENT when absent. */
int store_user_add(struct store *s, const char *username, const char *domain,
		   const struct store_user_secrets *sec);
int store_user_update(struct store *s, const char *username, const char *domain,
		      const struct store_user_secrets *sec);
int store_user_del(struct store *s, const char *username, const char *domain);
int store_user_set_status(struct store *s, const char *username, const char *domain, int status);
/* Set one per-account field. 0, -ENOENT, -EINVAL (bad field) or a store error. */
int store_user_set_field(struct store *s, const char *username, const char *domain, enum store_field f,
			 int64_t value);
/* Raise the downgrade pin to rank when it is lower (one write only when the
 * strongest algorithm used rises). 0 (also when already at or above), -ENOENT. */
int store_user_raise_pin(struct store *s, const char *username, const char *domain, int rank);

/* Identity aliases (the idea of Kamailio's check_to/check_from with a table):
 * user@domain may register and call as alias_user@alias_domain. add: -EEXIST
 * when present; del: -ENOENT when absent; check: 0 when allowed, -ENOENT when
 * not. Domains compare case-insensitively, users exactly. */
int store_alias_add(struct store *s, const char *user, const char *domain, const char *alias_user,
		    const char *alias_domain);
int store_alias_del(struct store *s, const char *user, const char *domain, const char *alias_user,
		    const char *alias_domain);
int store_alias_check(struct store *s, struct slice user, struct slice domain, struct slice alias_user,
		      struct slice alias_domain);
/* fn(user, domain, alias_user, alias_domain, arg) for each alias. */
typedef int (*store_alias_fn)(const char *user, const char *domain, const char *alias_user,
			      const char *alias_domain, void *arg);
int store_alias_list(struct store *s, store_alias_fn fn, void *arg);

/* Limiter blocks. put is an upsert on (src, user); del with user NULL removes
 * every block of src (-ENOENT when none); purge removes blocks ended by now. */
int store_block_put(struct store *s, const struct store_block *b);
int store_block_del(struct store *s, const char *src, const char *user);
typedef int (*store_block_fn)(const struct store_block *b, void *arg);
int store_block_list(struct store *s, store_block_fn fn, void *arg);
int store_block_purge(struct store *s, int64_t now);
/* Calls fn for each subscriber (domain NULL = all), secrets blanked; a non-zero
 * return from fn stops the walk and is returned. fn may call other store
 * functions, but not start the same walk again (-EINVAL). Same for loc_load. */
typedef int (*store_user_fn)(const struct store_cred *c, void *arg);
int store_user_list(struct store *s, const char *domain, store_user_fn fn, void *arg);

/* Registrations. put is an upsert on (aor, contact). del with contact NULL
 * removes every binding of aor; -ENOENT when nothing was removed. load calls fn
 * for each binding not expired at now (expires > now); purge removes the rest. */
int store_loc_put(struct store *s, const struct store_contact *c);
int store_loc_del(struct store *s, const char *aor, const char *contact);
typedef int (*store_contact_fn)(const struct store_contact *c, void *arg);
int store_loc_load(struct store *s, int64_t now, store_contact_fn fn, void *arg);
int store_loc_purge(struct store *s, int64_t now);
/* Group several writes into one transaction (write-back flushes). begin takes
 * the write lock at once (-EAGAIN after the busy timeout). After an -EIO inside
 * the transaction every call returns -EIO until commit (-EIO) or rollback (0). */
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);

#endif
