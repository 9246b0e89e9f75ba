/* SQLite backend of the store ("sqlite:PATH"): Kamailio-compatible `subscriber`
 * table plus `status`, the `location` table, WAL journal, a short busy timeout
 * (a locked database is -EAGAIN, never a long stall of a worker), statements
 * prepared once per connection, and a fresh connection after any I/O fault so
 * the store recovers by itself when the file comes back. Never logs a value. */
#include "store/store_int.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/util.h"

/* Schema revision of sipwarden's own tables, kept in PRAGMA user_version (the
 * Kamailio `version` table is left to Kamailio). */
#define SCHEMA_VERSION 1
/* Default wait for a lock held by another connection: short, because a worker
 * waiting here stalls every transaction it owns. */
#define BUSY_TIMEOUT_MS 200
/* Opening may create or migrate the schema; a CLI or a starting daemon can wait. */
#define OPEN_BUSY_TIMEOUT_MS 2000
/* How often an idle-looking connection checks that PATH is still the file it has open. */
#define RECHECK_MS 1000

enum stmt_id {
	ST_GET_CRED,
	ST_USER_ADD,
	ST_USER_UPDATE,
	ST_USER_DEL,
	ST_USER_STATUS,
	ST_USER_LIST_ALL,
	ST_USER_LIST_DOM,
	ST_LOC_PUT,
	ST_LOC_DEL_ONE,
	ST_LOC_DEL_AOR,
	ST_LOC_LOAD,
	ST_LOC_PURGE,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST__COUNT
};

/* $LOC is the location table; $EMAIL and $RPID are the optional Kamailio columns
 * (absent from Kamailio 5 databases), replaced by constants when missing.
 * Usernames compare exactly, domains case-insensitively. GET_CRED has no ORDER
 * BY (a sorter would double its cost): only a foreign writer can store one
 * account twice in two domain cases, and the index order still picks one. */
static const char *const stmt_sql[ST__COUNT] = {
	[ST_GET_CRED] = "SELECT username, domain, password, ha1, ha1b, $EMAIL, $RPID, status FROM subscriber"
			" WHERE username = ?1 AND domain = ?2 COLLATE NOCASE LIMIT 1",
	[ST_USER_ADD] = "INSERT INTO subscriber (username, domain, password, ha1, ha1b, status)"
			" SELECT ?1, ?2, ?3, ?4, ?5, 0 WHERE NOT EXISTS (SELECT 1 FROM subscriber"
			" WHERE username = ?1 AND domain = ?2 COLLATE NOCASE)",
	[ST_USER_UPDATE] = "UPDATE subscriber SET password = COALESCE(?3, password), ha1 = COALESCE(?4, ha1),"
			   " ha1b = COALESCE(?5, ha1b) WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_USER_DEL] = "DELETE FROM subscriber WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_USER_STATUS] = "UPDATE subscriber SET status = ?3 WHERE username = ?1 AND domain = ?2 COLLATE NOCASE",
	[ST_USER_LIST_ALL] = "SELECT username, domain, $EMAIL, $RPID, status FROM subscriber"
			     " ORDER BY domain COLLATE NOCASE, username",
	[ST_USER_LIST_DOM] = "SELECT username, domain, $EMAIL, $RPID, status FROM subscriber"
			     " WHERE domain = ?1 COLLATE NOCASE ORDER BY username",
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

#define STR_(x) #x
#define STR(x) STR_(x)

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char *path;          /**< absolute once the file exists, so a later chdir() is harmless */
	const char *loc;     /**< location table name */
	bool has_email;      /**< subscriber.email_address exists */
	bool has_rpid;       /**< subscriber.rpid exists */
	unsigned busy_ms;
	bool broken;         /**< an I/O-level fault: reconnect before the next call */
	bool down;           /**< reconnecting fails; logged once per outage */
	bool in_txn;         /**< between store_begin and commit/rollback */
	bool txn_lost;       /**< connection failed inside a transaction */
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
	static const char *const names[] = { "$LOC", "$EMAIL", "$RPID" };
	const char *vals[] = { q->loc, q->has_email ? "email_address" : "''", q->has_rpid ? "rpid" : "NULL" };
	size_t o = 0;

	while (*tmpl) {
		const char *v = NULL;
		size_t skip = 1, vlen;

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !v; i++) {
			size_t n = strlen(names[i]);
			if (strncmp(tmpl, names[i], n) == 0) {
				v = vals[i];
				skip = n;
			}
		}
		if (!v) {
			v = tmpl;
			vlen = 1;
		} else {
			vlen = strlen(v);
		}
		if (o + vlen >= cap)
			return -ENOSPC;
		memcpy(out + o, v, vlen);
		o += vlen;
		tmpl += skip;
	}
	out[o] = '\0';
	return 0;
}

static int exec_sql(struct sq *q, const char *tmpl, const char *what)
{
	char sql[2048];
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

/* Inspect the schema: which location table to use, which optional columns exist,
 * and whether anything must be created or added. */
static int schema_probe(struct sq *q, bool *needs, int64_t *version)
{
	bool sub, status, loc, loc_aor;
	int err;

	err = query_int(q, "PRAGMA user_version", NULL, NULL, version);
	err = err ? err : table_exists(q, "subscriber", &sub);
	err = err ? err : column_exists(q, "subscriber", "status", &status);
	err = err ? err : column_exists(q, "subscriber", "email_address", &q->has_email);
	err = err ? err : column_exists(q, "subscriber", "rpid", &q->has_rpid);
	err = err ? err : table_exists(q, "location", &loc);
	err = err ? err : column_exists(q, "location", "aor", &loc_aor);
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
	*needs = !sub || !status || !loc || *version < SCHEMA_VERSION;
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

static void disconnect(struct sq *q)
{
	for (int i = 0; i < ST__COUNT; i++) {
		sqlite3_finalize(q->st[i]);
		q->st[i] = NULL;
	}
	sqlite3_close(q->db);
	q->db = NULL;
	q->in_txn = false;
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
	char sql[1024];
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
	err = pragma_setup(q);
	err = err ? err : schema_setup(q);
	for (int i = 0; !err && i < ST__COUNT; i++) {
		err = expand(q, stmt_sql[i], sql, sizeof(sql)) ? -EINVAL : 0;
		rc = err ? SQLITE_OK : sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL);
		if (rc != SQLITE_OK)
			err = fail(q, rc, "prepare");
	}
	if (err) {
		disconnect(q);
		return err == -EAGAIN || err == -ENOMEM ? err : -EIO;
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

/* Called first by every operation: reconnect after a fault, or when PATH now
 * names another file (restored backup) or none. */
static int ready(struct sq *q)
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
 * identity is worse than none): it is dropped with a warning. */
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
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int sq_open(struct store *s, const char *target)
{
	struct sq *q;
	char *abs;
	int err;

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

static int sq_set_busy_timeout(struct store *s, unsigned ms)
{
	struct sq *q = be(s);

	q->busy_ms = ms > 60000 ? 60000 : ms;
	if (q->db)
		sqlite3_busy_timeout(q->db, (int)q->busy_ms);
	return 0;
}

static int sq_get_cred(struct store *s, struct slice username, struct slice domain, struct store_cred *out)
{
	struct sq *q = be(s);
	sqlite3_stmt *st;
	int rc, err;

	err = ready(q);
	if (err)
		return err;
	st = stmt(q, ST_GET_CRED);
	if (!st)
		return -EINVAL;
	sqlite3_bind_text(st, 1, username.p, (int)username.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, domain.p, (int)domain.len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		col_copy(st, 0, out->username, sizeof(out->username), "username");
		col_copy(st, 1, out->domain, sizeof(out->domain), "domain");
		col_copy(st, 2, out->password, sizeof(out->password), "password");
		col_copy(st, 3, out->ha1, sizeof(out->ha1), "ha1");
		col_copy(st, 4, out->ha1b, sizeof(out->ha1b), "ha1b");
		col_copy(st, 5, out->email, sizeof(out->email), "email_address");
		col_copy(st, 6, out->rpid, sizeof(out->rpid), "rpid");
		out->status = sqlite3_column_int(st, 7);
		err = 0;
	} else {
		err = rc == SQLITE_DONE ? -ENOENT : fail(q, rc, "get credentials");
	}
	done(st);
	return err;
}

/* Run a user statement bound as (?1 username, ?2 domain, ?3.. extra). */
static int user_write(struct store *s, enum stmt_id id, const char *username, const char *domain,
		      const struct store_user_secrets *sec, const int *status, const char *what, int *changes)
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
	}
	if (status)
		sqlite3_bind_int(st, 3, *status);
	return run(q, st, what, changes);
}

static int sq_user_add(struct store *s, const char *username, const char *domain,
		       const struct store_user_secrets *sec)
{
	struct store_user_secrets v = { "", "", "" };
	int n, err;

	if (sec) {
		v.password = sec->password ? sec->password : "";
		v.ha1 = sec->ha1 ? sec->ha1 : "";
		v.ha1b = sec->ha1b ? sec->ha1b : "";
	}
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

static int sq_user_set_status(struct store *s, const char *username, const char *domain, int status)
{
	int n, err = user_write(s, ST_USER_STATUS, username, domain, NULL, &status, "set user status", &n);

	return err ? err : n ? 0 : -ENOENT;
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
	.get_cred = sq_get_cred,
	.user_add = sq_user_add,
	.user_update = sq_user_update,
	.user_del = sq_user_del,
	.user_set_status = sq_user_set_status,
	.user_list = sq_user_list,
	.loc_put = sq_loc_put,
	.loc_del = sq_loc_del,
	.loc_load = sq_loc_load,
	.loc_purge = sq_loc_purge,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
};
