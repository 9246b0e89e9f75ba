/* PostgreSQL backend of the store ("postgres://..." and "postgresql://...",
 * the whole URL handed to libpq as its conninfo): the same tables and columns
 * as the SQLite backend (Kamailio-compatible `subscriber` plus sipwarden's
 * columns, `location` or `sw_location`, `sw_alias`, `sw_blocks`), created or
 * completed at connect when missing, under an advisory lock. One connection per
 * store object, every statement prepared once per connection and run with its
 * values as parameters. Nothing may hold a worker long: connect_timeout 3 s,
 * statement_timeout 2 s (or the busy timeout when longer), lock_timeout = the
 * busy timeout, and a client-side deadline on every answer (the timeout plus
 * 1 s) for a server that stops answering altogether. A lost connection makes
 * calls fail with -EIO (logged once per incident) and is re-established on a
 * later call, at most one attempt a second. Never logs a value, a secret or the
 * URL's password. */
#include "store/store_int.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/log.h"
#include "base/util.h"

#define CONNECT_TIMEOUT_S "3"
/* Server-side bound of one statement. */
#define STATEMENT_TIMEOUT_MS 2000u
/* Default wait for a row lock held by another connection (as SQLite's busy timeout). */
#define LOCK_TIMEOUT_MS 200u
/* Client-side margin over the statement timeout before a silent server is given up. */
#define REPLY_GRACE_MS 1000u
/* At most one reconnection attempt per store this often. */
#define RETRY_MS 1000u
/* Bound of each statement creating or completing the schema: filling the
 * userhash columns of a large existing table takes longer than a lookup. */
#define SCHEMA_TIMEOUT_MS 60000
/* Key of the advisory lock that serialises schema creation between processes. */
#define SCHEMA_LOCK_KEY "7596849127313810"

enum stmt_id {
	ST_GET_CRED,
	ST_GET_CRED_UH_MD5,
	ST_GET_CRED_UH_SHA256,
	ST_GET_CRED_UH_SHA512,
	ST_GET_CRED_DECOY,
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
	ST__COUNT
};

/* Columns read by read_cred(), in this order (as in sqlite.c). */
#define CRED_COLS                                                                                  \
	"username, domain, password, ha1, ha1b, $EMAIL, $RPID, status, ha1_sha256, ha1b_sha256,"   \
	" ha1_sha512t256, ha1b_sha512t256, min_algo, auth_pin, valid_until, locked_until$EXTRA"
#define CRED_EXTRA_FIRST 16
/* One statement: the row WHERE selects, flagged 1, and the table's first row,
 * flagged 0, both read every time; ORDER BY on the flag puts the found row
 * first whatever the plan. An unknown user costs a lookup and a row read, like
 * a known one, and gets the stand-in row, read the same way and wiped. */
#define DECOY_SELECT "SELECT " CRED_COLS ", 0 FROM subscriber WHERE id = (SELECT min(id) FROM subscriber)"
#define CRED_SELECT(where)                                                                         \
	"SELECT " CRED_COLS ", 1 AS sw_found FROM subscriber WHERE " where " UNION ALL " DECOY_SELECT  \
	" ORDER BY sw_found DESC LIMIT 1"
#define BY_USER "username = $1 AND lower(domain) = lower($2)"

#define LIST_COLS                                                                                  \
	"username, domain, $EMAIL, $RPID, status, (ha1 <> '')::int, (ha1_sha256 <> '')::int,"        \
	" (ha1_sha512t256 <> '')::int, min_algo, auth_pin, valid_until, locked_until"

/* Parameter types, one letter each: t text, b bigint. */
struct stmt_def {
	const char *sql;
	const char *types;
	bool retry; /**< read-only: re-sent once on a fresh connection after a lost one */
};

/* Usernames compare exactly, domains case-insensitively (lower() both sides);
 * listings sort bytewise (COLLATE "C") as SQLite does. */
static const struct stmt_def stmt_defs[ST__COUNT] = {
	[ST_GET_CRED] = { CRED_SELECT(BY_USER), "tt", true },
	[ST_GET_CRED_UH_MD5] = { CRED_SELECT("userhash_md5 = lower($1) AND lower(domain) = lower($2)"), "tt", true },
	[ST_GET_CRED_UH_SHA256] = { CRED_SELECT("userhash_sha256 = lower($1) AND lower(domain) = lower($2)"), "tt",
				    true },
	[ST_GET_CRED_UH_SHA512] = { CRED_SELECT("userhash_sha512t256 = lower($1) AND lower(domain) = lower($2)"),
				    "tt", true },
	[ST_GET_CRED_DECOY] = { DECOY_SELECT, "", true },
	[ST_USER_ADD] = { "INSERT INTO subscriber (username, domain, password, ha1, ha1b, status, ha1_sha256,"
			  " ha1b_sha256, ha1_sha512t256, ha1b_sha512t256, userhash_md5, userhash_sha256,"
			  " userhash_sha512t256)"
			  " SELECT $1, $2, $3, $4, $5, 0, $6, $7, $8, $9, $10, $11, $12 WHERE NOT EXISTS"
			  " (SELECT 1 FROM subscriber WHERE " BY_USER ") ON CONFLICT DO NOTHING",
			  "tttttttttttt" },
	[ST_USER_UPDATE] = { "UPDATE subscriber SET password = COALESCE($3, password), ha1 = COALESCE($4, ha1),"
			     " ha1b = COALESCE($5, ha1b), ha1_sha256 = COALESCE($6, ha1_sha256),"
			     " ha1b_sha256 = COALESCE($7, ha1b_sha256),"
			     " ha1_sha512t256 = COALESCE($8, ha1_sha512t256),"
			     " ha1b_sha512t256 = COALESCE($9, ha1b_sha512t256),"
			     " userhash_md5 = COALESCE($10, userhash_md5),"
			     " userhash_sha256 = COALESCE($11, userhash_sha256),"
			     " userhash_sha512t256 = COALESCE($12, userhash_sha512t256) WHERE " BY_USER,
			     "tttttttttttt" },
	[ST_USER_DEL] = { "DELETE FROM subscriber WHERE " BY_USER, "tt" },
	[ST_SET_STATUS] = { "UPDATE subscriber SET status = $3 WHERE " BY_USER, "ttb" },
	[ST_SET_MIN_ALGO] = { "UPDATE subscriber SET min_algo = $3 WHERE " BY_USER, "ttb" },
	[ST_SET_PIN] = { "UPDATE subscriber SET auth_pin = $3 WHERE " BY_USER, "ttb" },
	[ST_SET_VALID_UNTIL] = { "UPDATE subscriber SET valid_until = $3 WHERE " BY_USER, "ttb" },
	[ST_SET_LOCKED_UNTIL] = { "UPDATE subscriber SET locked_until = $3 WHERE " BY_USER, "ttb" },
	[ST_RAISE_PIN] = { "UPDATE subscriber SET auth_pin = $3 WHERE " BY_USER " AND auth_pin < $3", "ttb" },
	[ST_ALIAS_ADD] = { "INSERT INTO sw_alias (username, domain, alias_username, alias_domain)"
			   " VALUES ($1, lower($2), $3, lower($4)) ON CONFLICT DO NOTHING",
			   "tttt" },
	[ST_ALIAS_DEL] = { "DELETE FROM sw_alias WHERE username = $1 AND domain = lower($2)"
			   " AND alias_username = $3 AND alias_domain = lower($4)",
			   "tttt" },
	[ST_ALIAS_CHECK] = { "SELECT 1 FROM sw_alias WHERE username = $1 AND domain = lower($2)"
			     " AND alias_username = $3 AND alias_domain = lower($4) LIMIT 1",
			     "tttt", true },
	[ST_ALIAS_LIST] = { "SELECT username, domain, alias_username, alias_domain FROM sw_alias"
			    " ORDER BY domain COLLATE \"C\", username COLLATE \"C\", alias_domain COLLATE \"C\","
			    " alias_username COLLATE \"C\"",
			    "", true },
	[ST_BLOCK_PUT] = { "INSERT INTO sw_blocks (src, username, since, until, reason) VALUES ($1, $2, $3, $4, $5)"
			   " ON CONFLICT (src, username) DO UPDATE SET since = EXCLUDED.since,"
			   " until = EXCLUDED.until, reason = EXCLUDED.reason",
			   "ttbbt" },
	[ST_BLOCK_DEL_ONE] = { "DELETE FROM sw_blocks WHERE src = $1 AND username = $2", "tt" },
	[ST_BLOCK_DEL_SRC] = { "DELETE FROM sw_blocks WHERE src = $1", "t" },
	[ST_BLOCK_LIST] = { "SELECT src, username, since, until, reason FROM sw_blocks"
			    " ORDER BY src COLLATE \"C\", username COLLATE \"C\"",
			    "", true },
	[ST_BLOCK_PURGE] = { "DELETE FROM sw_blocks WHERE until <= $1", "b" },
	[ST_USER_LIST_ALL] = { "SELECT " LIST_COLS " FROM subscriber"
			       " ORDER BY lower(domain) COLLATE \"C\", username COLLATE \"C\"",
			       "", true },
	[ST_USER_LIST_DOM] = { "SELECT " LIST_COLS " FROM subscriber WHERE lower(domain) = lower($1)"
			       " ORDER BY username COLLATE \"C\"",
			       "t", true },
	/* An upsert on (aor, contact). */
	[ST_LOC_PUT] = { "INSERT INTO $LOC (aor, contact, received, call_id, cseq, expires, q, user_agent)"
			 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (aor, contact) DO UPDATE SET"
			 " received = EXCLUDED.received, call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq,"
			 " expires = EXCLUDED.expires, q = EXCLUDED.q, user_agent = EXCLUDED.user_agent",
			 "ttttbbbt" },
	[ST_LOC_DEL_ONE] = { "DELETE FROM $LOC WHERE aor = $1 AND contact = $2", "tt" },
	[ST_LOC_DEL_AOR] = { "DELETE FROM $LOC WHERE aor = $1", "t" },
	[ST_LOC_LOAD] = { "SELECT aor, contact, received, call_id, cseq, expires, q, user_agent FROM $LOC"
			  " WHERE expires > $1 ORDER BY aor COLLATE \"C\", id",
			  "b", true },
	[ST_LOC_PURGE] = { "DELETE FROM $LOC WHERE expires <= $1", "b" },
};

/* Schema, statement by statement (the extended protocol takes one at a time).
 * The subscriber table is Kamailio's with email_address and rpid (older
 * Kamailio releases), the columns sipwarden adds, and password wide enough for
 * SW_MAX_PASSWORD. Existing tables only gain the missing columns. */
static const char *const schema_ddl[] = {
	"CREATE TABLE IF NOT EXISTS subscriber ("
	"id SERIAL PRIMARY KEY NOT NULL,"
	" username VARCHAR(64) NOT NULL DEFAULT '',"
	" domain VARCHAR(64) NOT NULL DEFAULT '',"
	" password VARCHAR(128) NOT NULL DEFAULT '',"
	" email_address VARCHAR(128) NOT NULL DEFAULT '',"
	" ha1 VARCHAR(128) NOT NULL DEFAULT '',"
	" ha1b VARCHAR(128) NOT NULL DEFAULT '',"
	" rpid VARCHAR(128) DEFAULT NULL,"
	" status INT NOT NULL DEFAULT 0,"
	" CONSTRAINT subscriber_account_idx UNIQUE (username, domain))",
	"CREATE INDEX IF NOT EXISTS subscriber_username_idx ON subscriber (username)",
	"ALTER TABLE subscriber ADD COLUMN IF NOT EXISTS status INT NOT NULL DEFAULT 0,"
	" ADD COLUMN IF NOT EXISTS ha1_sha256 VARCHAR(128) NOT NULL DEFAULT '',"
	" ADD COLUMN IF NOT EXISTS ha1b_sha256 VARCHAR(128) NOT NULL DEFAULT '',"
	" ADD COLUMN IF NOT EXISTS ha1_sha512t256 VARCHAR(128) NOT NULL DEFAULT '',"
	" ADD COLUMN IF NOT EXISTS ha1b_sha512t256 VARCHAR(128) NOT NULL DEFAULT '',"
	" ADD COLUMN IF NOT EXISTS userhash_md5 VARCHAR(128) NOT NULL DEFAULT '',"
	" ADD COLUMN IF NOT EXISTS userhash_sha256 VARCHAR(128) NOT NULL DEFAULT '',"
	" ADD COLUMN IF NOT EXISTS userhash_sha512t256 VARCHAR(128) NOT NULL DEFAULT '',"
	" ADD COLUMN IF NOT EXISTS min_algo INT NOT NULL DEFAULT -1,"
	" ADD COLUMN IF NOT EXISTS auth_pin INT NOT NULL DEFAULT -1,"
	" ADD COLUMN IF NOT EXISTS valid_until BIGINT NOT NULL DEFAULT 0,"
	" ADD COLUMN IF NOT EXISTS locked_until BIGINT NOT NULL DEFAULT 0",
	"CREATE INDEX IF NOT EXISTS subscriber_uh_md5_idx ON subscriber (userhash_md5)",
	"CREATE INDEX IF NOT EXISTS subscriber_uh_sha256_idx ON subscriber (userhash_sha256)",
	"CREATE INDEX IF NOT EXISTS subscriber_uh_sha512_idx ON subscriber (userhash_sha512t256)",
	"CREATE TABLE IF NOT EXISTS sw_alias ("
	"id SERIAL PRIMARY KEY NOT NULL,"
	" username VARCHAR(64) NOT NULL, domain VARCHAR(64) NOT NULL,"
	" alias_username VARCHAR(64) NOT NULL, alias_domain VARCHAR(64) NOT NULL,"
	" UNIQUE (username, domain, alias_username, alias_domain))",
	"CREATE TABLE IF NOT EXISTS sw_blocks ("
	"src VARCHAR(48) NOT NULL, username VARCHAR(64) NOT NULL DEFAULT '',"
	" since BIGINT NOT NULL, until BIGINT NOT NULL, reason VARCHAR(32) NOT NULL DEFAULT '',"
	" PRIMARY KEY (src, username))",
	"CREATE TABLE IF NOT EXISTS $LOC ("
	"id SERIAL PRIMARY KEY NOT NULL,"
	" aor VARCHAR(130) NOT NULL,"
	" contact VARCHAR(512) NOT NULL,"
	" received VARCHAR(128) NOT NULL DEFAULT '',"
	" call_id VARCHAR(255) NOT NULL DEFAULT '',"
	" cseq BIGINT NOT NULL DEFAULT 0,"
	" expires BIGINT NOT NULL DEFAULT 0,"
	" q INT NOT NULL DEFAULT -1,"
	" user_agent VARCHAR(128) NOT NULL DEFAULT '',"
	" UNIQUE (aor, contact))",
	"CREATE INDEX IF NOT EXISTS $LOC_expires_idx ON $LOC (expires)",
	/* Rows written before the userhash columns existed (realm = domain in
	 * lower case, as sipwarden-ctl hashes); SHA-512/256 is done in C. */
	"UPDATE subscriber SET userhash_md5 = md5(username || ':' || lower(domain)) WHERE userhash_md5 = ''",
	"UPDATE subscriber SET userhash_sha256 ="
	" encode(sha256(convert_to(username || ':' || lower(domain), 'UTF8')), 'hex') WHERE userhash_sha256 = ''",
};

#define STR_(x) #x
#define STR(x) STR_(x)

#define HAS_COL(t, c)                                                                              \
	"EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('" t "') AND attname = '" c  \
	"' AND attnum > 0 AND NOT attisdropped)"
/* What exists, in one row of booleans (see schema_probe). */
#define PROBE_SQL                                                                                  \
	"SELECT to_regclass('subscriber') IS NOT NULL, " HAS_COL("subscriber", "status") ", "          \
	HAS_COL("subscriber", "email_address") ", " HAS_COL("subscriber", "rpid") ", "                 \
	HAS_COL("subscriber", "locked_until") ", to_regclass('location') IS NOT NULL, "                \
	HAS_COL("location", "aor") ", to_regclass('sw_location') IS NOT NULL,"                         \
	" to_regclass('sw_alias') IS NOT NULL, to_regclass('sw_blocks') IS NOT NULL"

struct pg {
	PGconn *conn;
	char *url;           /**< the whole URL, given to libpq; never logged */
	char *pw;            /**< its password as libpq reads it, or NULL: libpq messages quoting it are withheld */
	char *pw_raw;        /**< the same as written in the URL (percent-encoded), or NULL */
	char shown[256];     /**< the URL with its password masked, for logs */
	const char *loc;     /**< location table name */
	bool has_email;      /**< subscriber.email_address exists */
	bool has_rpid;       /**< subscriber.rpid exists */
	unsigned nextra;     /**< extra columns the statements were prepared with */
	char extra_sql[STORE_MAX_EXTRA_COLS * (2 * STORE_COLUMN_NAME_MAX + 5) + 1]; /**< $EXTRA */
	unsigned busy_ms;    /**< lock_timeout */
	bool broken;         /**< reconnect before the next call */
	bool down;           /**< reconnecting fails; logged once per outage */
	bool in_txn;         /**< a transaction is open on the server */
	bool txn_lost;       /**< the caller's transaction failed: -EIO until commit/rollback */
	bool warned_loc;     /**< a binding was skipped for bytes the database refuses */
	uint32_t walking;    /**< bit per statement whose result a walk is going through */
	uint64_t next_try_ms; /**< no reconnection attempt before this */
	unsigned setup_ms;   /**< non-zero: the statement timeout while the schema is set up */
};

/* Set while connecting fails anywhere in the process, so that stores opened
 * again and again during an outage (the write-back thread) do not log each try. */
static atomic_bool pg_outage;

static struct pg *be(struct store *s)
{
	return s->be;
}

static unsigned stmt_timeout_ms(const struct pg *q)
{
	if (q->setup_ms)
		return q->setup_ms;
	return q->busy_ms > STATEMENT_TIMEOUT_MS ? q->busy_ms : STATEMENT_TIMEOUT_MS;
}

/* Strict UTF-8 without NUL (what a UTF8 database accepts as text): names from
 * the network that fail this cannot be stored, so cannot be found either. */
static bool utf8_ok(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], len, min;
		uint32_t cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2, min = 0x80, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3, min = 0x800, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static bool cstr_ok(const char *s)
{
	return !s || utf8_ok(s, strlen(s));
}

/* The first line of a libpq or server message (the rest is hints), or a
 * fixed text when the message quotes the URL's password (libpq names the
 * offending part of a connection string in some of its messages). */
static const char *one_line(const struct pg *q, const char *msg, char *buf, size_t cap)
{
	size_t o = 0;

	if (msg && ((q->pw && q->pw[0] && strstr(msg, q->pw)) || (q->pw_raw && q->pw_raw[0] && strstr(msg, q->pw_raw))))
		msg = "(libpq's message not shown: it quotes the password)";
	for (; msg && *msg && *msg != '\n' && o + 1 < cap; msg++)
		buf[o++] = *msg == '\r' || *msg == '\t' ? ' ' : *msg;
	while (o && buf[o - 1] == ' ')
		o--;
	buf[o] = '\0';
	return buf;
}

/* A broken connection inside a transaction: closed at once, so that the
 * server ends the session, rolls the transaction back and releases its row
 * locks now rather than at the next call. The caller must end the
 * transaction (-EIO until then). */
static void txn_broken(struct pg *q)
{
	q->in_txn = false;
	q->txn_lost = true;
	PQfinish(q->conn);
	q->conn = NULL;
}

/* The connection is gone or unusable: drop it before the next call. */
static int lost(struct pg *q, const char *what, const char *why)
{
	char line[256];

	if (!q->down)
		LOG_ERR("store: postgres %s: %s: %s", q->shown, what, one_line(q, why, line, sizeof(line)));
	q->broken = true;
	if (q->in_txn)
		txn_broken(q);
	return -EIO;
}

/* Map a failed statement to the store's errno contract. Values are never
 * logged: a data exception (class 22) is named by its SQLSTATE only, since
 * its message may quote the bytes of a bound value. */
static int fail(struct pg *q, const PGresult *res, const char *what)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char line[256];
	int err;

	if (!q->conn || PQstatus(q->conn) != CONNECTION_OK || !st || strlen(st) != 5)
		return lost(q, what, q->conn ? PQerrorMessage(q->conn) : "no connection");
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0 || strncmp(st, "53", 2) == 0 ||
	    strncmp(st, "58", 2) == 0 || strncmp(st, "XX", 2) == 0)
		return lost(q, what, msg ? msg : st);
	if (strcmp(st, "23505") == 0) {
		err = -EEXIST;
	} else if (strncmp(st, "22", 2) == 0) {
		LOG_WARN("store: postgres %s: %s: value refused (SQLSTATE %s)", q->shown, what, st);
		err = -EINVAL;
	} else if (strncmp(st, "23", 2) == 0) {
		LOG_ERR("store: postgres %s: %s: %s", q->shown, what, one_line(q, msg, line, sizeof(line)));
		err = -EINVAL;
	} else if (strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0 || strcmp(st, "40001") == 0 ||
		   strcmp(st, "40P01") == 0) {
		LOG_WARN("store: postgres %s: %s: database busy (SQLSTATE %s)", q->shown, what, st);
		err = -EAGAIN;
	} else {
		/* A missing table or column and the like: a new connection sets the
		 * schema up again. */
		if (!q->down)
			LOG_ERR("store: postgres %s: %s: %s (SQLSTATE %s)", q->shown, what,
				one_line(q, msg, line, sizeof(line)), st);
		q->broken = true;
		err = -EIO;
	}
	/* Any error aborts the server's transaction; the caller must end it. */
	if (q->in_txn) {
		q->txn_lost = true;
		if (q->broken)
			txn_broken(q);
	}
	return err;
}

/* Wait for the answer to what was just sent, within the client-side deadline.
 * Returns the result to PQclear (the first failed one when several), or NULL
 * with *err set (the connection is then marked broken). */
static PGresult *await(struct pg *q, const char *what, int *err)
{
	uint64_t deadline = base_mono_ms() + stmt_timeout_ms(q) + REPLY_GRACE_MS;
	PGresult *res = NULL;
	int flushing = 1;

	for (;;) {
		if (flushing) {
			flushing = PQflush(q->conn);
			if (flushing < 0)
				break;
		}
		if (!flushing && !PQisBusy(q->conn)) {
			PGresult *r = PQgetResult(q->conn);

			if (!r)
				break;
			if (!res || PQresultStatus(res) != PGRES_FATAL_ERROR) {
				PQclear(res);
				res = r;
			} else {
				PQclear(r);
			}
			continue;
		}
		uint64_t now = base_mono_ms();
		if (now >= deadline) {
			PQclear(res);
			*err = lost(q, what, "no answer from the server in time");
			return NULL;
		}
		struct pollfd p = { .fd = PQsocket(q->conn), .events = POLLIN | (flushing ? POLLOUT : 0) };
		if (p.fd < 0)
			break;
		int n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && !PQconsumeInput(q->conn))
			break;
	}
	if (!res || PQstatus(q->conn) != CONNECTION_OK) {
		PQclear(res);
		*err = lost(q, what, PQerrorMessage(q->conn));
		return NULL;
	}
	if (PQresultStatus(res) == PGRES_FATAL_ERROR || PQresultStatus(res) == PGRES_NONFATAL_ERROR ||
	    PQresultStatus(res) == PGRES_BAD_RESPONSE) {
		*err = fail(q, res, what);
		PQclear(res);
		return NULL;
	}
	*err = 0;
	return res;
}

/* Run one SQL statement with text parameters (none: nparams 0). */
static PGresult *exec_sql(struct pg *q, const char *sql, int nparams, const char *const *vals, const char *what,
			  int *err)
{
	if (!PQsendQueryParams(q->conn, sql, nparams, NULL, vals, NULL, NULL, 0)) {
		*err = lost(q, what, PQerrorMessage(q->conn));
		return NULL;
	}
	return await(q, what, err);
}

static int exec_cmd(struct pg *q, const char *sql, const char *what)
{
	int err;
	PGresult *res = exec_sql(q, sql, 0, NULL, what, &err);

	PQclear(res);
	return err;
}

/* Expand the $-tokens of an SQL template into out. */
static int expand(const struct pg *q, const char *tmpl, char *out, size_t cap)
{
	static const char *const names[] = { "$LOC", "$EMAIL", "$RPID", "$EXTRA" };
	const char *vals[] = { q->loc, q->has_email ? "email_address" : "''", q->has_rpid ? "rpid" : "NULL",
			       q->extra_sql };

	return store_sql_expand(tmpl, names, vals, sizeof(names) / sizeof(names[0]), out, cap);
}

/* Hex H(username ":" realm) for family h (RFC 7616 §3.4.4) into out (129 bytes). */
static int userhash_hex(enum store_hash h, const char *user, const char *realm, char *out)
{
	const EVP_MD *md = h == STORE_HASH_MD5 ? EVP_md5() : h == STORE_HASH_SHA256 ? EVP_sha256() : EVP_sha512_256();
	unsigned char dig[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	int ok = m && EVP_DigestInit_ex(m, md, NULL) == 1 && EVP_DigestUpdate(m, user, strlen(user)) == 1 &&
		 EVP_DigestUpdate(m, ":", 1) == 1 && EVP_DigestUpdate(m, realm, strlen(realm)) == 1 &&
		 EVP_DigestFinal_ex(m, dig, &dlen) == 1;

	EVP_MD_CTX_free(m);
	if (!ok)
		return -ENOMEM;
	base_hex(dig, dlen, out);
	return 0;
}

/* Rows that predate the SHA-512/256 userhash column (PostgreSQL has no
 * SHA-512/256 function): computed here, row by row, inside the schema lock. */
static int fill_sha512_userhash(struct pg *q)
{
	char hex[2 * EVP_MAX_MD_SIZE + 1], dom[SW_MAX_DOMAIN * 4 + 1];
	PGresult *res;
	int err;

	res = exec_sql(q, "SELECT id::text, username, lower(domain) FROM subscriber WHERE userhash_sha512t256 = ''", 0,
		       NULL, "fill userhash columns", &err);
	for (int r = 0; res && !err && r < PQntuples(res); r++) {
		const char *vals[2] = { PQgetvalue(res, r, 0), hex };

		snprintf(dom, sizeof(dom), "%s", PQgetvalue(res, r, 2));
		err = userhash_hex(STORE_HASH_SHA512_256, PQgetvalue(res, r, 1), dom, hex);
		if (!err) {
			PGresult *u = exec_sql(q, "UPDATE subscriber SET userhash_sha512t256 = $2 WHERE id = $1::int",
					       2, vals, "fill userhash columns", &err);
			PQclear(u);
		}
	}
	PQclear(res);
	return err;
}

/* Which location table, which optional columns, and whether anything is missing. */
static int schema_probe(struct pg *q, bool *needs)
{
	bool v[10];
	int err;
	PGresult *res = exec_sql(q, PROBE_SQL, 0, NULL, "schema check", &err);

	if (!res)
		return err;
	if (PQntuples(res) != 1 || PQnfields(res) != 10) {
		PQclear(res);
		return lost(q, "schema check", "unexpected answer");
	}
	for (int i = 0; i < 10; i++)
		v[i] = PQgetvalue(res, 0, i)[0] == 't';
	PQclear(res);
	bool sub = v[0], status = v[1], last_col = v[4], loc = v[5], loc_aor = v[6], alias = v[8], blocks = v[9];
	q->has_email = v[2] || !sub;
	q->has_rpid = v[3] || !sub;
	/* A Kamailio database has its own, different `location` table: leave it to
	 * Kamailio and keep sipwarden's bindings beside it. */
	q->loc = loc && !loc_aor ? "sw_location" : "location";
	if (loc && !loc_aor)
		loc = v[7];
	*needs = !sub || !status || !last_col || !loc || !alias || !blocks;
	return 0;
}

/* Create what is missing, in one transaction under an advisory lock so that
 * processes connecting to a new database at once do not collide. */
static int schema_setup(struct pg *q)
{
	char sql[4096];
	bool needs;
	int err = schema_probe(q, &needs);

	if (err || !needs)
		return err;
	LOG_INFO("store: postgres %s: creating or completing sipwarden's tables", q->shown);
	err = exec_cmd(q, "BEGIN", "schema lock");
	q->setup_ms = SCHEMA_TIMEOUT_MS;
	/* The advisory lock and the DDL's table locks may be held a while by
	 * another process setting the schema up: wait for them as long as for a
	 * schema statement, not the busy timeout of a lookup. */
	err = err ? err : exec_cmd(q, "SET LOCAL statement_timeout = " STR(SCHEMA_TIMEOUT_MS), "schema lock");
	err = err ? err : exec_cmd(q, "SET LOCAL lock_timeout = " STR(SCHEMA_TIMEOUT_MS), "schema lock");
	err = err ? err : exec_cmd(q, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")", "schema lock");
	for (size_t i = 0; !err && i < sizeof(schema_ddl) / sizeof(schema_ddl[0]); i++) {
		err = expand(q, schema_ddl[i], sql, sizeof(sql)) ? -EINVAL : 0;
		err = err ? err : exec_cmd(q, sql, "create tables");
	}
	err = err ? err : fill_sha512_userhash(q);
	err = err ? err : exec_cmd(q, "COMMIT", "schema commit");
	q->setup_ms = 0;
	if (err) {
		if (!q->broken)
			exec_cmd(q, "ROLLBACK", "schema rollback");
		return err;
	}
	return schema_probe(q, &needs);
}

/* The extra columns of store_extra_cols, each found in subscriber by name
 * (SQL names compare case-insensitively) and quoted as the catalog spells it. */
static int extra_setup(struct pg *q)
{
	const struct store_extra_cols *x = &store_extra_cols;
	size_t o = 0;

	q->nextra = 0;
	q->extra_sql[0] = '\0';
	for (unsigned i = 0; i < x->n; i++) {
		const char *vals[1] = { x->name[i] };
		int err;
		PGresult *res = exec_sql(q,
					 "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass('subscriber')"
					 " AND attnum > 0 AND NOT attisdropped AND lower(attname) = lower($1)"
					 " ORDER BY attname = $1 DESC LIMIT 1",
					 1, vals, "schema check", &err);

		if (!res)
			return err;
		if (PQntuples(res) != 1) {
			PQclear(res);
			LOG_ERR("store: postgres %s: table subscriber has no column %s ([auth] load_columns);"
				" add it with ALTER TABLE subscriber ADD COLUMN %s ...",
				q->shown, x->name[i], x->name[i]);
			return -EINVAL;
		}
		const char *name = PQgetvalue(res, 0, 0);
		char *quoted = PQescapeIdentifier(q->conn, name, strlen(name));
		PQclear(res);
		if (!quoted)
			return -ENOMEM;
		int n = snprintf(q->extra_sql + o, sizeof(q->extra_sql) - o, ", %s", quoted);
		PQfreemem(quoted);
		if (n < 0 || (size_t)n >= sizeof(q->extra_sql) - o)
			return -EINVAL;
		o += (size_t)n;
	}
	q->nextra = x->n;
	return 0;
}

/* statement_timeout and lock_timeout of this session. */
static int apply_timeouts(struct pg *q)
{
	char lock[16], stmt[16];
	const char *vals[2] = { lock, stmt };
	int err;
	PGresult *res;

	snprintf(lock, sizeof(lock), "%u", q->busy_ms);
	snprintf(stmt, sizeof(stmt), "%u", stmt_timeout_ms(q));
	res = exec_sql(q, "SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)",
		       2, vals, "set timeouts", &err);
	PQclear(res);
	return err;
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void disconnect(struct pg *q)
{
	PQfinish(q->conn);
	q->conn = NULL;
	q->in_txn = false;
}

static int prepare_all(struct pg *q)
{
	static const Oid text_oid = 25, int8_oid = 20;
	char sql[4096], name[16];
	Oid types[16];
	int err = 0;

	for (int i = 0; !err && i < ST__COUNT; i++) {
		const char *t = stmt_defs[i].types;
		int n = (int)strlen(t);

		for (int k = 0; k < n; k++)
			types[k] = t[k] == 'b' ? int8_oid : text_oid;
		if (expand(q, stmt_defs[i].sql, sql, sizeof(sql)))
			return -EINVAL;
		snprintf(name, sizeof(name), "sw%d", i);
		if (!PQsendPrepare(q->conn, name, sql, n, types)) {
			err = lost(q, "prepare", PQerrorMessage(q->conn));
			break;
		}
		PQclear(await(q, "prepare", &err));
	}
	return err;
}

/* Connect, set the session up, create what is missing and prepare every
 * statement. Values placed before dbname are defaults the URL may override;
 * client_encoding comes after it, so it always holds (names are checked as
 * UTF-8). 0, -EIO, -EAGAIN (schema setup locked out), -EINVAL (missing extra
 * column) or -ENOMEM. */
static int connect_db(struct pg *q)
{
	static const char *const keys[] = { "connect_timeout", "application_name", "dbname", "client_encoding",
					    NULL };
	const char *vals[] = { CONNECT_TIMEOUT_S, "sipwarden", q->url, "UTF8", NULL };
	char line[256];
	int err;

	q->conn = PQconnectdbParams(keys, vals, 1);
	if (!q->conn)
		return -ENOMEM;
	if (PQstatus(q->conn) != CONNECTION_OK) {
		if (!q->down && !atomic_load(&pg_outage))
			LOG_ERR("store: postgres %s: cannot connect: %s", q->shown,
				one_line(q, PQerrorMessage(q->conn), line, sizeof(line)));
		atomic_store(&pg_outage, true);
		disconnect(q);
		return -EIO;
	}
	PQsetNoticeProcessor(q->conn, ignore_notice, NULL);
	if (PQsetnonblocking(q->conn, 1) != 0) {
		disconnect(q);
		return -EIO;
	}
	q->broken = false;
	err = apply_timeouts(q);
	err = err ? err : schema_setup(q);
	err = err ? err : extra_setup(q);
	err = err ? err : prepare_all(q);
	if (err || q->broken) {
		disconnect(q);
		q->broken = true;
		/* -EAGAIN: the schema lock or a table was held beyond the timeout. */
		return err == -EINVAL || err == -ENOMEM || err == -EAGAIN ? err : -EIO;
	}
	if (atomic_exchange(&pg_outage, false) && !q->down)
		LOG_INFO("store: postgres %s: connected again", q->shown);
	return 0;
}

/* Reconnect when the connection was lost, at most once per RETRY_MS. */
static int reconnect(struct pg *q)
{
	uint64_t now = base_mono_ms();
	int err;

	if (now < q->next_try_ms)
		return -EIO;
	disconnect(q);
	err = connect_db(q);
	q->next_try_ms = base_mono_ms() + RETRY_MS;
	if (err) {
		if (!q->down)
			LOG_ERR("store: postgres %s unavailable, will retry on next use", q->shown);
		q->down = true;
		q->broken = true;
		return err;
	}
	if (q->down)
		LOG_INFO("store: postgres %s available again", q->shown);
	q->down = q->broken = false;
	return 0;
}

/* Called first by every operation. */
static int ready(struct pg *q)
{
	if (q->txn_lost)
		return -EIO; /* until the caller ends the transaction */
	return q->broken ? reconnect(q) : 0;
}

/* Run prepared statement id with its parameters (NULL values are SQL NULL).
 * A read-only statement that finds the connection lost outside a transaction
 * is sent once more on a fresh one (a server restart costs no failed call). */
static PGresult *run(struct pg *q, enum stmt_id id, const char *const *vals, const char *what, int *err)
{
	char name[16];
	int nparams = (int)strlen(stmt_defs[id].types);
	PGresult *res;

	*err = ready(q);
	if (*err)
		return NULL;
	snprintf(name, sizeof(name), "sw%d", (int)id);
	for (int attempt = 0;; attempt++) {
		if (!PQsendQueryPrepared(q->conn, name, nparams, vals, NULL, NULL, 0)) {
			*err = lost(q, what, PQerrorMessage(q->conn));
			res = NULL;
		} else {
			res = await(q, what, err);
		}
		if (res || attempt || !stmt_defs[id].retry || q->in_txn || q->txn_lost || !q->broken ||
		    PQstatus(q->conn) == CONNECTION_OK)
			return res;
		q->next_try_ms = 0;
		if (reconnect(q))
			return NULL;
	}
}

/* Rows changed by a command. */
static int changes(const PGresult *res)
{
	return atoi(PQcmdTuples((PGresult *)res));
}

/* Run a command; *n (when given) gets the rows it touched. */
static int run_cmd(struct pg *q, enum stmt_id id, const char *const *vals, const char *what, int *n)
{
	int err;
	PGresult *res = run(q, id, vals, what, &err);

	if (n)
		*n = res ? changes(res) : 0;
	PQclear(res);
	return err;
}

/* Copy field (r, c) into dst; an over-long value is dropped with a warning,
 * never cut (a cut hash or identity is worse than none). */
static void col_copy(const PGresult *res, int r, int c, char *dst, size_t cap, const char *what)
{
	size_t n = (size_t)PQgetlength(res, r, c);

	dst[0] = '\0';
	if (PQgetisnull(res, r, c))
		return;
	if (n >= cap) {
		LOG_WARN("store: postgres: %s exceeds %zu bytes in a row, ignored", what, cap - 1);
		return;
	}
	memcpy(dst, PQgetvalue(res, r, c), n);
	dst[n] = '\0';
}

static int64_t col_i64(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* Overwrite every value of a result before PQclear frees it (secrets). */
static void wipe_result(PGresult *res)
{
	for (int r = 0; res && r < PQntuples(res); r++)
		for (int c = 0; c < PQnfields(res); c++)
			base_wipe(PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c));
}

static void str_free(char *p)
{
	if (p) {
		base_wipe(p, strlen(p));
		free(p);
	}
}

static void pg_free(struct pg *q)
{
	str_free(q->url);
	str_free(q->pw);
	str_free(q->pw_raw);
	free(q);
}

/* Check the URL with libpq's own parser once, before any connection: its
 * messages quote the part they refuse, which may be the password, so a
 * refusal is logged in fixed words. Keeps the password (decoded and as
 * written) to recognise it in libpq's later messages. 0, -EINVAL or -ENOMEM. */
static int url_check(struct pg *q)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(q->url, &perr);
	const char *auth, *end, *at = NULL, *colon;

	if (!opts) {
		if (!perr)
			return -ENOMEM;
		base_wipe(perr, strlen(perr));
		PQfreemem(perr);
		LOG_ERR("store: postgres %s: invalid PostgreSQL URL (check the percent-encoding of the user and"
			" password: %%25 for %%, %%40 for @, %%3A for :, %%2F for /)",
			q->shown);
		return -EINVAL;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0] && !q->pw)
			q->pw = strdup(o->val);
		if (o->val)
			base_wipe(o->val, strlen(o->val));
	}
	PQconninfoFree(opts);
	/* USER:PASSWORD@ as written (the last '@' before the path ends it). */
	auth = strstr(q->url, "://");
	if (auth) {
		auth += 3;
		end = auth + strcspn(auth, "/?#");
		for (const char *p = auth; p < end; p++)
			if (*p == '@')
				at = p;
		colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon && at > colon + 1)
			q->pw_raw = strndup(colon + 1, (size_t)(at - colon - 1));
	}
	return 0;
}

/* target is what follows "scheme:" in the URL: a URI, "//...". The URL is
 * put back together for libpq, which takes either scheme. */
static int pg_open(struct store *s, const char *scheme, const char *target)
{
	struct pg *q;
	size_t n;
	int err;

	if (strncmp(target, "//", 2) != 0)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	n = strlen(scheme) + 1 + strlen(target) + 1;
	q->url = malloc(n);
	if (!q->url) {
		free(q);
		return -ENOMEM;
	}
	snprintf(q->url, n, "%s:%s", scheme, target);
	store_url_redact(q->url, q->shown, sizeof(q->shown));
	q->busy_ms = LOCK_TIMEOUT_MS;
	q->loc = "location";
	err = url_check(q);
	err = err ? err : connect_db(q);
	if (err) {
		pg_free(q);
		return err;
	}
	s->be = q;
	return 0;
}

static int pg_open_postgres(struct store *s, const char *target)
{
	return pg_open(s, "postgres", target);
}

static int pg_open_postgresql(struct store *s, const char *target)
{
	return pg_open(s, "postgresql", target);
}

static void pg_close(struct store *s)
{
	struct pg *q = be(s);

	if (q->in_txn && !q->broken)
		exec_cmd(q, "ROLLBACK", "rollback");
	disconnect(q);
	pg_free(q);
	s->be = NULL;
}

static int pg_set_busy_timeout(struct store *s, unsigned ms)
{
	struct pg *q = be(s);

	q->busy_ms = ms > 60000 ? 60000 : ms;
	return q->conn && !q->broken ? apply_timeouts(q) : 0;
}

static void read_cred(const struct pg *q, const PGresult *res, struct store_cred *out)
{
	col_copy(res, 0, 0, out->username, sizeof(out->username), "username");
	col_copy(res, 0, 1, out->domain, sizeof(out->domain), "domain");
	col_copy(res, 0, 2, out->password, sizeof(out->password), "password");
	col_copy(res, 0, 3, out->ha1, sizeof(out->ha1), "ha1");
	col_copy(res, 0, 4, out->ha1b, sizeof(out->ha1b), "ha1b");
	col_copy(res, 0, 5, out->email, sizeof(out->email), "email_address");
	col_copy(res, 0, 6, out->rpid, sizeof(out->rpid), "rpid");
	out->status = (int)col_i64(res, 0, 7);
	col_copy(res, 0, 8, out->ha1_sha256, sizeof(out->ha1_sha256), "ha1_sha256");
	col_copy(res, 0, 9, out->ha1b_sha256, sizeof(out->ha1b_sha256), "ha1b_sha256");
	col_copy(res, 0, 10, out->ha1_sha512t256, sizeof(out->ha1_sha512t256), "ha1_sha512t256");
	col_copy(res, 0, 11, out->ha1b_sha512t256, sizeof(out->ha1b_sha512t256), "ha1b_sha512t256");
	out->min_algo = (int)col_i64(res, 0, 12);
	out->pin_algo = (int)col_i64(res, 0, 13);
	out->valid_until = col_i64(res, 0, 14);
	out->locked_until = col_i64(res, 0, 15);
	out->hashes = (out->ha1[0] ? 1u << STORE_HASH_MD5 : 0) | (out->ha1_sha256[0] ? 1u << STORE_HASH_SHA256 : 0) |
		      (out->ha1_sha512t256[0] ? 1u << STORE_HASH_SHA512_256 : 0);
	for (unsigned i = 0; i < q->nextra; i++) {
		int c = CRED_EXTRA_FIRST + (int)i;
		size_t n = (size_t)PQgetlength(res, 0, c);

		/* Too long is unusable rather than cut: a cut value could pass a policy. */
		if (n > STORE_EXTRA_VALUE_MAX)
			out->extra_unusable |= 1u << i;
		else if (!PQgetisnull(res, 0, c))
			memcpy(out->extra[i], PQgetvalue(res, 0, c), n);
	}
}

/* The credentials query; a key or domain that is not UTF-8 cannot match any
 * row, so it reads the decoy row alone, at the same cost. */
static int get_cred_stmt(struct pg *q, enum stmt_id id, struct slice key, struct slice domain,
			 struct store_cred *out)
{
	char k[SW_MAX_HASH_HEX + SW_MAX_USER + 2], d[SW_MAX_DOMAIN + 1];
	const char *vals[2] = { k, d };
	bool valid = utf8_ok(key.p, key.len) && utf8_ok(domain.p, domain.len) && key.len < sizeof(k) &&
		     domain.len < sizeof(d);
	PGresult *res;
	int err;

	if (valid) {
		memcpy(k, key.p, key.len);
		k[key.len] = '\0';
		memcpy(d, domain.p, domain.len);
		d[domain.len] = '\0';
	}
	res = run(q, valid ? id : ST_GET_CRED_DECOY, vals, "get credentials", &err);
	if (!res)
		return err;
	if (PQntuples(res) == 1 && PQnfields(res) == CRED_EXTRA_FIRST + (int)q->nextra + 1) {
		/* The decoy row is read like a found one, then forgotten. */
		read_cred(q, res, out);
		err = strcmp(PQgetvalue(res, 0, CRED_EXTRA_FIRST + (int)q->nextra), "1") == 0 ? 0 : -ENOENT;
		if (err)
			base_wipe(out, sizeof(*out));
	} else {
		err = -ENOENT;
	}
	wipe_result(res);
	PQclear(res);
	return err;
}

static int pg_get_cred(struct store *s, struct slice username, struct slice domain, struct store_cred *out)
{
	return get_cred_stmt(be(s), ST_GET_CRED, username, domain, out);
}

static int pg_get_cred_uh(struct store *s, enum store_hash h, struct slice userhash, struct slice domain,
			  struct store_cred *out)
{
	static const enum stmt_id ids[STORE_HASH__COUNT] = { ST_GET_CRED_UH_MD5, ST_GET_CRED_UH_SHA256,
							     ST_GET_CRED_UH_SHA512 };

	return get_cred_stmt(be(s), ids[h], userhash, domain, out);
}

/* Run a user statement bound as ($1 username, $2 domain, $3.. secrets or value). */
static int user_write(struct store *s, enum stmt_id id, const char *username, const char *domain,
		      const struct store_user_secrets *sec, const int64_t *value, const char *what, int *n)
{
	const char *vals[12] = { username, domain };
	char num[24];
	int err;

	if (sec) {
		vals[2] = sec->password;
		vals[3] = sec->ha1;
		vals[4] = sec->ha1b;
		vals[5] = sec->ha1_sha256;
		vals[6] = sec->ha1b_sha256;
		vals[7] = sec->ha1_sha512t256;
		vals[8] = sec->ha1b_sha512t256;
		for (int i = 0; i < STORE_HASH__COUNT; i++)
			vals[9 + i] = sec->userhash[i];
	}
	if (value) {
		snprintf(num, sizeof(num), "%lld", (long long)*value);
		vals[2] = num;
	}
	err = run_cmd(be(s), id, vals, what, n);
	return err;
}

static int pg_user_add(struct store *s, const char *username, const char *domain,
		       const struct store_user_secrets *sec)
{
	char uh[STORE_HASH__COUNT][2 * EVP_MAX_MD_SIZE + 1];
	struct store_user_secrets v = { 0 };
	int n = 0, err = 0;

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
	/* Userhashes not given are computed (the domain is already lower-case). */
	for (int i = 0; i < STORE_HASH__COUNT && !err; i++) {
		if (v.userhash[i][0])
			continue;
		err = userhash_hex((enum store_hash)i, username, domain, uh[i]);
		v.userhash[i] = uh[i];
	}
	err = err ? err : user_write(s, ST_USER_ADD, username, domain, &v, NULL, "add user", &n);
	return err ? err : n ? 0 : -EEXIST;
}

static int pg_user_update(struct store *s, const char *username, const char *domain,
			  const struct store_user_secrets *sec)
{
	static const struct store_user_secrets none;
	int n, err = user_write(s, ST_USER_UPDATE, username, domain, sec ? sec : &none, NULL, "update user", &n);

	return err ? err : n ? 0 : -ENOENT;
}

static int pg_user_del(struct store *s, const char *username, const char *domain)
{
	int n, err = user_write(s, ST_USER_DEL, username, domain, NULL, NULL, "delete user", &n);

	return err ? err : n ? 0 : -ENOENT;
}

static int pg_user_set_field(struct store *s, const char *username, const char *domain, enum store_field f,
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

static int pg_user_raise_pin(struct store *s, const char *username, const char *domain, int rank)
{
	int64_t v = rank;

	return user_write(s, ST_RAISE_PIN, username, domain, NULL, &v, "raise pin", NULL);
}

static int pg_alias_add(struct store *s, const char *user, const char *domain, const char *alias_user,
			const char *alias_domain)
{
	const char *vals[4] = { user, domain, alias_user, alias_domain };
	int n, err = run_cmd(be(s), ST_ALIAS_ADD, vals, "add alias", &n);

	return err ? err : n ? 0 : -EEXIST;
}

static int pg_alias_del(struct store *s, const char *user, const char *domain, const char *alias_user,
			const char *alias_domain)
{
	const char *vals[4] = { user, domain, alias_user, alias_domain };
	int n, err = run_cmd(be(s), ST_ALIAS_DEL, vals, "delete alias", &n);

	return err ? err : n ? 0 : -ENOENT;
}

static int pg_alias_check(struct store *s, struct slice user, struct slice domain, struct slice alias_user,
			  struct slice alias_domain)
{
	const struct slice in[4] = { user, domain, alias_user, alias_domain };
	char buf[4][SW_MAX_DOMAIN > SW_MAX_USER ? SW_MAX_DOMAIN + 1 : SW_MAX_USER + 1];
	const char *vals[4];
	PGresult *res;
	int err;

	for (int i = 0; i < 4; i++) {
		/* Names the database cannot hold have no alias. */
		if (in[i].len >= sizeof(buf[i]) || !utf8_ok(in[i].p, in[i].len))
			return -ENOENT;
		memcpy(buf[i], in[i].p, in[i].len);
		buf[i][in[i].len] = '\0';
		vals[i] = buf[i];
	}
	res = run(be(s), ST_ALIAS_CHECK, vals, "alias check", &err);
	if (!res)
		return err;
	err = PQntuples(res) > 0 ? 0 : -ENOENT;
	PQclear(res);
	return err;
}

/* Start a walk over statement id's result; -EINVAL when that walk is already running. */
static PGresult *walk_begin(struct pg *q, enum stmt_id id, const char *const *vals, const char *what, int *err)
{
	PGresult *res;

	if (q->walking & (1u << id)) {
		*err = -EINVAL;
		return NULL;
	}
	res = run(q, id, vals, what, err);
	if (res)
		q->walking |= 1u << id;
	return res;
}

static void walk_end(struct pg *q, enum stmt_id id, PGresult *res)
{
	q->walking &= ~(1u << id);
	PQclear(res);
}

static int pg_alias_list(struct store *s, store_alias_fn fn, void *arg)
{
	struct pg *q = be(s);
	char u[SW_MAX_USER + 1], d[SW_MAX_DOMAIN + 1], au[SW_MAX_USER + 1], ad[SW_MAX_DOMAIN + 1];
	int err;
	PGresult *res = walk_begin(q, ST_ALIAS_LIST, NULL, "list aliases", &err);

	for (int r = 0; res && !err && r < PQntuples(res); r++) {
		col_copy(res, r, 0, u, sizeof(u), "username");
		col_copy(res, r, 1, d, sizeof(d), "domain");
		col_copy(res, r, 2, au, sizeof(au), "alias_username");
		col_copy(res, r, 3, ad, sizeof(ad), "alias_domain");
		err = fn(u, d, au, ad, arg);
	}
	if (res)
		walk_end(q, ST_ALIAS_LIST, res);
	return err;
}

static int pg_block_put(struct store *s, const struct store_block *b)
{
	char since[24], until[24];
	const char *vals[5] = { b->src, b->user, since, until, b->reason };

	/* A user name the database cannot hold is not mirrored (the block itself stands). */
	if (!cstr_ok(b->src) || !cstr_ok(b->user) || !cstr_ok(b->reason))
		return -EINVAL;
	snprintf(since, sizeof(since), "%lld", (long long)b->since);
	snprintf(until, sizeof(until), "%lld", (long long)b->until);
	return run_cmd(be(s), ST_BLOCK_PUT, vals, "save block", NULL);
}

static int pg_block_del(struct store *s, const char *src, const char *user)
{
	const char *vals[2] = { src, user };
	int n, err;

	if (!cstr_ok(src) || !cstr_ok(user))
		return -ENOENT;
	err = run_cmd(be(s), user ? ST_BLOCK_DEL_ONE : ST_BLOCK_DEL_SRC, vals, "delete block", &n);
	return err ? err : n ? 0 : -ENOENT;
}

static int pg_block_list(struct store *s, store_block_fn fn, void *arg)
{
	struct pg *q = be(s);
	struct store_block b;
	int err;
	PGresult *res = walk_begin(q, ST_BLOCK_LIST, NULL, "list blocks", &err);

	for (int r = 0; res && !err && r < PQntuples(res); r++) {
		memset(&b, 0, sizeof(b));
		col_copy(res, r, 0, b.src, sizeof(b.src), "src");
		col_copy(res, r, 1, b.user, sizeof(b.user), "username");
		b.since = col_i64(res, r, 2);
		b.until = col_i64(res, r, 3);
		col_copy(res, r, 4, b.reason, sizeof(b.reason), "reason");
		err = fn(&b, arg);
	}
	if (res)
		walk_end(q, ST_BLOCK_LIST, res);
	return err;
}

static int pg_block_purge(struct store *s, int64_t now)
{
	char num[24];
	const char *vals[1] = { num };

	snprintf(num, sizeof(num), "%lld", (long long)now);
	return run_cmd(be(s), ST_BLOCK_PURGE, vals, "purge blocks", NULL);
}

static int pg_user_list(struct store *s, const char *domain, store_user_fn fn, void *arg)
{
	struct pg *q = be(s);
	enum stmt_id id = domain ? ST_USER_LIST_DOM : ST_USER_LIST_ALL;
	const char *vals[1] = { domain };
	struct store_cred c;
	int err;
	PGresult *res = walk_begin(q, id, vals, "list users", &err);

	for (int r = 0; res && !err && r < PQntuples(res); r++) {
		/* The secret columns are not even selected: the walk can only see blanks. */
		memset(&c, 0, sizeof(c));
		col_copy(res, r, 0, c.username, sizeof(c.username), "username");
		col_copy(res, r, 1, c.domain, sizeof(c.domain), "domain");
		col_copy(res, r, 2, c.email, sizeof(c.email), "email_address");
		col_copy(res, r, 3, c.rpid, sizeof(c.rpid), "rpid");
		c.status = (int)col_i64(res, r, 4);
		for (int i = 0; i < STORE_HASH__COUNT; i++)
			c.hashes |= col_i64(res, r, 5 + i) ? 1u << i : 0;
		c.min_algo = (int)col_i64(res, r, 8);
		c.pin_algo = (int)col_i64(res, r, 9);
		c.valid_until = col_i64(res, r, 10);
		c.locked_until = col_i64(res, r, 11);
		err = fn(&c, arg);
	}
	if (res)
		walk_end(q, id, res);
	return err;
}

/* Bytes a UTF8 database refuses are kept out of the one free-text field
 * (user_agent, shown only) as '?'. */
static void text_clean(const char *in, char *out, size_t cap)
{
	size_t n = strnlen(in, cap - 1), o = 0;

	for (size_t i = 0; i < n;) {
		size_t k = 1;

		while (k <= 4 && i + k <= n && !utf8_ok(in + i, k))
			k++;
		if (k > 4 || i + k > n) {
			out[o++] = '?';
			i++;
		} else {
			memcpy(out + o, in + i, k);
			o += k;
			i += k;
		}
	}
	out[o] = '\0';
}

static int pg_loc_put(struct store *s, const struct store_contact *c)
{
	struct pg *q = be(s);
	char cseq[24], expires[24], qv[24], ua[sizeof(c->user_agent)];
	const char *vals[8] = { c->aor, c->contact, c->received, c->call_id, cseq, expires, qv, ua };

	/* A binding whose identifying text the database cannot hold is not
	 * persisted (it stays registered until restart); failing here would
	 * hold back every other binding of the write-back. */
	if (!cstr_ok(c->aor) || !cstr_ok(c->contact) || !cstr_ok(c->received) || !cstr_ok(c->call_id)) {
		if (!q->warned_loc)
			LOG_WARN("store: postgres %s: a binding with bytes that are not UTF-8 is not persisted",
				 q->shown);
		q->warned_loc = true;
		return ready(q);
	}
	text_clean(c->user_agent, ua, sizeof(ua));
	snprintf(cseq, sizeof(cseq), "%lld", (long long)c->cseq);
	snprintf(expires, sizeof(expires), "%lld", (long long)c->expires);
	snprintf(qv, sizeof(qv), "%d", c->q);
	return run_cmd(q, ST_LOC_PUT, vals, "save binding", NULL);
}

static int pg_loc_del(struct store *s, const char *aor, const char *contact)
{
	const char *vals[2] = { aor, contact };
	int n, err;

	if (!cstr_ok(aor) || !cstr_ok(contact)) {
		err = ready(be(s));
		return err ? err : -ENOENT;
	}
	err = run_cmd(be(s), contact ? ST_LOC_DEL_ONE : ST_LOC_DEL_AOR, vals, "delete binding", &n);
	return err ? err : n ? 0 : -ENOENT;
}

static int pg_loc_load(struct store *s, int64_t now, store_contact_fn fn, void *arg)
{
	struct pg *q = be(s);
	struct store_contact c;
	char num[24];
	const char *vals[1] = { num };
	int err;
	PGresult *res;

	snprintf(num, sizeof(num), "%lld", (long long)now);
	res = walk_begin(q, ST_LOC_LOAD, vals, "load bindings", &err);
	for (int r = 0; res && !err && r < PQntuples(res); r++) {
		memset(&c, 0, sizeof(c));
		col_copy(res, r, 0, c.aor, sizeof(c.aor), "aor");
		col_copy(res, r, 1, c.contact, sizeof(c.contact), "contact");
		if (!c.aor[0] || !c.contact[0])
			continue;
		col_copy(res, r, 2, c.received, sizeof(c.received), "received");
		col_copy(res, r, 3, c.call_id, sizeof(c.call_id), "call_id");
		c.cseq = (uint32_t)col_i64(res, r, 4);
		c.expires = col_i64(res, r, 5);
		c.q = (int)col_i64(res, r, 6);
		col_copy(res, r, 7, c.user_agent, sizeof(c.user_agent), "user_agent");
		err = fn(&c, arg);
	}
	if (res)
		walk_end(q, ST_LOC_LOAD, res);
	return err;
}

static int pg_loc_purge(struct store *s, int64_t now)
{
	char num[24];
	const char *vals[1] = { num };

	snprintf(num, sizeof(num), "%lld", (long long)now);
	return run_cmd(be(s), ST_LOC_PURGE, vals, "purge bindings", NULL);
}

static int pg_begin(struct store *s)
{
	struct pg *q = be(s);
	int err;

	if (q->in_txn)
		return -EINVAL;
	err = ready(q);
	err = err ? err : exec_cmd(q, "BEGIN", "begin");
	if (!err)
		q->in_txn = true;
	return err;
}

/* End the server's transaction, if one is still open, without keeping it. */
static void abandon(struct pg *q)
{
	if (q->in_txn && !q->broken)
		exec_cmd(q, "ROLLBACK", "rollback");
	q->in_txn = q->txn_lost = false;
}

static int pg_commit(struct store *s)
{
	struct pg *q = be(s);
	int err;

	if (q->txn_lost) {
		abandon(q);
		return -EIO;
	}
	if (!q->in_txn)
		return -EINVAL;
	err = exec_cmd(q, "COMMIT", "commit");
	/* Whatever the outcome, PostgreSQL has ended the transaction. */
	q->in_txn = q->txn_lost = false;
	return err;
}

static int pg_rollback(struct store *s)
{
	abandon(be(s));
	return 0;
}

#define PG_OPS(name, open_fn)                                                                      \
	.scheme = name, .open = open_fn, .close = pg_close, .set_busy_timeout = pg_set_busy_timeout,       \
	.get_cred = pg_get_cred, .user_add = pg_user_add, .user_update = pg_user_update,                  \
	.user_del = pg_user_del, .get_cred_uh = pg_get_cred_uh, .user_set_field = pg_user_set_field,       \
	.user_raise_pin = pg_user_raise_pin, .alias_add = pg_alias_add, .alias_del = pg_alias_del,         \
	.alias_check = pg_alias_check, .alias_list = pg_alias_list, .block_put = pg_block_put,             \
	.block_del = pg_block_del, .block_list = pg_block_list, .block_purge = pg_block_purge,             \
	.user_list = pg_user_list, .loc_put = pg_loc_put, .loc_del = pg_loc_del, .loc_load = pg_loc_load,  \
	.loc_purge = pg_loc_purge, .begin = pg_begin, .commit = pg_commit, .rollback = pg_rollback

/* The two URL schemes libpq knows, one table each. */
const struct store_ops store_pgsql_ops = { PG_OPS("postgres", pg_open_postgres) };
const struct store_ops store_pgsql_uri_ops = { PG_OPS("postgresql", pg_open_postgresql) };
