/* SQLite backend of the store ("sqlite:PATH"): Kamailio-compatible `subscriber`
 * table plus `status`, the `location` table, WAL journal, a short busy timeout
 * (a locked database is -EAGAIN, never a long stall of a worker), statements
 * prepared once per connection, and a fresh connection after any I/O fault so
 * the store recovers by itself when the file comes back. Never logs a value.
 * Schema 2 adds, by ALTER TABLE on existing databases: one HA1 (and HA1b) per
 * RFC 7616/8760 hash family, precomputed userhash columns (RFC 7616 §3.4.4;
 * indexed, so finding a user by hash is one lookup and never a scan hashing
 * every row), policy columns, and the sw_alias and sw_blocks tables. Extra
 * columns named by store_extra_columns_set are read in the credentials query
 * itself and must exist (checked at every connect). */
#include "store/store_int.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "base/log.h"
#include "base/util.h"
#include "store/sqlite_mem.h"

/* Schema revision of sipwarden's own tables, kept in PRAGMA user_version (the
 * Kamailio `version` table is left to Kamailio). */
#define SCHEMA_VERSION 2
/* Default wait for a lock held by another connection: short, because a worker
 * waiting here stalls every transaction it owns. */
#define BUSY_TIMEOUT_MS 200
/* A shared read snapshot (sq_share_snapshot) is given up after this long or
 * this many credential reads even if the owner does not release it first. */
#define SNAPSHOT_MAX_MS 5
#define SNAPSHOT_MAX_READS 64
/* Opening may create or migrate the schema; a CLI or a starting daemon can wait. */
#define OPEN_BUSY_TIMEOUT_MS 2000
/* How often an idle-looking connection checks that PATH is still the file it has open. */
#define RECHECK_MS 1000

enum stmt_id {
	ST_GET_CRED,
	ST_GET_CRED_UH_MD5,
	ST_GET_CRED_UH_SHA256,
	ST_GET_CRED_UH_SHA512,
	ST_USER_ADD,
	ST_USER_UPDATE,
	ST_USER_DEL,
	ST_SET_STATUS,
	ST_SET_MIN_ALGO,
	ST_SET_PIN,
	ST_SET_VALID_UNTIL,
	ST_SET_LOCKED_UNTIL,
	ST_RAISE_PIN,
	ST_ALIAS_ADD,
	ST_ALIAS_DEL,
	ST_ALIAS_CHECK,
	ST_ALIAS_LIST,
	ST_BLOCK_PUT,
	ST_BLOCK_DEL_ONE,
	ST_BLOCK_DEL_SRC,
	ST_BLOCK_LIST,
	ST_BLOCK_PURGE,
	ST_USER_LIST_ALL,
	ST_USER_LIST_DOM,
	ST_LOC_PUT,
	ST_LOC_DEL_ONE,
	ST_LOC_DEL_AOR,
	ST_LOC_LOAD,
	ST_LOC_PURGE,
	ST_BEGIN,
	ST_READ_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST__COUNT
};

/* Columns read by read_cred(), in this order; $EXTRA is ", \"col\", ..." for the
 * configured extra columns (nothing without them). */
#define CRED_COLS                                                                                  \
	"username, domain, password, ha1, ha1b, $EMAIL, $RPID, status, ha1_sha256, ha1b_sha256,"   \
	" ha1_sha512t256, ha1b_sha512t256, min_algo, auth_pin, valid_until, locked_until$EXTRA"
/* Index of the first extra column in CRED_COLS; after the extras comes the
 * "found" flag of CRED_SELECT. */
#define CRED_EXTRA_FIRST 16
/* One credentials query in one statement (one read transaction): the row
 * WHERE selects, flagged 1, or when there is none the table's first row,
 * flagged 0, read the same way and then wiped, so that an unknown user costs
 * what a known one does (a lookup and a row read). */
#define CRED_SELECT(where)                                                                         \
	"SELECT " CRED_COLS ", 1 FROM subscriber WHERE " where                                     \
	" UNION ALL SELECT " CRED_COLS ", 0 FROM subscriber"                                       \
	" WHERE rowid = (SELECT min(rowid) FROM subscriber) LIMIT 1"

/* Columns of a user walk: no secret, only whether each family's HA1 exists. */
#define LIST_COLS                                                                                  \
	"username, domain, $EMAIL, $RPID, status, ha1 != '', ha1_sha256 != '', ha1_sha512t256 != '',"  \
	" min_algo, auth_pin, valid_until, locked_until"

/* $LOC is the location table; $EMAIL and $RPID are the optional Kamailio columns
 * (absent from Kamailio 5 databases), replaced by constants when missing.
 * Usernames compare exactly, domains case-insensitively. GET_CRED has no ORDER
 * BY (a sorter would double its cost): only a foreign writer can store one
 * account twice in two domain cases, and the index order still picks one. */
static const char *const stmt_sql[ST__COUNT] = {
	[ST_GET_CRED] = CRED_SELECT("username = ?1 AND domain = ?2 COLLATE NOCASE"),
	[ST_GET_CRED_UH_MD5] = CRED_SELECT("userhash_md5 = lower(?1) AND domain = ?2 COLLATE NOCASE"),
	[ST_GET_CRED_UH_SHA256] = CRED_SELECT("userhash_sha256 = lower(?1) AND domain = ?2 COLLATE NOCASE"),
	[ST_GET_CRED_UH_SHA512] = CRED_SELECT("userhash_sha512t256 = lower(?1) AND domain = ?2 COLLATE NOCASE"),
	[ST_USER_ADD] = "INSERT INTO subscriber (username, domain, password, ha1, ha1b, status, ha1_sha256,"
			" ha1b_sha256, ha1_sha512t256, ha1b_sha512t256, userhash_md5, userhash_sha256,"
			" userhash_sha512t256)"
			" SELECT ?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9,"
			" COALESCE(NULLIF(?10, ''), sw_userhash(0, ?1, lower(?2))),"
			" COALESCE(NULLIF(?11, ''), sw_userhash(1, ?1, lower(?2))),"
			" COALESCE(NULLIF(?12, ''), sw_userhash(2, ?1, lower(?2))) WHERE NOT EXISTS"
			" (SELECT 1 FROM subscriber WHERE username = ?1 AND domain = ?2 COLLATE NOCASE)",
	[ST_USER_UPDATE] = "UPDATE subscriber SET password = COALESCE(?3, password), ha1 = COALESCE(?4, ha1),"
			   " ha1b = COALESCE(?5, ha1b), ha1_sha256 = COALESCE(?6, ha1_sha256),"
			   " ha1b_sha256 = COALESCE(?7, ha1b_sha256),"
			   " ha1_sha512t256 = COALESCE(?8, ha1_sha512t256),"
			   " ha1b_sha512t256 = COALESCE(?9, ha1b_sha512t256),"
			   " userhash_md5 = COALESCE(?10, userhash_md5),"
			   " userhash_sha256 = COALESCE(?11, userhash_sha256),"
			   " userhash_sha512t256 = COALESCE(?12, userhash_sha512t256)"
			   " WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_USER_DEL] = "DELETE FROM subscriber WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_SET_STATUS] = "UPDATE subscriber SET status = ?3 WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_SET_MIN_ALGO] = "UPDATE subscriber SET min_algo = ?3 WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_SET_PIN] = "UPDATE subscriber SET auth_pin = ?3 WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_SET_VALID_UNTIL] = "UPDATE subscriber SET valid_until = ?3"
			       " WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_SET_LOCKED_UNTIL] = "UPDATE subscriber SET locked_until = ?3"
				" WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	/* Written only when the pin rises: the WHERE makes a repeat a no-op. */
	[ST_RAISE_PIN] = "UPDATE subscriber SET auth_pin = ?3"
			 " WHERE username = ?1 AND domain = ?2 COLLATE NOCASE AND auth_pin < ?3",
	[ST_ALIAS_ADD] = "INSERT INTO sw_alias (username, domain, alias_username, alias_domain)"
			 " VALUES (?1, lower(?2), ?3, lower(?4))",
	[ST_ALIAS_DEL] = "DELETE FROM sw_alias WHERE username = ?1 AND domain = lower(?2)"
			 " AND alias_username = ?3 AND alias_domain = lower(?4)",
	[ST_ALIAS_CHECK] = "SELECT 1 FROM sw_alias WHERE username = ?1 AND domain = lower(?2)"
			   " AND alias_username = ?3 AND alias_domain = lower(?4) LIMIT 1",
	[ST_ALIAS_LIST] = "SELECT username, domain, alias_username, alias_domain FROM sw_alias"
			  " ORDER BY domain, username, alias_domain, alias_username",
	[ST_BLOCK_PUT] = "INSERT INTO sw_blocks (src, username, since, until, reason) VALUES (?1, ?2, ?3, ?4, ?5)"
			 " ON CONFLICT (src, username) DO UPDATE SET since = excluded.since,"
			 " until = excluded.until, reason = excluded.reason",
	[ST_BLOCK_DEL_ONE] = "DELETE FROM sw_blocks WHERE src = ?1 AND username = ?2",
	[ST_BLOCK_DEL_SRC] = "DELETE FROM sw_blocks WHERE src = ?1",
	[ST_BLOCK_LIST] = "SELECT src, username, since, until, reason FROM sw_blocks ORDER BY src, username",
	[ST_BLOCK_PURGE] = "DELETE FROM sw_blocks WHERE until <= ?1",
	[ST_USER_LIST_ALL] = "SELECT " LIST_COLS " FROM subscriber ORDER BY domain COLLATE NOCASE, username",
	[ST_USER_LIST_DOM] = "SELECT " LIST_COLS " FROM subscriber WHERE domain = ?1 COLLATE NOCASE"
			     " ORDER BY username",
	[ST_LOC_PUT] = "INSERT INTO $LOC (aor, contact, received, call_id, cseq, expires, q, user_agent)"
		       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (aor, contact) DO UPDATE SET"
		       " received = excluded.received, call_id = excluded.call_id, cseq = excluded.cseq,"
		       " expires = excluded.expires, q = excluded.q, user_agent = excluded.user_agent",
	[ST_LOC_DEL_ONE] = "DELETE FROM $LOC WHERE aor = ?1 AND contact = ?2",
	[ST_LOC_DEL_AOR] = "DELETE FROM $LOC WHERE aor = ?1",
	[ST_LOC_LOAD] = "SELECT aor, contact, received, call_id, cseq, expires, q, user_agent FROM $LOC"
			" WHERE expires > ?1 ORDER BY aor, id",
	[ST_LOC_PURGE] = "DELETE FROM $LOC WHERE expires <= ?1",
	/* IMMEDIATE takes the write lock up front, where the busy timeout applies,
	 * instead of failing later on a read-to-write upgrade. */
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_READ_BEGIN] = "BEGIN DEFERRED",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
};

#define SUBSCRIBER_DDL                                                                             \
	"CREATE TABLE IF NOT EXISTS subscriber ("                                                  \
	"id INTEGER PRIMARY KEY AUTOINCREMENT,"                                                    \
	" username VARCHAR(64) NOT NULL DEFAULT '',"                                               \
	" domain VARCHAR(64) NOT NULL DEFAULT '',"                                                 \
	" password VARCHAR(64) NOT NULL DEFAULT '',"                                               \
	" email_address VARCHAR(128) NOT NULL DEFAULT '',"                                         \
	" ha1 VARCHAR(128) NOT NULL DEFAULT '',"                                                   \
	" ha1b VARCHAR(128) NOT NULL DEFAULT '',"                                                  \
	" rpid VARCHAR(128) DEFAULT NULL,"                                                         \
	" status INT NOT NULL DEFAULT 0,"                                                          \
	" CONSTRAINT account_idx UNIQUE (username, domain));"                                      \
	"CREATE INDEX IF NOT EXISTS subscriber_username_idx ON subscriber (username);"

#define LOCATION_DDL                                                                               \
	"CREATE TABLE IF NOT EXISTS $LOC ("                                                        \
	"id INTEGER PRIMARY KEY AUTOINCREMENT,"                                                    \
	" aor VARCHAR(130) NOT NULL,"                                                              \
	" contact VARCHAR(512) NOT NULL,"                                                          \
	" received VARCHAR(128) NOT NULL DEFAULT '',"                                              \
	" call_id VARCHAR(255) NOT NULL DEFAULT '',"                                               \
	" cseq INTEGER NOT NULL DEFAULT 0,"                                                        \
	" expires INTEGER NOT NULL DEFAULT 0,"                                                     \
	" q INTEGER NOT NULL DEFAULT -1,"                                                          \
	" user_agent VARCHAR(128) NOT NULL DEFAULT '',"                                            \
	" UNIQUE (aor, contact));"                                                                 \
	"CREATE INDEX IF NOT EXISTS $LOC_expires_idx ON $LOC (expires);"

/* Schema 2 columns added to subscriber (name, declaration). */
static const char *const new_cols[][2] = {
	{ "ha1_sha256", "VARCHAR(128) NOT NULL DEFAULT ''" },
	{ "ha1b_sha256", "VARCHAR(128) NOT NULL DEFAULT ''" },
	{ "ha1_sha512t256", "VARCHAR(128) NOT NULL DEFAULT ''" },
	{ "ha1b_sha512t256", "VARCHAR(128) NOT NULL DEFAULT ''" },
	{ "userhash_md5", "VARCHAR(128) NOT NULL DEFAULT ''" },
	{ "userhash_sha256", "VARCHAR(128) NOT NULL DEFAULT ''" },
	{ "userhash_sha512t256", "VARCHAR(128) NOT NULL DEFAULT ''" },
	{ "min_algo", "INT NOT NULL DEFAULT -1" },
	{ "auth_pin", "INT NOT NULL DEFAULT -1" },
	{ "valid_until", "INTEGER NOT NULL DEFAULT 0" },
	{ "locked_until", "INTEGER NOT NULL DEFAULT 0" },
};

#define POLICY_DDL                                                                                 \
	"CREATE INDEX IF NOT EXISTS subscriber_uh_md5_idx ON subscriber (userhash_md5);"           \
	"CREATE INDEX IF NOT EXISTS subscriber_uh_sha256_idx ON subscriber (userhash_sha256);"     \
	"CREATE INDEX IF NOT EXISTS subscriber_uh_sha512_idx ON subscriber (userhash_sha512t256);" \
	"CREATE TABLE IF NOT EXISTS sw_alias ("                                                    \
	"id INTEGER PRIMARY KEY AUTOINCREMENT,"                                                    \
	" username VARCHAR(64) NOT NULL, domain VARCHAR(64) NOT NULL,"                             \
	" alias_username VARCHAR(64) NOT NULL, alias_domain VARCHAR(64) NOT NULL,"                 \
	" UNIQUE (username, domain, alias_username, alias_domain));"                               \
	"CREATE TABLE IF NOT EXISTS sw_blocks ("                                                   \
	"src VARCHAR(48) NOT NULL, username VARCHAR(64) NOT NULL DEFAULT '',"                      \
	" since INTEGER NOT NULL, until INTEGER NOT NULL, reason VARCHAR(32) NOT NULL DEFAULT '',"  \
	" PRIMARY KEY (src, username));"

/* Rows that predate the userhash columns get them computed in SQL (realm =
 * domain in lower case, as sipwarden-ctl hashes). */
#define USERHASH_FILL                                                                              \
	"UPDATE subscriber SET userhash_md5 = sw_userhash(0, username, lower(domain))"             \
	" WHERE userhash_md5 = '';"                                                                \
	"UPDATE subscriber SET userhash_sha256 = sw_userhash(1, username, lower(domain))"          \
	" WHERE userhash_sha256 = '';"                                                             \
	"UPDATE subscriber SET userhash_sha512t256 = sw_userhash(2, username, lower(domain))"      \
	" WHERE userhash_sha512t256 = '';"

#define STR_(x) #x
#define STR(x) STR_(x)

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char *path;          /**< absolute once the file exists, so a later chdir() is harmless */
	const char *loc;     /**< location table name */
	bool has_email;      /**< subscriber.email_address exists */
	bool has_rpid;       /**< subscriber.rpid exists */
	unsigned nextra;     /**< extra columns the statements were prepared with */
	char extra_sql[STORE_MAX_EXTRA_COLS * (STORE_COLUMN_NAME_MAX + 4) + 1]; /**< $EXTRA */
	unsigned busy_ms;
	bool broken;         /**< an I/O-level fault: reconnect before the next call */
	bool down;           /**< reconnecting fails; logged once per outage */
	bool in_txn;         /**< between store_begin and commit/rollback */
	bool txn_lost;       /**< connection failed inside a transaction */
	bool share_reads;    /**< credential reads may share one read transaction */
	bool holding;        /**< that read transaction is open */
	unsigned hold_reads; /**< reads made in it */
	uint64_t hold_end_ms;
	int walking;         /**< list/load walks in progress: no reconnect under them */
	bool have_ident;     /**< dev/ino below are valid */
	dev_t dev;
	ino_t ino;
	uint64_t next_check_ms;
};

static struct sq *be(struct store *s)
{
	return s->be;
}

/* Map an SQLite result to the store's errno contract. Faults that a new
 * connection may cure mark the connection broken instead of latching. */
static int fail(struct sq *q, int rc, const char *what)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		LOG_WARN("store: sqlite %s: %s: database busy", q->path, what);
		return -EAGAIN;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		LOG_ERR("store: sqlite %s: %s: %s", q->path, what, sqlite3_errstr(rc));
		return -EINVAL;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		/* During an outage only the first failure is logged, not every retry. */
		if (!q->down)
			LOG_ERR("store: sqlite %s: %s: %s (code %d)", q->path, what,
				q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc), rc);
		q->broken = true;
		if (q->in_txn) {
			q->in_txn = false;
			q->txn_lost = true;
		}
		return -EIO;
	}
}

/* Expand the $-tokens of an SQL template into out. */
static int expand(const struct sq *q, const char *tmpl, char *out, size_t cap)
{
	static const char *const names[] = { "$LOC", "$EMAIL", "$RPID", "$EXTRA" };
	const char *vals[] = { q->loc, q->has_email ? "email_address" : "''", q->has_rpid ? "rpid" : "NULL",
			       q->extra_sql };

	return store_sql_expand(tmpl, names, vals, sizeof(names) / sizeof(names[0]), out, cap);
}

static int exec_sql(struct sq *q, const char *tmpl, const char *what)
{
	char sql[4096];
	int rc;

	if (expand(q, tmpl, sql, sizeof(sql)))
		return -EINVAL;
	rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail(q, rc, what);
}

/* One integer from a query (bind ?1 and ?2 to a and b when given); *out = -1 when no row. */
static int query_int(struct sq *q, const char *sql, const char *a, const char *b, int64_t *out)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return fail(q, rc, "schema check");
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(q, rc, "schema check");
}

static int table_exists(struct sq *q, const char *table, bool *out)
{
	int64_t v;
	int err = query_int(q, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", table, NULL, &v);

	*out = v == 1;
	return err;
}

static int column_exists(struct sq *q, const char *table, const char *col, bool *out)
{
	int64_t v;
	int err = query_int(q, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", table, col, &v);

	*out = v == 1;
	return err;
}

/* The extra columns of store_extra_cols: each must exist in subscriber (SQL
 * names compare case-insensitively); q->extra_sql becomes their select list.
 * 0, -EINVAL (a column is missing: logged with its name) or a store error. */
static int extra_setup(struct sq *q)
{
	const struct store_extra_cols *x = &store_extra_cols;
	size_t o = 0;

	q->nextra = 0;
	q->extra_sql[0] = '\0';
	for (unsigned i = 0; i < x->n; i++) {
		int64_t v;
		int err = query_int(q, "SELECT 1 FROM pragma_table_info('subscriber') WHERE name = ?1 COLLATE NOCASE",
				    x->name[i], NULL, &v);

		if (err)
			return err;
		if (v != 1) {
			LOG_ERR("store: sqlite: %s: table subscriber has no column %s ([auth] load_columns);"
				" add it with ALTER TABLE subscriber ADD COLUMN %s ...",
				q->path, x->name[i], x->name[i]);
			return -EINVAL;
		}
		/* Names were checked to be plain identifiers; quoting keeps keywords usable. */
		o += (size_t)snprintf(q->extra_sql + o, sizeof(q->extra_sql) - o, ", \"%s\"", x->name[i]);
	}
	q->nextra = x->n;
	return 0;
}

/* Inspect the schema: which location table to use, which optional columns exist,
 * and whether anything must be created or added. */
static int schema_probe(struct sq *q, bool *needs, int64_t *version)
{
	bool sub, status, loc, loc_aor, alias, blocks, last_col;
	int err;

	err = query_int(q, "PRAGMA user_version", NULL, NULL, version);
	err = err ? err : table_exists(q, "subscriber", &sub);
	err = err ? err : column_exists(q, "subscriber", "status", &status);
	err = err ? err : column_exists(q, "subscriber", "email_address", &q->has_email);
	err = err ? err : column_exists(q, "subscriber", "rpid", &q->has_rpid);
	err = err ? err : table_exists(q, "location", &loc);
	err = err ? err : column_exists(q, "location", "aor", &loc_aor);
	err = err ? err : table_exists(q, "sw_alias", &alias);
	err = err ? err : table_exists(q, "sw_blocks", &blocks);
	err = err ? err : column_exists(q, "subscriber", "locked_until", &last_col);
	if (err)
		return err;
	/* A Kamailio database has its own, different `location` table: leave it to
	 * Kamailio and keep sipwarden's bindings beside it. */
	q->loc = loc && !loc_aor ? "sw_location" : "location";
	if (loc && !loc_aor)
		err = table_exists(q, q->loc, &loc);
	if (!sub) {
		q->has_email = q->has_rpid = true;
		status = false;
	}
	*needs = !sub || !status || !loc || !alias || !blocks || !last_col || *version < SCHEMA_VERSION;
	return err;
}

/* Create what is missing; an existing Kamailio database only gains `status`
 * and the location table. Done inside one write transaction, re-probed under
 * the lock so two processes opening a new file at once do not collide. */
static int schema_setup(struct sq *q)
{
	bool needs, status;
	int64_t version;
	int err;

	err = schema_probe(q, &needs, &version);
	if (err || !needs)
		goto out;
	err = exec_sql(q, "BEGIN IMMEDIATE", "schema lock");
	if (err)
		return err;
	err = schema_probe(q, &needs, &version);
	err = err ? err : exec_sql(q, SUBSCRIBER_DDL, "create subscriber");
	err = err ? err : column_exists(q, "subscriber", "status", &status);
	if (!err && !status) {
		LOG_INFO("store: sqlite: adding column subscriber.status to %s", q->path);
		err = exec_sql(q, "ALTER TABLE subscriber ADD COLUMN status INT NOT NULL DEFAULT 0",
			       "add subscriber.status");
	}
	for (size_t i = 0; !err && i < sizeof(new_cols) / sizeof(new_cols[0]); i++) {
		bool have;
		char sql[256];

		err = column_exists(q, "subscriber", new_cols[i][0], &have);
		if (err || have)
			continue;
		LOG_INFO("store: sqlite: adding column subscriber.%s to %s", new_cols[i][0], q->path);
		snprintf(sql, sizeof(sql), "ALTER TABLE subscriber ADD COLUMN %s %s", new_cols[i][0],
			 new_cols[i][1]);
		err = exec_sql(q, sql, "add subscriber column");
	}
	err = err ? err : exec_sql(q, POLICY_DDL, "create policy tables");
	err = err ? err : exec_sql(q, USERHASH_FILL, "fill userhash columns");
	err = err ? err : exec_sql(q, LOCATION_DDL, "create location");
	if (!err && version < SCHEMA_VERSION)
		err = exec_sql(q, "PRAGMA user_version = " STR(SCHEMA_VERSION), "set schema version");
	err = err ? err : exec_sql(q, "COMMIT", "schema commit");
	if (err) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	err = schema_probe(q, &needs, &version);
out:
	if (!err && version > SCHEMA_VERSION)
		LOG_WARN("store: sqlite: %s has schema version %lld, newer than this build's %d", q->path,
			 (long long)version, SCHEMA_VERSION);
	return err;
}

static int pragma_setup(struct sq *q)
{
	char mode[16] = "";
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *m = (const char *)sqlite3_column_text(st, 0);
			snprintf(mode, sizeof(mode), "%s", m ? m : "");
			rc = SQLITE_OK;
		}
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_OK)
		return fail(q, rc, "open");
	if (strcmp(mode, "wal") != 0)
		LOG_WARN("store: sqlite: %s stays in journal mode %s (WAL unavailable)", q->path, mode);
	/* secure_delete: deleted subscribers' hashes do not linger in free pages. */
	return exec_sql(q, "PRAGMA synchronous = NORMAL; PRAGMA secure_delete = FAST", "open");
}

/* sw_userhash(family, username, realm): hex H(username ":" realm) with family
 * 0 MD5, 1 SHA-256, 2 SHA-512/256 (RFC 7616 §3.4.4). Used only to fill the
 * userhash columns of rows written before they existed. */
static void sql_userhash(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	static const char hexd[] = "0123456789abcdef";
	const EVP_MD *md;
	unsigned char dig[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned dlen = 0;
	EVP_MD_CTX *m;
	int fam = sqlite3_value_int(argv[0]);
	const unsigned char *u = sqlite3_value_text(argv[1]), *r = sqlite3_value_text(argv[2]);

	(void)argc;
	md = fam == 0 ? EVP_md5() : fam == 1 ? EVP_sha256() : fam == 2 ? EVP_sha512_256() : NULL;
	if (!md || !u || !r) {
		sqlite3_result_text(cx, "", 0, SQLITE_STATIC);
		return;
	}
	m = EVP_MD_CTX_new();
	if (!m || EVP_DigestInit_ex(m, md, NULL) != 1 ||
	    EVP_DigestUpdate(m, u, (size_t)sqlite3_value_bytes(argv[1])) != 1 || EVP_DigestUpdate(m, ":", 1) != 1 ||
	    EVP_DigestUpdate(m, r, (size_t)sqlite3_value_bytes(argv[2])) != 1 ||
	    EVP_DigestFinal_ex(m, dig, &dlen) != 1) {
		EVP_MD_CTX_free(m);
		sqlite3_result_error_nomem(cx);
		return;
	}
	EVP_MD_CTX_free(m);
	for (unsigned i = 0; i < dlen; i++) {
		hex[2 * i] = hexd[dig[i] >> 4];
		hex[2 * i + 1] = hexd[dig[i] & 15];
	}
	sqlite3_result_text(cx, hex, (int)(2 * dlen), SQLITE_TRANSIENT);
}

static void disconnect(struct sq *q)
{
	for (int i = 0; i < ST__COUNT; i++) {
		sqlite3_finalize(q->st[i]);
		q->st[i] = NULL;
	}
	sqlite3_close(q->db); /* rolls back an open read transaction */
	q->db = NULL;
	q->in_txn = false;
	q->holding = false;
}

static void remember_ident(struct sq *q)
{
	struct stat sb;

	q->have_ident = stat(q->path, &sb) == 0;
	q->dev = q->have_ident ? sb.st_dev : 0;
	q->ino = q->have_ident ? sb.st_ino : 0;
	q->next_check_ms = base_mono_ms() + RECHECK_MS;
}

/* Open a connection, set it up and prepare every statement. create is false
 * when reconnecting: a missing file must stay an outage, not become an empty
 * database. 0, -EIO, -EAGAIN or -ENOMEM. */
static int connect_db(struct sq *q, bool create)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
	char sql[2048];
	int rc, err;

	if (create)
		flags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(q->path, &q->db, flags, NULL);
	if (rc != SQLITE_OK) {
		err = fail(q, rc, "open");
		disconnect(q);
		return err == -EAGAIN ? err : -EIO;
	}
	sqlite3_extended_result_codes(q->db, 1);
	if (sqlite3_db_readonly(q->db, "main") == 1) {
		LOG_ERR("store: sqlite: %s is read-only", q->path);
		disconnect(q);
		return -EIO;
	}
	sqlite3_busy_timeout(q->db, OPEN_BUSY_TIMEOUT_MS);
	sqlite3_create_function(q->db, "sw_userhash", 3, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, sql_userhash,
				NULL, NULL);
	err = pragma_setup(q);
	err = err ? err : schema_setup(q);
	err = err ? err : extra_setup(q);
	for (int i = 0; !err && i < ST__COUNT; i++) {
		err = expand(q, stmt_sql[i], sql, sizeof(sql)) ? -EINVAL : 0;
		rc = err ? SQLITE_OK : sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL);
		if (rc != SQLITE_OK)
			err = fail(q, rc, "prepare");
	}
	if (err) {
		disconnect(q);
		return err == -EAGAIN || err == -ENOMEM || err == -EINVAL ? err : -EIO;
	}
	sqlite3_busy_timeout(q->db, (int)q->busy_ms);
	remember_ident(q);
	return 0;
}

/* PATH still names the file this connection has open. */
static bool same_file(const struct sq *q)
{
	struct stat sb;

	return stat(q->path, &sb) == 0 && sb.st_dev == q->dev && sb.st_ino == q->ino;
}

/* End the shared read transaction, if one is open. A read-only COMMIT cannot
 * be refused in WAL mode; should it fail anyway, ROLLBACK ends it. */
static void snapshot_end(struct sq *q)
{
	if (!q->holding)
		return;
	q->holding = false;
	int rc = sqlite3_step(q->st[ST_COMMIT]);
	sqlite3_reset(q->st[ST_COMMIT]);
	if (rc != SQLITE_DONE && !sqlite3_get_autocommit(q->db)) {
		sqlite3_step(q->st[ST_ROLLBACK]);
		sqlite3_reset(q->st[ST_ROLLBACK]);
	}
}

/* Before a credential read with sharing on: keep the open read transaction
 * while it is young and not used too often, else open a new one. The read
 * lock itself is taken by the first SELECT in it (BEGIN DEFERRED). When BEGIN
 * fails the read runs in its own transaction, as without sharing. */
static void snapshot_enter(struct sq *q)
{
	if (!q->share_reads || q->in_txn || q->walking)
		return;
	uint64_t now = base_mono_ms();

	if (q->holding && (now >= q->hold_end_ms || q->hold_reads >= SNAPSHOT_MAX_READS))
		snapshot_end(q);
	if (!q->holding) {
		int rc = sqlite3_step(q->st[ST_READ_BEGIN]);

		sqlite3_reset(q->st[ST_READ_BEGIN]);
		if (rc != SQLITE_DONE)
			return;
		q->holding = true;
		q->hold_reads = 0;
		q->hold_end_ms = now + SNAPSHOT_MAX_MS;
	}
	q->hold_reads++;
}

static int connection_ready(struct sq *q);

/* Called first by every operation but the credential reads: end a shared
 * read transaction (writes, walks and explicit transactions never run in
 * it), then connection_ready(). */
static int ready(struct sq *q)
{
	snapshot_end(q);
	return connection_ready(q);
}

/* Reconnect after a fault, or when PATH now names another file (restored
 * backup) or none. */
static int connection_ready(struct sq *q)
{
	int err;

	if (q->txn_lost)
		return -EIO; /* until the caller ends the transaction */
	if (!q->broken && q->have_ident && !q->in_txn && !q->walking) {
		uint64_t now = base_mono_ms();

		if (now >= q->next_check_ms) {
			q->next_check_ms = now + RECHECK_MS;
			if (!same_file(q)) {
				LOG_WARN("store: sqlite: %s was replaced or removed, reconnecting", q->path);
				q->broken = true;
			}
		}
	}
	if (!q->broken)
		return 0;
	if (q->walking)
		return -EIO;
	disconnect(q);
	err = connect_db(q, false);
	if (err) {
		if (!q->down)
			LOG_ERR("store: sqlite: %s unavailable, will retry on next use", q->path);
		q->down = true;
		return err;
	}
	if (q->down)
		LOG_INFO("store: sqlite: %s available again", q->path);
	q->down = q->broken = false;
	return 0;
}

/* The cached statement id, or NULL when it is in use by a walk further up the stack. */
static sqlite3_stmt *stmt(struct sq *q, enum stmt_id id)
{
	return sqlite3_stmt_busy(q->st[id]) ? NULL : q->st[id];
}

static void done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	/* Bindings point at caller memory (passwords included): drop them now. */
	sqlite3_clear_bindings(st);
}

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Step a statement that returns no rows; *changes gets the rows touched. */
static int run(struct sq *q, sqlite3_stmt *st, const char *what, int *changes)
{
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_DONE ? 0 : fail(q, rc, what);

	if (changes)
		*changes = err ? 0 : sqlite3_changes(q->db);
	done(st);
	return err;
}

/* Copy column i into dst; an over-long value is never truncated (a cut hash or
 * identity is worse than none): it is dropped with a warning. So is a value
 * holding a NUL byte, which as a C string would read as the shorter value
 * before it (a password "a\0bcd" as "a"). */
static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap, const char *what)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);

	dst[0] = '\0';
	if (!v)
		return;
	if (n >= cap) {
		LOG_WARN("store: sqlite: %s exceeds %zu bytes in row %s, ignored", what, cap - 1,
			 (const char *)sqlite3_column_text(st, 0));
		return;
	}
	if (memchr(v, '\0', n)) {
		LOG_WARN("store: sqlite: %s holds a NUL byte in a row, ignored", what);
		return;
	}
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* SQLite counts every allocation under one process-wide mutex unless told
 * not to; nothing here reads those counters (memory statistics, soft heap
 * limit). Its small allocations come from per-thread free lists
 * (sqlite_mem.c). Must run before SQLite's first use, hence before any
 * connection; refused harmlessly if the library was already initialised. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	(void)sqlite3_config(SQLITE_CONFIG_MALLOC, store_sqlite_mem_methods());
}

static int sq_open(struct store *s, const char *target)
{
	struct sq *q;
	char *abs;
	int err;

	pthread_once(&global_once, global_init);

	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->path = strdup(target);
	if (!q->path) {
		free(q);
		return -ENOMEM;
	}
	q->busy_ms = BUSY_TIMEOUT_MS;
	q->loc = "location";
	err = connect_db(q, true);
	if (err) {
		free(q->path);
		free(q);
		return err;
	}
	abs = realpath(q->path, NULL);
	if (abs) {
		free(q->path);
		q->path = abs;
	}
	s->be = q;
	return 0;
}

static void sq_close(struct store *s)
{
	struct sq *q = be(s);

	disconnect(q);
	free(q->path);
	free(q);
	s->be = NULL;
}

static void sq_share_snapshot(struct store *s, bool on)
{
	struct sq *q = be(s);

	if (!on)
		snapshot_end(q);
	q->share_reads = on;
}

static void sq_release_snapshot(struct store *s)
{
	snapshot_end(be(s));
}

static int sq_set_busy_timeout(struct store *s, unsigned ms)
{
	struct sq *q = be(s);

	q->busy_ms = ms > 60000 ? 60000 : ms;
	if (q->db)
		sqlite3_busy_timeout(q->db, (int)q->busy_ms);
	return 0;
}

static void read_cred(const struct sq *q, sqlite3_stmt *st, struct store_cred *out)
{
	col_copy(st, 0, out->username, sizeof(out->username), "username");
	col_copy(st, 1, out->domain, sizeof(out->domain), "domain");
	col_copy(st, 2, out->password, sizeof(out->password), "password");
	col_copy(st, 3, out->ha1, sizeof(out->ha1), "ha1");
	col_copy(st, 4, out->ha1b, sizeof(out->ha1b), "ha1b");
	col_copy(st, 5, out->email, sizeof(out->email), "email_address");
	col_copy(st, 6, out->rpid, sizeof(out->rpid), "rpid");
	out->status = sqlite3_column_int(st, 7);
	col_copy(st, 8, out->ha1_sha256, sizeof(out->ha1_sha256), "ha1_sha256");
	col_copy(st, 9, out->ha1b_sha256, sizeof(out->ha1b_sha256), "ha1b_sha256");
	col_copy(st, 10, out->ha1_sha512t256, sizeof(out->ha1_sha512t256), "ha1_sha512t256");
	col_copy(st, 11, out->ha1b_sha512t256, sizeof(out->ha1b_sha512t256), "ha1b_sha512t256");
	out->min_algo = sqlite3_column_int(st, 12);
	out->pin_algo = sqlite3_column_int(st, 13);
	out->valid_until = sqlite3_column_int64(st, 14);
	out->locked_until = sqlite3_column_int64(st, 15);
	out->hashes = (out->ha1[0] ? 1u << STORE_HASH_MD5 : 0) | (out->ha1_sha256[0] ? 1u << STORE_HASH_SHA256 : 0) |
		      (out->ha1_sha512t256[0] ? 1u << STORE_HASH_SHA512_256 : 0);
	for (unsigned i = 0; i < q->nextra; i++) {
		const unsigned char *v = sqlite3_column_text(st, CRED_EXTRA_FIRST + (int)i);
		size_t n = (size_t)sqlite3_column_bytes(st, CRED_EXTRA_FIRST + (int)i);

		/* Too long is unusable rather than cut: a cut value could pass a
		 * policy; so is one with a NUL byte, which would read as cut. */
		if (n > STORE_EXTRA_VALUE_MAX || (v && memchr(v, '\0', n)))
			out->extra_unusable |= 1u << i;
		else if (v)
			memcpy(out->extra[i], v, n);
	}
}

static int get_cred_stmt(struct sq *q, enum stmt_id id, struct slice key, struct slice domain,
			 struct store_cred *out)
{
	sqlite3_stmt *st;
	int rc, err;

	err = connection_ready(q);
	if (err)
		return err;
	st = stmt(q, id);
	if (!st)
		return -EINVAL;
	snapshot_enter(q);
	sqlite3_bind_text(st, 1, key.p, (int)key.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, domain.p, (int)domain.len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		/* The decoy row (CRED_SELECT) is read like a found one, then forgotten. */
		read_cred(q, st, out);
		err = sqlite3_column_int(st, CRED_EXTRA_FIRST + (int)q->nextra) ? 0 : -ENOENT;
		if (err)
			base_wipe(out, sizeof(*out));
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : fail(q, rc, "get credentials");
	}
	done(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		snapshot_end(q); /* after a fault the next read starts afresh */
	return err;
}

static int sq_get_cred(struct store *s, struct slice username, struct slice domain, struct store_cred *out)
{
	return get_cred_stmt(be(s), ST_GET_CRED, username, domain, out);
}

static int sq_get_cred_uh(struct store *s, enum store_hash h, struct slice userhash, struct slice domain,
			  struct store_cred *out)
{
	static const enum stmt_id ids[STORE_HASH__COUNT] = { ST_GET_CRED_UH_MD5, ST_GET_CRED_UH_SHA256,
							     ST_GET_CRED_UH_SHA512 };

	return get_cred_stmt(be(s), ids[h], userhash, domain, out);
}

/* Run a user statement bound as (?1 username, ?2 domain, ?3.. extra). */
static int user_write(struct store *s, enum stmt_id id, const char *username, const char *domain,
		      const struct store_user_secrets *sec, const int64_t *value, const char *what, int *changes)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, id);
	if (!st)
		return -EINVAL;
	bind_str(st, 1, username);
	bind_str(st, 2, domain);
	if (sec) {
		bind_str(st, 3, sec->password);
		bind_str(st, 4, sec->ha1);
		bind_str(st, 5, sec->ha1b);
		bind_str(st, 6, sec->ha1_sha256);
		bind_str(st, 7, sec->ha1b_sha256);
		bind_str(st, 8, sec->ha1_sha512t256);
		bind_str(st, 9, sec->ha1b_sha512t256);
		for (int i = 0; i < STORE_HASH__COUNT; i++)
			bind_str(st, 10 + i, sec->userhash[i]);
	}
	if (value)
		sqlite3_bind_int64(st, 3, *value);
	return run(q, st, what, changes);
}

static int sq_user_add(struct store *s, const char *username, const char *domain,
		       const struct store_user_secrets *sec)
{
	struct store_user_secrets v = { 0 };
	int n, err;

#define OR_EMPTY(f) v.f = sec && sec->f ? sec->f : ""
	OR_EMPTY(password);
	OR_EMPTY(ha1);
	OR_EMPTY(ha1b);
	OR_EMPTY(ha1_sha256);
	OR_EMPTY(ha1b_sha256);
	OR_EMPTY(ha1_sha512t256);
	OR_EMPTY(ha1b_sha512t256);
	for (int i = 0; i < STORE_HASH__COUNT; i++)
		OR_EMPTY(userhash[i]);
#undef OR_EMPTY
	err = user_write(s, ST_USER_ADD, username, domain, &v, NULL, "add user", &n);
	return err ? err : n ? 0 : -EEXIST;
}

static int sq_user_update(struct store *s, const char *username, const char *domain,
			  const struct store_user_secrets *sec)
{
	static const struct store_user_secrets none;
	int n, err;

	err = user_write(s, ST_USER_UPDATE, username, domain, sec ? sec : &none, NULL, "update user", &n);
	return err ? err : n ? 0 : -ENOENT;
}

static int sq_user_del(struct store *s, const char *username, const char *domain)
{
	int n, err = user_write(s, ST_USER_DEL, username, domain, NULL, NULL, "delete user", &n);

	return err ? err : n ? 0 : -ENOENT;
}

static int sq_user_set_field(struct store *s, const char *username, const char *domain, enum store_field f,
			     int64_t value)
{
	static const enum stmt_id ids[STORE_FIELD__COUNT] = {
		[STORE_FIELD_STATUS] = ST_SET_STATUS,		[STORE_FIELD_MIN_ALGO] = ST_SET_MIN_ALGO,
		[STORE_FIELD_PIN] = ST_SET_PIN,			[STORE_FIELD_VALID_UNTIL] = ST_SET_VALID_UNTIL,
		[STORE_FIELD_LOCKED_UNTIL] = ST_SET_LOCKED_UNTIL,
	};
	int n, err = user_write(s, ids[f], username, domain, NULL, &value, "set user field", &n);

	return err ? err : n ? 0 : -ENOENT;
}

static int sq_user_raise_pin(struct store *s, const char *username, const char *domain, int rank)
{
	int64_t v = rank;

	return user_write(s, ST_RAISE_PIN, username, domain, NULL, &v, "raise pin", NULL);
}

static int alias_stmt(struct store *s, enum stmt_id id, struct slice u, struct slice d, struct slice au,
		      struct slice ad, int *changes, bool *row)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int rc, err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, id);
	if (!st)
		return -EINVAL;
	sqlite3_bind_text(st, 1, u.p, (int)u.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d.p, (int)d.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, au.p, (int)au.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ad.p, (int)ad.len, SQLITE_STATIC);
	if (!row)
		return run(q, st, "alias", changes);
	rc = sqlite3_step(st);
	*row = rc == SQLITE_ROW;
	err = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(q, rc, "alias check");
	done(st);
	return err;
}

static int sq_alias_add(struct store *s, const char *user, const char *domain, const char *alias_user,
			const char *alias_domain)
{
	return alias_stmt(s, ST_ALIAS_ADD, slice_cstr(user), slice_cstr(domain), slice_cstr(alias_user),
			  slice_cstr(alias_domain), NULL, NULL);
}

static int sq_alias_del(struct store *s, const char *user, const char *domain, const char *alias_user,
			const char *alias_domain)
{
	int n, err = alias_stmt(s, ST_ALIAS_DEL, slice_cstr(user), slice_cstr(domain), slice_cstr(alias_user),
				slice_cstr(alias_domain), &n, NULL);

	return err ? err : n ? 0 : -ENOENT;
}

static int sq_alias_check(struct store *s, struct slice user, struct slice domain, struct slice alias_user,
			  struct slice alias_domain)
{
	bool row = false;
	int err = alias_stmt(s, ST_ALIAS_CHECK, user, domain, alias_user, alias_domain, NULL, &row);

	return err ? err : row ? 0 : -ENOENT;
}

static int sq_alias_list(struct store *s, store_alias_fn fn, void *arg)
{
	struct sq *q = be(s);
	char u[SW_MAX_USER + 1], d[SW_MAX_DOMAIN + 1], au[SW_MAX_USER + 1], ad[SW_MAX_DOMAIN + 1];
	sqlite3_stmt *st;
	int rc, err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, ST_ALIAS_LIST);
	if (!st)
		return -EINVAL;
	q->walking++;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		col_copy(st, 0, u, sizeof(u), "username");
		col_copy(st, 1, d, sizeof(d), "domain");
		col_copy(st, 2, au, sizeof(au), "alias_username");
		col_copy(st, 3, ad, sizeof(ad), "alias_domain");
		err = fn(u, d, au, ad, arg);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = fail(q, rc, "list aliases");
	q->walking--;
	done(st);
	return err;
}

static int sq_block_put(struct store *s, const struct store_block *b)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, ST_BLOCK_PUT);
	if (!st)
		return -EINVAL;
	bind_str(st, 1, b->src);
	bind_str(st, 2, b->user);
	sqlite3_bind_int64(st, 3, b->since);
	sqlite3_bind_int64(st, 4, b->until);
	bind_str(st, 5, b->reason);
	return run(q, st, "save block", NULL);
}

static int sq_block_del(struct store *s, const char *src, const char *user)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int n, err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, user ? ST_BLOCK_DEL_ONE : ST_BLOCK_DEL_SRC);
	if (!st)
		return -EINVAL;
	bind_str(st, 1, src);
	if (user)
		bind_str(st, 2, user);
	err = run(q, st, "delete block", &n);
	return err ? err : n ? 0 : -ENOENT;
}

static int sq_block_list(struct store *s, store_block_fn fn, void *arg)
{
	struct sq *q = be(s);
	struct store_block b;
	sqlite3_stmt *st;
	int rc, err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, ST_BLOCK_LIST);
	if (!st)
		return -EINVAL;
	q->walking++;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&b, 0, sizeof(b));
		col_copy(st, 0, b.src, sizeof(b.src), "src");
		col_copy(st, 1, b.user, sizeof(b.user), "username");
		b.since = sqlite3_column_int64(st, 2);
		b.until = sqlite3_column_int64(st, 3);
		col_copy(st, 4, b.reason, sizeof(b.reason), "reason");
		err = fn(&b, arg);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = fail(q, rc, "list blocks");
	q->walking--;
	done(st);
	return err;
}

static int sq_block_purge(struct store *s, int64_t now)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, ST_BLOCK_PURGE);
	if (!st)
		return -EINVAL;
	sqlite3_bind_int64(st, 1, now);
	return run(q, st, "purge blocks", NULL);
}

static int sq_user_list(struct store *s, const char *domain, store_user_fn fn, void *arg)
{
	struct sq *q = be(s);
	struct store_cred c;
	sqlite3_stmt *st;
	int rc, err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, domain ? ST_USER_LIST_DOM : ST_USER_LIST_ALL);
	if (!st)
		return -EINVAL;
	if (domain)
		bind_str(st, 1, domain);
	q->walking++;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* The secret columns are not even selected: the walk can only see blanks. */
		memset(&c, 0, sizeof(c));
		col_copy(st, 0, c.username, sizeof(c.username), "username");
		col_copy(st, 1, c.domain, sizeof(c.domain), "domain");
		col_copy(st, 2, c.email, sizeof(c.email), "email_address");
		col_copy(st, 3, c.rpid, sizeof(c.rpid), "rpid");
		c.status = sqlite3_column_int(st, 4);
		for (int i = 0; i < STORE_HASH__COUNT; i++)
			c.hashes |= sqlite3_column_int(st, 5 + i) ? 1u << i : 0;
		c.min_algo = sqlite3_column_int(st, 8);
		c.pin_algo = sqlite3_column_int(st, 9);
		c.valid_until = sqlite3_column_int64(st, 10);
		c.locked_until = sqlite3_column_int64(st, 11);
		err = fn(&c, arg);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = fail(q, rc, "list users");
	q->walking--;
	done(st);
	return err;
}

static int sq_loc_put(struct store *s, const struct store_contact *c)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, ST_LOC_PUT);
	if (!st)
		return -EINVAL;
	bind_str(st, 1, c->aor);
	bind_str(st, 2, c->contact);
	bind_str(st, 3, c->received);
	bind_str(st, 4, c->call_id);
	sqlite3_bind_int64(st, 5, c->cseq);
	sqlite3_bind_int64(st, 6, c->expires);
	sqlite3_bind_int(st, 7, c->q);
	bind_str(st, 8, c->user_agent);
	return run(q, st, "save binding", NULL);
}

static int sq_loc_del(struct store *s, const char *aor, const char *contact)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int n, err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, contact ? ST_LOC_DEL_ONE : ST_LOC_DEL_AOR);
	if (!st)
		return -EINVAL;
	bind_str(st, 1, aor);
	if (contact)
		bind_str(st, 2, contact);
	err = run(q, st, "delete binding", &n);
	return err ? err : n ? 0 : -ENOENT;
}

static int sq_loc_load(struct store *s, int64_t now, store_contact_fn fn, void *arg)
{
	struct sq *q = be(s);
	struct store_contact c;
	sqlite3_stmt *st;
	int rc, err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, ST_LOC_LOAD);
	if (!st)
		return -EINVAL;
	sqlite3_bind_int64(st, 1, now);
	q->walking++;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&c, 0, sizeof(c));
		col_copy(st, 0, c.aor, sizeof(c.aor), "aor");
		col_copy(st, 1, c.contact, sizeof(c.contact), "contact");
		if (!c.aor[0] || !c.contact[0])
			continue;
		col_copy(st, 2, c.received, sizeof(c.received), "received");
		col_copy(st, 3, c.call_id, sizeof(c.call_id), "call_id");
		c.cseq = (uint32_t)sqlite3_column_int64(st, 4);
		c.expires = sqlite3_column_int64(st, 5);
		c.q = sqlite3_column_int(st, 6);
		col_copy(st, 7, c.user_agent, sizeof(c.user_agent), "user_agent");
		err = fn(&c, arg);
		if (err)
			break;
	}
	if (!err && rc != SQLITE_DONE)
		err = fail(q, rc, "load bindings");
	q->walking--;
	done(st);
	return err;
}

static int sq_loc_purge(struct store *s, int64_t now)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, ST_LOC_PURGE);
	if (!st)
		return -EINVAL;
	sqlite3_bind_int64(st, 1, now);
	return run(q, st, "purge bindings", NULL);
}

static int sq_begin(struct store *s)
{
	struct sq *q = be(s);
	int err;

	if (q->in_txn)
		return -EINVAL;
	err = ready(q);
	err = err ? err : run(q, q->st[ST_BEGIN], "begin", NULL);
	if (!err)
		q->in_txn = true;
	return err;
}

static int sq_commit(struct store *s)
{
	struct sq *q = be(s);
	int err;

	if (q->txn_lost) {
		q->txn_lost = false;
		return -EIO;
	}
	if (!q->in_txn)
		return -EINVAL;
	err = run(q, q->st[ST_COMMIT], "commit", NULL);
	if (err == -EIO) {
		/* The connection is dropped before the next call; the transaction is gone. */
		q->txn_lost = q->in_txn = false;
		return err;
	}
	/* A busy COMMIT leaves the transaction open for a retry or a rollback. */
	q->in_txn = !sqlite3_get_autocommit(q->db);
	return err;
}

static int sq_rollback(struct store *s)
{
	struct sq *q = be(s);
	int err;

	if (q->txn_lost) {
		q->txn_lost = false;
		return 0;
	}
	if (!q->in_txn)
		return 0;
	err = run(q, q->st[ST_ROLLBACK], "rollback", NULL);
	q->txn_lost = q->in_txn = false;
	return err;
}

const struct store_ops store_sqlite_ops = {
	.scheme = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.set_busy_timeout = sq_set_busy_timeout,
	.share_snapshot = sq_share_snapshot,
	.release_snapshot = sq_release_snapshot,
	.get_cred = sq_get_cred,
	.user_add = sq_user_add,
	.user_update = sq_user_update,
	.user_del = sq_user_del,
	.get_cred_uh = sq_get_cred_uh,
	.user_set_field = sq_user_set_field,
	.user_raise_pin = sq_user_raise_pin,
	.alias_add = sq_alias_add,
	.alias_del = sq_alias_del,
	.alias_check = sq_alias_check,
	.alias_list = sq_alias_list,
	.block_put = sq_block_put,
	.block_del = sq_block_del,
	.block_list = sq_block_list,
	.block_purge = sq_block_purge,
	.user_list = sq_user_list,
	.loc_put = sq_loc_put,
	.loc_del = sq_loc_del,
	.loc_load = sq_loc_load,
	.loc_purge = sq_loc_purge,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
};
