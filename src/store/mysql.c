/* MariaDB/MySQL backend of the store ("mysql://USER:PASS@HOST[:PORT]/DB", also
 * "mariadb://"; query parameters socket=PATH, connect_timeout=S, timeout=S).
 * Same tables and semantics as sqlite.c: the Kamailio-compatible `subscriber`
 * table (created when missing, or given sipwarden's columns by ALTER TABLE), the
 * location table (`sw_location` beside a Kamailio `location`), sw_alias and
 * sw_blocks. One connection per store object (a store is per thread), utf8mb4,
 * strict SQL mode, every statement prepared once per connection with bound
 * parameters; usernames compare byte for byte, domains case-insensitively.
 * Connect, read and write timeouts bound how long a hung server can hold the
 * calling thread; a lost connection is -EIO (503 upstream), logged once per
 * outage, and a later call reconnects, at most once a second. Never logs a
 * password, a hash or a server message that could quote a value. */
#include "store/store_int.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <openssl/evp.h>

#include "base/log.h"
#include "base/util.h"

#define DEFAULT_PORT 3306
/* A hung server holds a worker at most this long per attempt. */
#define CONNECT_TIMEOUT_S 3
#define RW_TIMEOUT_S 2
/* Creating or altering tables may take longer than a lookup. */
#define SETUP_TIMEOUT_S 60
/* Lowest interval between two reconnection attempts. */
#define RETRY_MS 1000
/* A connection idle that long is pinged before use (the server may have closed it). */
#define IDLE_PING_MS 30000
/* Default lock wait; InnoDB counts whole seconds. */
#define BUSY_TIMEOUT_MS 200
#define MAX_PARAMS 16
#define MAX_COLS 32
/* Widest value read: a Contact URI (512) plus room to see that a value is longer. */
#define COL_CAP 520

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
	ST__COUNT
};

/* Columns read by read_cred(), in this order ($EXTRA: ", `col`, ..."). */
#define CRED_COLS                                                                                  \
	"username, domain, password, ha1, ha1b, $EMAIL, $RPID, status, ha1_sha256, ha1b_sha256,"   \
	" ha1_sha512t256, ha1b_sha512t256, min_algo, auth_pin, valid_until, locked_until$EXTRA"
#define CRED_EXTRA_FIRST 16
/* One query: the row WHERE selects, flagged 1, and the table's first row,
 * flagged 0, both read every time; the flagged row comes first. An unknown user
 * costs what a known one does and gets the stand-in row, read and wiped. */
#define CRED_SELECT(where)                                                                         \
	"SELECT " CRED_COLS ", 1 AS sw_found FROM subscriber WHERE " where                         \
	" UNION ALL SELECT " CRED_COLS ", 0 FROM subscriber"                                       \
	" WHERE id = (SELECT MIN(id) FROM subscriber) ORDER BY sw_found DESC LIMIT 1"
/* username exactly (the index serves the first test, whatever the column's
 * collation; the byte comparison makes it exact, trailing spaces included),
 * domain case-insensitively. Binds: username, username, domain. */
#define USER_MATCH                                                                                 \
	"username = ? AND CAST(username AS BINARY) = CAST(? AS BINARY) AND LOWER(domain) = LOWER(?)"
#define UH_MATCH(col) col " = LOWER(?) AND LOWER(domain) = LOWER(?)"

#define LIST_COLS                                                                                  \
	"username, domain, $EMAIL, $RPID, status, ha1 != '', ha1_sha256 != '', ha1_sha512t256 != '',"  \
	" min_algo, auth_pin, valid_until, locked_until"

/* $LOC location table, $EMAIL/$RPID optional Kamailio columns (constants when
 * absent), $EXTRA the configured extra columns. */
static const char *const stmt_sql[ST__COUNT] = {
	[ST_GET_CRED] = CRED_SELECT(USER_MATCH),
	[ST_GET_CRED_UH_MD5] = CRED_SELECT(UH_MATCH("userhash_md5")),
	[ST_GET_CRED_UH_SHA256] = CRED_SELECT(UH_MATCH("userhash_sha256")),
	[ST_GET_CRED_UH_SHA512] = CRED_SELECT(UH_MATCH("userhash_sha512t256")),
	[ST_USER_ADD] = "INSERT INTO subscriber (username, domain, password, ha1, ha1b, status, ha1_sha256,"
			" ha1b_sha256, ha1_sha512t256, ha1b_sha512t256, userhash_md5, userhash_sha256,"
			" userhash_sha512t256)"
			" SELECT ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ? FROM DUAL WHERE NOT EXISTS"
			" (SELECT 1 FROM subscriber WHERE " USER_MATCH ")",
	[ST_USER_UPDATE] = "UPDATE subscriber SET password = COALESCE(?, password), ha1 = COALESCE(?, ha1),"
			   " ha1b = COALESCE(?, ha1b), ha1_sha256 = COALESCE(?, ha1_sha256),"
			   " ha1b_sha256 = COALESCE(?, ha1b_sha256),"
			   " ha1_sha512t256 = COALESCE(?, ha1_sha512t256),"
			   " ha1b_sha512t256 = COALESCE(?, ha1b_sha512t256),"
			   " userhash_md5 = COALESCE(?, userhash_md5),"
			   " userhash_sha256 = COALESCE(?, userhash_sha256),"
			   " userhash_sha512t256 = COALESCE(?, userhash_sha512t256)"
			   " WHERE " USER_MATCH,
	[ST_USER_DEL] = "DELETE FROM subscriber WHERE " USER_MATCH,
	[ST_SET_STATUS] = "UPDATE subscriber SET status = ? WHERE " USER_MATCH,
	[ST_SET_MIN_ALGO] = "UPDATE subscriber SET min_algo = ? WHERE " USER_MATCH,
	[ST_SET_PIN] = "UPDATE subscriber SET auth_pin = ? WHERE " USER_MATCH,
	[ST_SET_VALID_UNTIL] = "UPDATE subscriber SET valid_until = ? WHERE " USER_MATCH,
	[ST_SET_LOCKED_UNTIL] = "UPDATE subscriber SET locked_until = ? WHERE " USER_MATCH,
	/* Written only when the pin rises: the WHERE makes a repeat a no-op. */
	[ST_RAISE_PIN] = "UPDATE subscriber SET auth_pin = ? WHERE " USER_MATCH " AND auth_pin < ?",
	[ST_ALIAS_ADD] = "INSERT INTO sw_alias (username, domain, alias_username, alias_domain)"
			 " VALUES (?, LOWER(?), ?, LOWER(?))",
	[ST_ALIAS_DEL] = "DELETE FROM sw_alias WHERE username = ? AND domain = LOWER(?)"
			 " AND alias_username = ? AND alias_domain = LOWER(?)",
	[ST_ALIAS_CHECK] = "SELECT 1 FROM sw_alias WHERE username = ? AND domain = LOWER(?)"
			   " AND alias_username = ? AND alias_domain = LOWER(?) LIMIT 1",
	[ST_ALIAS_LIST] = "SELECT username, domain, alias_username, alias_domain FROM sw_alias"
			  " ORDER BY domain, username, alias_domain, alias_username",
	[ST_BLOCK_PUT] = "INSERT INTO sw_blocks (src, username, since, `until`, reason) VALUES (?, ?, ?, ?, ?)"
			 " ON DUPLICATE KEY UPDATE since = VALUES(since), `until` = VALUES(`until`),"
			 " reason = VALUES(reason)",
	[ST_BLOCK_DEL_ONE] = "DELETE FROM sw_blocks WHERE src = ? AND username = ?",
	[ST_BLOCK_DEL_SRC] = "DELETE FROM sw_blocks WHERE src = ?",
	[ST_BLOCK_LIST] = "SELECT src, username, since, `until`, reason FROM sw_blocks ORDER BY src, username",
	[ST_BLOCK_PURGE] = "DELETE FROM sw_blocks WHERE `until` <= ?",
	[ST_USER_LIST_ALL] = "SELECT " LIST_COLS " FROM subscriber ORDER BY LOWER(domain), username",
	[ST_USER_LIST_DOM] = "SELECT " LIST_COLS " FROM subscriber WHERE LOWER(domain) = LOWER(?) ORDER BY username",
	[ST_LOC_PUT] = "INSERT INTO $LOC (aor, contact, received, call_id, cseq, expires, q, user_agent)"
		       " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE received = VALUES(received),"
		       " call_id = VALUES(call_id), cseq = VALUES(cseq), expires = VALUES(expires), q = VALUES(q),"
		       " user_agent = VALUES(user_agent)",
	[ST_LOC_DEL_ONE] = "DELETE FROM $LOC WHERE aor = ? AND contact = ?",
	[ST_LOC_DEL_AOR] = "DELETE FROM $LOC WHERE aor = ?",
	[ST_LOC_LOAD] = "SELECT aor, contact, received, call_id, cseq, expires, q, user_agent FROM $LOC"
			" WHERE expires > ? ORDER BY aor, id",
	[ST_LOC_PURGE] = "DELETE FROM $LOC WHERE expires <= ?",
};

/* The Kamailio subscriber table (its MySQL schema) plus status; password is
 * wide enough for the longest password sipwarden accepts. $BIN is the exact
 * (binary, no-pad where the server has one) utf8mb4 collation. */
#define SUBSCRIBER_DDL                                                                             \
	"CREATE TABLE IF NOT EXISTS subscriber ("                                                  \
	"id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"                                     \
	" username VARCHAR(64) NOT NULL DEFAULT '',"                                               \
	" domain VARCHAR(64) NOT NULL DEFAULT '',"                                                 \
	" password VARCHAR(128) NOT NULL DEFAULT '',"                                              \
	" email_address VARCHAR(128) NOT NULL DEFAULT '',"                                         \
	" ha1 VARCHAR(128) NOT NULL DEFAULT '',"                                                   \
	" ha1b VARCHAR(128) NOT NULL DEFAULT '',"                                                  \
	" rpid VARCHAR(128) DEFAULT NULL,"                                                         \
	" status INT NOT NULL DEFAULT 0,"                                                          \
	" CONSTRAINT account_idx UNIQUE (username, domain),"                                       \
	" INDEX username_idx (username)"                                                           \
	") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=$BIN"

/* Bindings, aliases and blocks hold bytes from the network (a User-Agent, a
 * username from a digest): binary columns store and compare them as they are,
 * never failing on a byte sequence that is not UTF-8. */
#define LOCATION_DDL                                                                               \
	"CREATE TABLE IF NOT EXISTS $LOC ("                                                        \
	"id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"                                  \
	" aor VARBINARY(130) NOT NULL,"                                                            \
	" contact VARBINARY(512) NOT NULL,"                                                        \
	" received VARBINARY(128) NOT NULL DEFAULT '',"                                            \
	" call_id VARBINARY(255) NOT NULL DEFAULT '',"                                             \
	" cseq BIGINT NOT NULL DEFAULT 0,"                                                         \
	" expires BIGINT NOT NULL DEFAULT 0,"                                                      \
	" q INT NOT NULL DEFAULT -1,"                                                              \
	" user_agent VARBINARY(128) NOT NULL DEFAULT '',"                                          \
	" UNIQUE KEY aor_contact_idx (aor, contact),"                                              \
	" KEY expires_idx (expires)"                                                               \
	") ENGINE=InnoDB ROW_FORMAT=DYNAMIC"

#define ALIAS_DDL                                                                                  \
	"CREATE TABLE IF NOT EXISTS sw_alias ("                                                    \
	"id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,"                                     \
	" username VARBINARY(64) NOT NULL, domain VARBINARY(64) NOT NULL,"                         \
	" alias_username VARBINARY(64) NOT NULL, alias_domain VARBINARY(64) NOT NULL,"             \
	" UNIQUE KEY alias_idx (username, domain, alias_username, alias_domain)"                   \
	") ENGINE=InnoDB"

#define BLOCKS_DDL                                                                                 \
	"CREATE TABLE IF NOT EXISTS sw_blocks ("                                                   \
	"src VARBINARY(48) NOT NULL, username VARBINARY(64) NOT NULL DEFAULT '',"                  \
	" since BIGINT NOT NULL, `until` BIGINT NOT NULL, reason VARBINARY(32) NOT NULL DEFAULT '',"  \
	" PRIMARY KEY (src, username)"                                                             \
	") ENGINE=InnoDB"

/* Columns sipwarden adds to subscriber (name, declaration). */
static const char *const new_cols[][2] = {
	{ "status", "INT NOT NULL DEFAULT 0" },
	{ "ha1_sha256", "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE $BIN NOT NULL DEFAULT ''" },
	{ "ha1b_sha256", "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE $BIN NOT NULL DEFAULT ''" },
	{ "ha1_sha512t256", "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE $BIN NOT NULL DEFAULT ''" },
	{ "ha1b_sha512t256", "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE $BIN NOT NULL DEFAULT ''" },
	{ "userhash_md5", "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE $BIN NOT NULL DEFAULT ''" },
	{ "userhash_sha256", "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE $BIN NOT NULL DEFAULT ''" },
	{ "userhash_sha512t256", "VARCHAR(128) CHARACTER SET utf8mb4 COLLATE $BIN NOT NULL DEFAULT ''" },
	{ "min_algo", "INT NOT NULL DEFAULT -1" },
	{ "auth_pin", "INT NOT NULL DEFAULT -1" },
	{ "valid_until", "BIGINT NOT NULL DEFAULT 0" },
	{ "locked_until", "BIGINT NOT NULL DEFAULT 0" },
};

/* Indexes on subscriber (name, column): finding a user by userhash is one lookup. */
static const char *const new_idx[][2] = {
	{ "subscriber_uh_md5_idx", "userhash_md5" },
	{ "subscriber_uh_sha256_idx", "userhash_sha256" },
	{ "subscriber_uh_sha512_idx", "userhash_sha512t256" },
};

/* Parsed URL. Strings are owned (NUL-free after percent-decoding). */
struct my_url {
	char *user, *pass, *host, *db, *socket;
	unsigned port;
	unsigned connect_timeout, rw_timeout;
	char shown[256]; /**< the URL for log lines, password masked */
};

/* Bound parameters of one execution. */
struct params {
	MYSQL_BIND b[MAX_PARAMS];
	unsigned long len[MAX_PARAMS];
	long long iv[MAX_PARAMS];
	unsigned n;
};

/* Result row buffers: every column is fetched as text. */
struct row {
	MYSQL_BIND b[MAX_COLS];
	char v[MAX_COLS][COL_CAP];
	unsigned long len[MAX_COLS];
	my_bool null[MAX_COLS], err[MAX_COLS];
	unsigned n;
};

struct my {
	MYSQL *db;
	MYSQL_STMT *st[ST__COUNT];
	bool st_walking[ST__COUNT]; /**< a walk on it is in progress */
	struct my_url url;
	const char *bin;     /**< exact collation of this server */
	const char *loc;     /**< location table name */
	bool has_email, has_rpid;
	bool narrow_names;   /**< subscriber.username or .domain cannot hold 4-byte UTF-8 (not utf8mb4) */
	struct log_rate refused_log; /**< values refused: senders control them, so rate-limited */
	unsigned nextra;
	char extra_sql[STORE_MAX_EXTRA_COLS * (STORE_COLUMN_NAME_MAX + 4) + 1];
	unsigned busy_ms;
	bool broken;         /**< connection lost or failed: reconnect before the next call */
	bool down;           /**< reconnecting fails; logged once per outage */
	bool in_txn, txn_lost;
	int walking;
	uint64_t next_try_ms; /**< no reconnection attempt before */
	uint64_t last_use_ms;
	struct row row;      /**< results of single-row statements (wiped after credentials) */
};

static struct my *be(struct store *s)
{
	return s->be;
}

/* ---- library and threads ---- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_err;
static __thread bool thread_ready;

static void lib_init(void)
{
	lib_err = mysql_library_init(0, NULL, NULL) ? -EIO : 0;
}

/* The client library once per process, its per-thread state once per thread. */
static int lib_ready(void)
{
	pthread_once(&lib_once, lib_init);
	if (lib_err)
		return lib_err;
	if (!thread_ready) {
		if (mysql_thread_init())
			return -EIO;
		thread_ready = true;
	}
	return 0;
}

/* ---- URL ---- */

static int unhex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode [p, p+n) into a new string; NULL on a bad escape, an encoded
 * NUL or no memory. */
static char *decode(const char *p, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (p[i] != '%') {
			out[o++] = p[i];
			continue;
		}
		hi = i + 2 < n ? unhex((unsigned char)p[i + 1]) : -1;
		lo = i + 2 < n ? unhex((unsigned char)p[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi | lo) == 0) {
			base_wipe(out, n + 1);
			free(out);
			return NULL;
		}
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	return out;
}

static int parse_seconds(const char *p, size_t n, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -EINVAL;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v == 0 || v > 3600)
		return -EINVAL;
	*out = v;
	return 0;
}

static void url_free(struct my_url *u)
{
	if (u->pass) {
		base_wipe(u->pass, strlen(u->pass));
		free(u->pass);
	}
	free(u->user);
	free(u->host);
	free(u->db);
	free(u->socket);
	memset(u, 0, sizeof(*u));
}

/* target is what follows "mysql:" or "mariadb:":
 *   //USER[:PASSWORD]@HOST[:PORT]/DBNAME[?socket=PATH&connect_timeout=S&timeout=S]
 * USER, PASSWORD, DBNAME and PATH are percent-decoded; HOST may be an IPv6
 * address in brackets, or empty with socket=. 0 or -EINVAL / -ENOMEM. */
static int url_parse(const char *scheme, const char *target, struct my_url *u)
{
	const char *auth, *auth_end, *at = NULL, *hp, *path, *query, *colon;
	size_t n;

	memset(u, 0, sizeof(*u));
	u->port = DEFAULT_PORT;
	u->connect_timeout = CONNECT_TIMEOUT_S;
	u->rw_timeout = RW_TIMEOUT_S;
	if (strncmp(target, "//", 2) != 0)
		return -EINVAL;
	auth = target + 2;
	auth_end = auth + strcspn(auth, "/?#");
	if (*auth_end != '/')
		return -EINVAL; /* the database name is required */
	for (const char *p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p; /* the last one: an unencoded '@' in a password still parses */
	if (!at)
		return -EINVAL; /* a user is required */
	colon = memchr(auth, ':', (size_t)(at - auth));
	u->user = decode(auth, (size_t)((colon ? colon : at) - auth));
	u->pass = colon ? decode(colon + 1, (size_t)(at - colon - 1)) : strdup("");
	if (!u->user || !u->pass || !u->user[0])
		goto fail;
	hp = at + 1;
	if (*hp == '[') {
		const char *close = memchr(hp, ']', (size_t)(auth_end - hp));

		if (!close || close == hp + 1)
			goto fail;
		u->host = strndup(hp + 1, (size_t)(close - hp - 1));
		hp = close + 1;
		if (hp < auth_end && *hp != ':')
			goto fail;
	} else {
		const char *pc = memchr(hp, ':', (size_t)(auth_end - hp));

		u->host = strndup(hp, (size_t)((pc ? pc : auth_end) - hp));
		hp = pc ? pc : auth_end;
	}
	if (!u->host)
		goto fail;
	for (const char *p = u->host; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_:%", *p))
			goto fail;
	if (hp < auth_end) { /* ":PORT" */
		unsigned v = 0;

		hp++;
		if (hp == auth_end || auth_end - hp > 5)
			goto fail;
		for (; hp < auth_end; hp++) {
			if (!isdigit((unsigned char)*hp))
				goto fail;
			v = v * 10 + (unsigned)(*hp - '0');
		}
		if (v == 0 || v > 65535)
			goto fail;
		u->port = v;
	}
	path = auth_end + 1;
	n = strcspn(path, "?#");
	if (path[n] == '#')
		goto fail;
	u->db = decode(path, n);
	if (!u->db || !u->db[0] || strchr(u->db, '/'))
		goto fail;
	query = path[n] == '?' ? path + n + 1 : NULL;
	while (query && *query) {
		size_t len = strcspn(query, "&");
		const char *eq = memchr(query, '=', len);
		size_t klen = eq ? (size_t)(eq - query) : len;
		const char *v = eq ? eq + 1 : query + len;
		size_t vlen = (size_t)(query + len - v);

		if (!eq)
			goto fail;
		if (klen == 6 && strncmp(query, "socket", 6) == 0) {
			free(u->socket);
			u->socket = decode(v, vlen);
			if (!u->socket || !u->socket[0])
				goto fail;
		} else if (klen == 15 && strncmp(query, "connect_timeout", 15) == 0) {
			if (parse_seconds(v, vlen, &u->connect_timeout))
				goto fail;
		} else if (klen == 7 && strncmp(query, "timeout", 7) == 0) {
			if (parse_seconds(v, vlen, &u->rw_timeout))
				goto fail;
		} else {
			goto fail; /* a misspelt option must not be ignored silently */
		}
		query += len;
		if (*query == '&')
			query++;
	}
	if (!u->host[0] && !u->socket)
		goto fail;
	/* Log form: no password, and no control characters from a hostile config. */
	if (u->socket)
		snprintf(u->shown, sizeof(u->shown), "%s://%s%s@/%s?socket=%s", scheme, u->user,
			 colon ? ":***" : "", u->db, u->socket);
	else
		snprintf(u->shown, sizeof(u->shown), "%s://%s%s@%s%s%s:%u/%s", scheme, u->user, colon ? ":***" : "",
			 strchr(u->host, ':') ? "[" : "", u->host, strchr(u->host, ':') ? "]" : "", u->port, u->db);
	for (char *p = u->shown; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return 0;
fail:
	/* A bad escape and an allocation failure look alike here: both -EINVAL. */
	url_free(u);
	return -EINVAL;
}

/* ---- errors ---- */

/* Server messages that name no stored value (connection, permission, schema). */
static bool msg_safe(unsigned code)
{
	return (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) || code == 1044 || code == 1045 || code == 1049 ||
	       code == ER_BAD_FIELD_ERROR || code == 1142 || code == 1143 || code == ER_NO_SUCH_TABLE ||
	       code == 1053 || code == 1927 || code == 4031;
}

/* Errors that leave the connection unusable (lost, killed, server shutting
 * down) or whose cure is a new connection (a table or column gone, a
 * statement the server forgot: connecting sets the schema up and prepares
 * the statements again). */
static bool conn_error(unsigned code)
{
	return (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) || code == ER_SERVER_SHUTDOWN ||
	       code == ER_CONNECTION_KILLED || code == 4031 /* idle session timeout */ || code == ER_NO_SUCH_TABLE ||
	       code == ER_BAD_FIELD_ERROR || code == ER_NEED_REPREPARE || code == ER_UNKNOWN_STMT_HANDLER;
}

/* A value refused by its column or an operation: a bound name in a character
 * set the column cannot hold (a 4-byte sequence on utf8mb3, anything beyond
 * latin1 on latin1), bytes that are not UTF-8, a number out of range. An
 * error of that request only. */
static bool data_error(unsigned code)
{
	switch (code) {
	case ER_CANT_AGGREGATE_2COLLATIONS:
	case ER_CANT_AGGREGATE_3COLLATIONS:
	case ER_CANT_AGGREGATE_NCOLLATIONS:
	case ER_COLLATION_CHARSET_MISMATCH:
	case ER_INVALID_CHARACTER_STRING:
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_TRUNCATED_WRONG_VALUE:
	case ER_DATA_TOO_LONG:
	case ER_WARN_DATA_OUT_OF_RANGE:
	case WARN_DATA_TRUNCATED:
	case ER_DATA_OUT_OF_RANGE:
	case ER_WRONG_VALUE_FOR_TYPE:
	case ER_BAD_NULL_ERROR:
	case ER_NO_REFERENCED_ROW_2:
	case ER_ROW_IS_REFERENCED_2:
	case ER_CONSTRAINT_FAILED:
		return true;
	default:
		return false;
	}
}

/* Map a client/server error to the store's errno contract. Only a connection
 * error (conn_error) marks the connection broken; inside a transaction it is
 * then shut at once, so that the server rolls back and releases the
 * transaction's locks now, not at the next call. Any other error belongs to
 * its request alone: the connection and its other requests go on. */
static int fail_code(struct my *q, unsigned code, const char *msg, const char *what)
{
	switch (code) {
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
		LOG_WARN("store: mysql %s: %s: database busy", q->url.shown, what);
		if (code == ER_LOCK_DEADLOCK && q->in_txn) {
			/* The server rolled the whole transaction back. */
			q->in_txn = false;
			q->txn_lost = true;
		}
		return -EAGAIN;
	case ER_DUP_ENTRY:
	case ER_DUP_KEY:
		return -EEXIST;
	case CR_OUT_OF_MEMORY:
	case ER_OUT_OF_RESOURCES:
		return -ENOMEM;
	default:
		break;
	}
	if (data_error(code)) {
		/* The server's message may quote the value: its number only.
		 * Values come from the network: one line per period at most. */
		unsigned missed;
		if (log_rate_allow(&q->refused_log, SW_CONN_LIMIT_LOG_S * 1000u, &missed))
			LOG_WARN("store: mysql %s: %s: value refused by the database (error %u; %u more not logged)",
				 q->url.shown, what, code, missed);
		return -EINVAL;
	}
	/* During an outage only the first failure is logged, not every retry. */
	if (!q->down)
		LOG_ERR("store: mysql %s: %s: %s (error %u)", q->url.shown, what, msg_safe(code) ? msg : "server error",
			code);
	if (!conn_error(code))
		return -EIO;
	q->broken = true;
	if (q->in_txn) {
		q->in_txn = false;
		q->txn_lost = true;
		/* The handles stay valid (disconnect() frees them at the next
		 * call); the socket is shut now. */
		if (q->db)
			mariadb_cancel(q->db);
	}
	return -EIO;
}

static int fail_db(struct my *q, const char *what)
{
	return fail_code(q, mysql_errno(q->db), mysql_error(q->db), what);
}

static int fail_st(struct my *q, MYSQL_STMT *st, const char *what)
{
	return fail_code(q, mysql_stmt_errno(st), mysql_stmt_error(st), what);
}

/* ---- SQL text ---- */

/* Expand the $-tokens of an SQL template into out. */
static int expand(const struct my *q, const char *tmpl, char *out, size_t cap)
{
	static const char *const names[] = { "$LOC", "$EMAIL", "$RPID", "$EXTRA", "$BIN" };
	const char *vals[] = { q->loc, q->has_email ? "email_address" : "''", q->has_rpid ? "rpid" : "NULL",
			       q->extra_sql, q->bin };

	return store_sql_expand(tmpl, names, vals, sizeof(names) / sizeof(names[0]), out, cap);
}

/* A statement without parameters (text protocol); any result is discarded. */
static int exec_sql(struct my *q, const char *tmpl, const char *what)
{
	char sql[4096];

	if (expand(q, tmpl, sql, sizeof(sql)))
		return -EINVAL;
	if (mysql_real_query(q->db, sql, strlen(sql)))
		return fail_db(q, what);
	if (mysql_field_count(q->db)) {
		MYSQL_RES *r = mysql_store_result(q->db);

		if (!r)
			return fail_db(q, what);
		mysql_free_result(r);
	}
	return 0;
}

/* ---- parameters and rows ---- */

static void p_init(struct params *p)
{
	memset(p, 0, sizeof(*p));
}

static void p_bytes(struct params *p, const char *v, size_t n)
{
	MYSQL_BIND *b = &p->b[p->n];

	if (!v) {
		b->buffer_type = MYSQL_TYPE_NULL;
	} else {
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer = (void *)v;
		b->buffer_length = n;
		p->len[p->n] = n;
		b->length = &p->len[p->n];
	}
	p->n++;
}

static void p_str(struct params *p, const char *v)
{
	p_bytes(p, v, v ? strlen(v) : 0);
}

static void p_slice(struct params *p, struct slice v)
{
	p_bytes(p, v.p ? v.p : "", v.len);
}

static void p_int(struct params *p, int64_t v)
{
	MYSQL_BIND *b = &p->b[p->n];

	p->iv[p->n] = v;
	b->buffer_type = MYSQL_TYPE_LONGLONG;
	b->buffer = &p->iv[p->n];
	p->n++;
}

/* The three binds of USER_MATCH. */
static void p_user(struct params *p, struct slice user, struct slice domain)
{
	p_slice(p, user);
	p_slice(p, user);
	p_slice(p, domain);
}

/* Bind r to a result of n columns; -EINVAL (nothing written) beyond MAX_COLS. */
static int row_bind(struct row *r, unsigned n)
{
	memset(r->b, 0, sizeof(r->b));
	if (n > MAX_COLS) {
		r->n = 0;
		return -EINVAL;
	}
	r->n = n;
	for (unsigned i = 0; i < n; i++) {
		r->b[i].buffer_type = MYSQL_TYPE_STRING;
		r->b[i].buffer = r->v[i];
		r->b[i].buffer_length = COL_CAP;
		r->b[i].length = &r->len[i];
		r->b[i].is_null = &r->null[i];
		r->b[i].error = &r->err[i];
	}
	return 0;
}

static void row_wipe(struct row *r)
{
	base_wipe(r->v, sizeof(r->v[0]) * (r->n ? r->n : MAX_COLS));
	memset(r->len, 0, sizeof(r->len));
}

/* Column i holds a NUL byte (a VARCHAR may): as a C string it would read as
 * a shorter value, a password "a\0bcd" as "a". Such a value is unusable. */
static bool r_has_nul(const struct row *r, unsigned i)
{
	size_t n = r->len[i] < COL_CAP ? r->len[i] : COL_CAP;

	return !r->null[i] && memchr(r->v[i], '\0', n) != NULL;
}

/* Column i as text into dst; an over-long value or one with a NUL byte is
 * dropped with a warning, never truncated (a cut hash or identity is worse
 * than none). */
static void r_copy(const struct row *r, unsigned i, char *dst, size_t cap, const char *what)
{
	size_t n = r->len[i];

	dst[0] = '\0';
	if (r->null[i])
		return;
	if (n >= cap || n >= COL_CAP) {
		LOG_WARN("store: mysql: %s exceeds %zu bytes in a row, ignored", what, cap - 1);
		return;
	}
	if (r_has_nul(r, i)) {
		LOG_WARN("store: mysql: %s holds a NUL byte in a row, ignored", what);
		return;
	}
	memcpy(dst, r->v[i], n);
	dst[n] = '\0';
}

static int64_t r_int(const struct row *r, unsigned i)
{
	char buf[32];
	size_t n = r->len[i];

	if (r->null[i] || n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, r->v[i], n);
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/* ---- statements ---- */

/* Bind and execute statement id; *changes gets the rows matched. */
static int st_run(struct my *q, enum stmt_id id, struct params *p, const char *what, uint64_t *changes)
{
	MYSQL_STMT *st = q->st[id];

	if (mysql_stmt_param_count(st) != (p ? p->n : 0)) {
		LOG_ERR("store: mysql: %s: %lu parameters expected, %u bound", what, mysql_stmt_param_count(st),
			p ? p->n : 0);
		return -EINVAL;
	}
	if (p && p->n && mysql_stmt_bind_param(st, p->b))
		return fail_st(q, st, what);
	if (mysql_stmt_execute(st))
		return fail_st(q, st, what);
	if (changes)
		*changes = mysql_stmt_affected_rows(st);
	q->last_use_ms = base_mono_ms();
	return 0;
}

/* Execute and fetch the first row into r (buffered or not). 0 with *found. */
static int st_one(struct my *q, enum stmt_id id, struct params *p, struct row *r, const char *what, bool *found)
{
	MYSQL_STMT *st = q->st[id];
	int rc, err;

	*found = false;
	err = st_run(q, id, p, what, NULL);
	if (err)
		return err;
	err = row_bind(r, mysql_stmt_field_count(st));
	if (err || mysql_stmt_bind_result(st, r->b)) {
		err = err ? err : fail_st(q, st, what);
		mysql_stmt_free_result(st);
		return err;
	}
	rc = mysql_stmt_fetch(st);
	if (rc == 0 || rc == MYSQL_DATA_TRUNCATED)
		*found = true;
	else if (rc != MYSQL_NO_DATA)
		err = fail_st(q, st, what);
	mysql_stmt_free_result(st);
	return err;
}

/* Execute a walk statement: the whole result is buffered first, so fn may run
 * other statements on this connection. fn(row, arg) per row; its non-zero
 * return stops the walk and is returned. */
static int st_walk(struct my *q, enum stmt_id id, struct params *p, const char *what,
		   int (*fn)(const struct row *r, void *arg), void *arg)
{
	MYSQL_STMT *st = q->st[id];
	struct row *r;
	int rc, err;

	if (q->st_walking[id])
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = st_run(q, id, p, what, NULL);
	if (!err && mysql_stmt_store_result(st))
		err = fail_st(q, st, what);
	if (!err) {
		err = row_bind(r, mysql_stmt_field_count(st));
		if (!err && mysql_stmt_bind_result(st, r->b))
			err = fail_st(q, st, what);
	}
	if (err) {
		mysql_stmt_free_result(st);
		free(r);
		return err;
	}
	q->st_walking[id] = true;
	q->walking++;
	while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
		err = fn(r, arg);
		if (err)
			break;
	}
	if (!err && rc != MYSQL_NO_DATA)
		err = fail_st(q, st, what);
	q->walking--;
	q->st_walking[id] = false;
	mysql_stmt_free_result(st);
	free(r);
	return err;
}

/* One integer from a query with up to two text parameters; *out = -1 when no row. */
static int query_int(struct my *q, const char *sql, const char *a, const char *b, int64_t *out)
{
	MYSQL_STMT *st = mysql_stmt_init(q->db);
	struct params p;
	struct row *r = &q->row;
	int rc, err = 0;

	*out = -1;
	if (!st)
		return -ENOMEM;
	p_init(&p);
	if (a)
		p_str(&p, a);
	if (b)
		p_str(&p, b);
	if (mysql_stmt_prepare(st, sql, strlen(sql)) || (p.n && mysql_stmt_bind_param(st, p.b)) ||
	    mysql_stmt_execute(st)) {
		err = fail_st(q, st, "schema check");
		mysql_stmt_close(st);
		return err;
	}
	if (mysql_stmt_field_count(st) != 1 || row_bind(r, 1) || mysql_stmt_bind_result(st, r->b)) {
		err = -EINVAL;
	} else {
		rc = mysql_stmt_fetch(st);
		if (rc == 0 || rc == MYSQL_DATA_TRUNCATED)
			*out = r_int(r, 0);
		else if (rc != MYSQL_NO_DATA)
			err = fail_st(q, st, "schema check");
	}
	mysql_stmt_free_result(st);
	mysql_stmt_close(st);
	return err;
}

static int table_exists(struct my *q, const char *table, bool *out)
{
	int64_t v;
	int err = query_int(q, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
			       " AND TABLE_NAME = ?", table, NULL, &v);

	*out = v > 0;
	return err;
}

static int column_exists(struct my *q, const char *table, const char *col, bool *out)
{
	int64_t v;
	int err = query_int(q, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
			       " AND TABLE_NAME = ? AND COLUMN_NAME = ?", table, col, &v);

	*out = v > 0;
	return err;
}

static int index_exists(struct my *q, const char *table, const char *idx, bool *out)
{
	int64_t v;
	int err = query_int(q, "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
			       " AND TABLE_NAME = ? AND INDEX_NAME = ?", table, idx, &v);

	*out = v > 0;
	return err;
}

/* The exact utf8mb4 collation: no-pad binary where the server has one
 * (MariaDB, MySQL 8), else the padding binary one. */
static int pick_collation(struct my *q)
{
	static const char *const names[] = { "utf8mb4_nopad_bin", "utf8mb4_0900_bin" };
	int64_t v;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int err = query_int(q, "SELECT COUNT(*) FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ?",
				    names[i], NULL, &v);
		if (err)
			return err;
		if (v > 0) {
			q->bin = names[i];
			return 0;
		}
	}
	q->bin = "utf8mb4_bin";
	return 0;
}

/* The extra columns of store_extra_cols must exist in subscriber; their
 * select list goes to q->extra_sql. 0, -EINVAL (missing: logged) or an error. */
static int extra_setup(struct my *q)
{
	const struct store_extra_cols *x = &store_extra_cols;
	size_t o = 0;

	q->nextra = 0;
	q->extra_sql[0] = '\0';
	for (unsigned i = 0; i < x->n; i++) {
		bool have;
		int err = column_exists(q, "subscriber", x->name[i], &have);

		if (err)
			return err;
		if (!have) {
			LOG_ERR("store: mysql %s: table subscriber has no column %s ([auth] load_columns);"
				" add it with ALTER TABLE subscriber ADD COLUMN %s ...",
				q->url.shown, x->name[i], x->name[i]);
			return -EINVAL;
		}
		/* Names were checked to be plain identifiers; backticks keep keywords usable. */
		o += (size_t)snprintf(q->extra_sql + o, sizeof(q->extra_sql) - o, ", `%s`", x->name[i]);
	}
	q->nextra = x->n;
	return 0;
}

/* Whether subscriber's username and domain columns hold all of UTF-8
 * (utf8mb4, or binary): a Kamailio table is often latin1 or utf8mb3. */
static int names_setup(struct my *q)
{
	int64_t v;
	int err = query_int(q, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
			       " AND TABLE_NAME = 'subscriber' AND COLUMN_NAME IN ('username', 'domain')"
			       " AND CHARACTER_SET_NAME <> 'utf8mb4'",
			    NULL, NULL, &v);

	q->narrow_names = err || v != 0;
	return err;
}

/* Which location table to use, which optional columns exist, and whether
 * anything must be created or added. */
static int schema_probe(struct my *q, bool *needs)
{
	bool sub, loc, loc_aor, alias, blocks, have;
	int err;

	*needs = false;
	err = table_exists(q, "subscriber", &sub);
	err = err ? err : column_exists(q, "subscriber", "email_address", &q->has_email);
	err = err ? err : column_exists(q, "subscriber", "rpid", &q->has_rpid);
	err = err ? err : table_exists(q, "location", &loc);
	err = err ? err : column_exists(q, "location", "aor", &loc_aor);
	err = err ? err : table_exists(q, "sw_alias", &alias);
	err = err ? err : table_exists(q, "sw_blocks", &blocks);
	for (size_t i = 0; !err && i < sizeof(new_cols) / sizeof(new_cols[0]); i++) {
		err = column_exists(q, "subscriber", new_cols[i][0], &have);
		*needs |= !have;
	}
	for (size_t i = 0; !err && i < sizeof(new_idx) / sizeof(new_idx[0]); i++) {
		err = index_exists(q, "subscriber", new_idx[i][0], &have);
		*needs |= !have;
	}
	if (err)
		return err;
	/* A Kamailio database has its own, different `location` table: leave it to
	 * Kamailio and keep sipwarden's bindings beside it. */
	q->loc = loc && !loc_aor ? "sw_location" : "location";
	if (loc && !loc_aor)
		err = table_exists(q, q->loc, &loc);
	if (!sub)
		q->has_email = q->has_rpid = true;
	*needs |= !sub || !loc || !alias || !blocks;
	return err;
}

/* hex H(user ":" domain) for family 0 MD5, 1 SHA-256, 2 SHA-512/256 (RFC 7616
 * §3.4.4), domain in lower case as sipwarden-ctl hashes it. */
static int userhash_hex(int fam, const char *u, size_t ulen, const char *d, size_t dlen, char *out, size_t cap)
{
	static const char hexd[] = "0123456789abcdef";
	const EVP_MD *md = fam == 0 ? EVP_md5() : fam == 1 ? EVP_sha256() : EVP_sha512_256();
	unsigned char dig[EVP_MAX_MD_SIZE];
	char low[SW_MAX_DOMAIN + 1];
	unsigned dlen_out = 0;
	EVP_MD_CTX *m;
	int ok;

	if (dlen > SW_MAX_DOMAIN)
		return -EINVAL;
	for (size_t i = 0; i < dlen; i++)
		low[i] = (char)tolower((unsigned char)d[i]);
	m = EVP_MD_CTX_new();
	ok = m && EVP_DigestInit_ex(m, md, NULL) == 1 && EVP_DigestUpdate(m, u, ulen) == 1 &&
	     EVP_DigestUpdate(m, ":", 1) == 1 && EVP_DigestUpdate(m, low, dlen) == 1 &&
	     EVP_DigestFinal_ex(m, dig, &dlen_out) == 1;
	EVP_MD_CTX_free(m);
	if (!ok || 2 * (size_t)dlen_out >= cap)
		return -ENOMEM;
	for (unsigned i = 0; i < dlen_out; i++) {
		out[2 * i] = hexd[dig[i] >> 4];
		out[2 * i + 1] = hexd[dig[i] & 15];
	}
	out[2 * dlen_out] = '\0';
	return 0;
}

/* Rows that predate the userhash columns get them computed here (MySQL has
 * no SHA-512/256 of its own). */
static int userhash_fill(struct my *q)
{
	MYSQL_RES *res;
	MYSQL_ROW rw;
	MYSQL_STMT *st;
	int err = 0;

	static const char sel[] = "SELECT id, username, domain FROM subscriber WHERE userhash_md5 = ''"
				  " OR userhash_sha256 = '' OR userhash_sha512t256 = ''";
	static const char upd[] = "UPDATE subscriber SET userhash_md5 = IF(userhash_md5 = '', ?, userhash_md5),"
				  " userhash_sha256 = IF(userhash_sha256 = '', ?, userhash_sha256),"
				  " userhash_sha512t256 = IF(userhash_sha512t256 = '', ?, userhash_sha512t256)"
				  " WHERE id = ?";

	if (mysql_real_query(q->db, sel, sizeof(sel) - 1))
		return fail_db(q, "fill userhash columns");
	res = mysql_store_result(q->db);
	if (!res)
		return fail_db(q, "fill userhash columns");
	st = mysql_stmt_init(q->db);
	if (!st || mysql_stmt_prepare(st, upd, strlen(upd))) {
		err = st ? fail_st(q, st, "fill userhash columns") : -ENOMEM;
		goto out;
	}
	while (!err && (rw = mysql_fetch_row(res))) {
		unsigned long *len = mysql_fetch_lengths(res);
		char h[3][2 * EVP_MAX_MD_SIZE + 1];
		struct params p;

		if (!rw[0] || !rw[1] || !rw[2])
			continue;
		p_init(&p);
		for (int f = 0; f < 3 && !err; f++) {
			err = userhash_hex(f, rw[1], len[1], rw[2], len[2], h[f], sizeof(h[f]));
			p_str(&p, h[f]);
		}
		if (err == -EINVAL) { /* a domain longer than any sipwarden accepts: left alone */
			err = 0;
			continue;
		}
		p_int(&p, strtoll(rw[0], NULL, 10));
		if (!err && (mysql_stmt_bind_param(st, p.b) || mysql_stmt_execute(st)))
			err = fail_st(q, st, "fill userhash columns");
	}
out:
	if (st)
		mysql_stmt_close(st);
	mysql_free_result(res);
	return err;
}

/* Create what is missing; an existing Kamailio subscriber table only gains
 * columns and indexes. Under a named lock (DDL does not take part in
 * transactions), re-probed under it, so two processes do not collide. */
static int schema_setup(struct my *q)
{
	char sql[2048];
	bool needs, have, existed, any = false;
	size_t o;
	int64_t got;
	int err;

	err = query_int(q, "SELECT GET_LOCK(CONCAT('sipwarden.schema.', DATABASE()), 30)", NULL, NULL, &got);
	if (err)
		return err;
	if (got != 1) {
		LOG_WARN("store: mysql %s: schema setup lock not obtained (another process holds it)", q->url.shown);
		return -EAGAIN;
	}
	err = schema_probe(q, &needs);
	if (err || !needs)
		goto out;
	err = table_exists(q, "subscriber", &existed);
	err = err ? err : exec_sql(q, SUBSCRIBER_DDL, "create subscriber");
	if (!err && !existed)
		LOG_INFO("store: mysql %s: created table subscriber", q->url.shown);
	o = (size_t)snprintf(sql, sizeof(sql), "ALTER TABLE subscriber");
	for (size_t i = 0; !err && i < sizeof(new_cols) / sizeof(new_cols[0]); i++) {
		err = column_exists(q, "subscriber", new_cols[i][0], &have);
		if (err || have)
			continue;
		if (existed)
			LOG_INFO("store: mysql %s: adding column subscriber.%s", q->url.shown, new_cols[i][0]);
		o += (size_t)snprintf(sql + o, sizeof(sql) - o, "%s ADD COLUMN %s %s", any ? "," : "",
				      new_cols[i][0], new_cols[i][1]);
		any = true;
	}
	for (size_t i = 0; !err && i < sizeof(new_idx) / sizeof(new_idx[0]); i++) {
		err = index_exists(q, "subscriber", new_idx[i][0], &have);
		if (err || have)
			continue;
		o += (size_t)snprintf(sql + o, sizeof(sql) - o, "%s ADD INDEX %s (%s)", any ? "," : "",
				      new_idx[i][0], new_idx[i][1]);
		any = true;
	}
	if (!err && o >= sizeof(sql))
		err = -EINVAL;
	if (!err && any)
		err = exec_sql(q, sql, "add subscriber columns");
	err = err ? err : exec_sql(q, ALIAS_DDL, "create sw_alias");
	err = err ? err : exec_sql(q, BLOCKS_DDL, "create sw_blocks");
	err = err ? err : exec_sql(q, LOCATION_DDL, "create location");
	err = err ? err : userhash_fill(q);
out:
	/* The lock also ends with the connection, which the caller closes next. */
	query_int(q, "SELECT RELEASE_LOCK(CONCAT('sipwarden.schema.', DATABASE()))", NULL, NULL, &got);
	return err;
}

/* ---- connection ---- */

static void disconnect(struct my *q)
{
	for (int i = 0; i < ST__COUNT; i++) {
		if (q->st[i])
			mysql_stmt_close(q->st[i]);
		q->st[i] = NULL;
	}
	if (q->db)
		mysql_close(q->db);
	q->db = NULL;
	q->in_txn = false;
}

/* Lock waits in whole seconds, below the read timeout (else the client gives
 * up first and takes a busy row for a lost server). */
static unsigned lock_wait_s(const struct my *q)
{
	unsigned s = (q->busy_ms + 999) / 1000;
	unsigned max = q->url.rw_timeout > 1 ? q->url.rw_timeout - 1 : 1;

	return s < 1 ? 1 : s > max ? max : s;
}

static int apply_lock_wait(struct my *q)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SET SESSION innodb_lock_wait_timeout = %u, lock_wait_timeout = %u",
		 lock_wait_s(q), lock_wait_s(q));
	return exec_sql(q, sql, "set lock wait");
}

/* A bare connection with the given read/write timeout and the session set up. */
static int raw_connect(struct my *q, unsigned rw_timeout)
{
	unsigned ct = q->url.connect_timeout, proto = q->url.socket ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
	my_bool no = 0;
	unsigned zero = 0;
	int err;

	q->db = mysql_init(NULL);
	if (!q->db)
		return -ENOMEM;
	mysql_options(q->db, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_options(q->db, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
	mysql_options(q->db, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
	mysql_options(q->db, MYSQL_OPT_RECONNECT, &no); /* a silent reconnect would lose the statements */
	mysql_options(q->db, MYSQL_OPT_LOCAL_INFILE, &zero);
	/* A host name in the URL means TCP, "localhost" included; socket= means the socket. */
	mysql_options(q->db, MYSQL_OPT_PROTOCOL, &proto);
	mysql_options(q->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (!mysql_real_connect(q->db, q->url.host[0] ? q->url.host : NULL, q->url.user, q->url.pass, q->url.db,
				q->url.port, q->url.socket, CLIENT_FOUND_ROWS)) {
		err = fail_db(q, "connect");
		disconnect(q);
		return err == -ENOMEM ? err : -EIO;
	}
	/* Strict: an over-long value is an error, never silently cut. */
	err = exec_sql(q, "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION', autocommit = 1",
		       "session setup");
	err = err ? err : apply_lock_wait(q);
	if (err) {
		disconnect(q);
		return err;
	}
	return 0;
}

/* Connect, create or complete the schema when needed (on a connection with a
 * longer timeout), and prepare every statement. 0, -EIO, -EAGAIN, -EINVAL, -ENOMEM. */
static int connect_db(struct my *q)
{
	char sql[2048];
	bool needs = false;
	int err;

	err = raw_connect(q, q->url.rw_timeout);
	err = err ? err : pick_collation(q);
	err = err ? err : schema_probe(q, &needs);
	if (!err && needs) {
		disconnect(q);
		err = raw_connect(q, SETUP_TIMEOUT_S);
		err = err ? err : schema_setup(q);
		disconnect(q);
		err = err ? err : raw_connect(q, q->url.rw_timeout);
		err = err ? err : schema_probe(q, &needs);
	}
	err = err ? err : extra_setup(q);
	err = err ? err : names_setup(q);
	for (int i = 0; !err && i < ST__COUNT; i++) {
		err = expand(q, stmt_sql[i], sql, sizeof(sql)) ? -EINVAL : 0;
		if (err)
			break;
		q->st[i] = mysql_stmt_init(q->db);
		if (!q->st[i])
			err = -ENOMEM;
		else if (mysql_stmt_prepare(q->st[i], sql, strlen(sql)))
			err = fail_st(q, q->st[i], "prepare");
	}
	if (err) {
		disconnect(q);
		return err == -EAGAIN || err == -ENOMEM || err == -EINVAL ? err : -EIO;
	}
	q->last_use_ms = base_mono_ms();
	return 0;
}

/* Called first by every operation: after a fault, reconnect (at most once per
 * RETRY_MS; meanwhile -EIO at once); a connection idle for long is pinged first. */
static int ready(struct my *q)
{
	uint64_t now;
	int err;

	err = lib_ready();
	if (err)
		return err;
	if (q->txn_lost)
		return -EIO; /* until the caller ends the transaction */
	now = base_mono_ms();
	if (!q->broken && !q->in_txn && !q->walking && now - q->last_use_ms >= IDLE_PING_MS) {
		if (mysql_ping(q->db)) {
			/* Closed while idle (server restart, wait_timeout): not yet an outage. */
			LOG_INFO("store: mysql %s: idle connection lost, reconnecting", q->url.shown);
			q->broken = true;
			q->next_try_ms = 0;
		} else {
			q->last_use_ms = now;
		}
	}
	if (!q->broken)
		return 0;
	if (q->walking || now < q->next_try_ms)
		return -EIO;
	disconnect(q);
	err = connect_db(q);
	q->next_try_ms = base_mono_ms() + RETRY_MS;
	if (err) {
		if (!q->down)
			LOG_ERR("store: mysql %s unavailable, will retry on next use", q->url.shown);
		q->down = true;
		q->broken = true;
		return err;
	}
	if (q->down)
		LOG_INFO("store: mysql %s available again", q->url.shown);
	q->down = q->broken = false;
	return 0;
}

/* When a failed open was last logged: a caller that reopens in a loop (the
 * registration write-back during an outage) logs one failure a minute, not
 * one per attempt. */
static _Atomic uint64_t open_fail_logged_ms;
#define OPEN_FAIL_LOG_MS 60000

static int my_open_scheme(struct store *s, const char *scheme, const char *target)
{
	uint64_t now = base_mono_ms(), last = open_fail_logged_ms;
	struct my *q;
	int err;

	err = lib_ready();
	if (err)
		return err;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	err = url_parse(scheme, target, &q->url);
	if (err) {
		free(q);
		return err;
	}
	q->busy_ms = BUSY_TIMEOUT_MS;
	q->loc = "location";
	q->bin = "utf8mb4_bin";
	q->down = last && now - last < OPEN_FAIL_LOG_MS; /* quiet: logged a moment ago */
	err = connect_db(q);
	if (err && !q->down)
		open_fail_logged_ms = now ? now : 1;
	if (!err)
		open_fail_logged_ms = 0;
	q->down = false;
	if (err) {
		url_free(&q->url);
		free(q);
		return err;
	}
	s->be = q;
	return 0;
}

static int my_open(struct store *s, const char *target)
{
	return my_open_scheme(s, "mysql", target);
}

static int mariadb_open(struct store *s, const char *target)
{
	return my_open_scheme(s, "mariadb", target);
}

static void my_close(struct store *s)
{
	struct my *q = be(s);

	lib_ready();
	disconnect(q);
	row_wipe(&q->row);
	url_free(&q->url);
	free(q);
	s->be = NULL;
}

static int my_set_busy_timeout(struct store *s, unsigned ms)
{
	struct my *q = be(s);

	q->busy_ms = ms > 60000 ? 60000 : ms;
	/* Also applied at every connect; a failure here is the next call's to report. */
	if (q->db && !q->broken && !q->in_txn && lib_ready() == 0)
		apply_lock_wait(q);
	return 0;
}

/* ---- operations ---- */

static void read_cred(const struct my *q, const struct row *r, struct store_cred *out)
{
	r_copy(r, 0, out->username, sizeof(out->username), "username");
	r_copy(r, 1, out->domain, sizeof(out->domain), "domain");
	r_copy(r, 2, out->password, sizeof(out->password), "password");
	r_copy(r, 3, out->ha1, sizeof(out->ha1), "ha1");
	r_copy(r, 4, out->ha1b, sizeof(out->ha1b), "ha1b");
	r_copy(r, 5, out->email, sizeof(out->email), "email_address");
	r_copy(r, 6, out->rpid, sizeof(out->rpid), "rpid");
	out->status = (int)r_int(r, 7);
	r_copy(r, 8, out->ha1_sha256, sizeof(out->ha1_sha256), "ha1_sha256");
	r_copy(r, 9, out->ha1b_sha256, sizeof(out->ha1b_sha256), "ha1b_sha256");
	r_copy(r, 10, out->ha1_sha512t256, sizeof(out->ha1_sha512t256), "ha1_sha512t256");
	r_copy(r, 11, out->ha1b_sha512t256, sizeof(out->ha1b_sha512t256), "ha1b_sha512t256");
	out->min_algo = (int)r_int(r, 12);
	out->pin_algo = (int)r_int(r, 13);
	out->valid_until = r_int(r, 14);
	out->locked_until = r_int(r, 15);
	out->hashes = (out->ha1[0] ? 1u << STORE_HASH_MD5 : 0) | (out->ha1_sha256[0] ? 1u << STORE_HASH_SHA256 : 0) |
		      (out->ha1_sha512t256[0] ? 1u << STORE_HASH_SHA512_256 : 0);
	for (unsigned i = 0; i < q->nextra; i++) {
		unsigned c = CRED_EXTRA_FIRST + i;
		size_t n = r->len[c];

		/* Too long is unusable rather than cut: a cut value could pass a
		 * policy; so is one with a NUL byte, which would read as cut. */
		if (n > STORE_EXTRA_VALUE_MAX || r_has_nul(r, c))
			out->extra_unusable |= 1u << i;
		else if (!r->null[c])
			memcpy(out->extra[i], r->v[c], n);
	}
}

/* Strict UTF-8 without NUL; wide: code points beyond U+FFFF (4 bytes) allowed. */
static bool utf8_ok(const char *p, size_t n, bool wide)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i], len, k;
		uint32_t cp, min;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2, min = 0x80, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3, min = 0x800, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4 && wide)
			len = 4, min = 0x10000, cp = c & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
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

/* A name from the network that the subscriber table could hold: the
 * connection speaks utf8mb4, so bytes that are not UTF-8 are refused by the
 * server, and so are 4-byte sequences by a utf8mb3 or latin1 column. Such a
 * name cannot belong to a subscriber. */
static bool name_ok(const struct my *q, struct slice v)
{
	return utf8_ok(v.p ? v.p : "", v.len, !q->narrow_names);
}

static int get_cred_stmt(struct my *q, enum stmt_id id, struct slice key, struct slice domain,
			 struct store_cred *out)
{
	static const struct slice none = { "", 0 };
	struct params p;
	bool found, usable = name_ok(q, key) && name_ok(q, domain);
	int err;

	err = ready(q);
	if (err)
		return err;
	/* A name no row can have still costs the same query, on empty names,
	 * and reads the row it returns, then forgotten like the stand-in. */
	if (!usable)
		key = domain = none;
	p_init(&p);
	if (id == ST_GET_CRED) {
		p_user(&p, key, domain);
	} else {
		p_slice(&p, key);
		p_slice(&p, domain);
	}
	err = st_one(q, id, &p, &q->row, "get credentials", &found);
	if (!err && found) {
		/* The stand-in row (CRED_SELECT) is read like a found one, then forgotten. */
		read_cred(q, &q->row, out);
		err = usable && r_int(&q->row, CRED_EXTRA_FIRST + q->nextra) ? 0 : -ENOENT;
		if (err)
			base_wipe(out, sizeof(*out));
	} else if (!err || err == -EINVAL) {
		/* Not found, or a name the table's character set refuses (a
		 * latin1 column and a character beyond latin1): no such user. */
		err = -ENOENT;
	}
	row_wipe(&q->row);
	return err;
}

static int my_get_cred(struct store *s, struct slice username, struct slice domain, struct store_cred *out)
{
	return get_cred_stmt(be(s), ST_GET_CRED, username, domain, out);
}

static int my_get_cred_uh(struct store *s, enum store_hash h, struct slice userhash, struct slice domain,
			  struct store_cred *out)
{
	static const enum stmt_id ids[STORE_HASH__COUNT] = { ST_GET_CRED_UH_MD5, ST_GET_CRED_UH_SHA256,
							     ST_GET_CRED_UH_SHA512 };

	return get_cred_stmt(be(s), ids[h], userhash, domain, out);
}

static void p_secrets(struct params *p, const struct store_user_secrets *sec)
{
	p_str(p, sec->password);
	p_str(p, sec->ha1);
	p_str(p, sec->ha1b);
	p_str(p, sec->ha1_sha256);
	p_str(p, sec->ha1b_sha256);
	p_str(p, sec->ha1_sha512t256);
	p_str(p, sec->ha1b_sha512t256);
	for (int i = 0; i < STORE_HASH__COUNT; i++)
		p_str(p, sec->userhash[i]);
}

static int my_user_add(struct store *s, const char *username, const char *domain,
		       const struct store_user_secrets *sec)
{
	struct my *q = be(s);
	struct store_user_secrets v = { 0 };
	char uh[STORE_HASH__COUNT][2 * EVP_MAX_MD_SIZE + 1];
	struct params p;
	uint64_t n;
	int err;

	err = ready(q);
	if (err)
		return err;
#define OR_EMPTY(f) v.f = sec && sec->f ? sec->f : ""
	OR_EMPTY(password);
	OR_EMPTY(ha1);
	OR_EMPTY(ha1b);
	OR_EMPTY(ha1_sha256);
	OR_EMPTY(ha1b_sha256);
	OR_EMPTY(ha1_sha512t256);
	OR_EMPTY(ha1b_sha512t256);
#undef OR_EMPTY
	for (int i = 0; i < STORE_HASH__COUNT; i++) {
		v.userhash[i] = sec ? sec->userhash[i] : NULL;
		if (!v.userhash[i] || !v.userhash[i][0]) {
			err = userhash_hex(i, username, strlen(username), domain, strlen(domain), uh[i], sizeof(uh[i]));
			if (err)
				return err;
			v.userhash[i] = uh[i];
		}
	}
	p_init(&p);
	p_str(&p, username);
	p_str(&p, domain);
	p_secrets(&p, &v);
	p_user(&p, slice_cstr(username), slice_cstr(domain));
	/* secrets_ok() in store.c bounds the values; a username that fits there
	 * but not in a narrower foreign column is -EINVAL (strict mode). */
	err = st_run(q, ST_USER_ADD, &p, "add user", &n);
	return err ? err : n ? 0 : -EEXIST;
}

static int my_user_update(struct store *s, const char *username, const char *domain,
			  const struct store_user_secrets *sec)
{
	static const struct store_user_secrets none;
	struct my *q = be(s);
	struct params p;
	uint64_t n;
	int err;

	err = ready(q);
	if (err)
		return err;
	p_init(&p);
	p_secrets(&p, sec ? sec : &none);
	p_user(&p, slice_cstr(username), slice_cstr(domain));
	err = st_run(q, ST_USER_UPDATE, &p, "update user", &n);
	return err ? err : n ? 0 : -ENOENT;
}

/* A statement bound as (value?, USER_MATCH, value?). */
static int user_stmt(struct store *s, enum stmt_id id, const char *username, const char *domain,
		     const int64_t *value, bool value_after, const char *what, uint64_t *n)
{
	struct my *q = be(s);
	struct params p;
	int err;

	err = ready(q);
	if (err)
		return err;
	p_init(&p);
	if (value)
		p_int(&p, *value);
	p_user(&p, slice_cstr(username), slice_cstr(domain));
	if (value && value_after)
		p_int(&p, *value);
	return st_run(q, id, &p, what, n);
}

static int my_user_del(struct store *s, const char *username, const char *domain)
{
	uint64_t n;
	int err = user_stmt(s, ST_USER_DEL, username, domain, NULL, false, "delete user", &n);

	return err ? err : n ? 0 : -ENOENT;
}

static int my_user_set_field(struct store *s, const char *username, const char *domain, enum store_field f,
			     int64_t value)
{
	static const enum stmt_id ids[STORE_FIELD__COUNT] = {
		[STORE_FIELD_STATUS] = ST_SET_STATUS,		[STORE_FIELD_MIN_ALGO] = ST_SET_MIN_ALGO,
		[STORE_FIELD_PIN] = ST_SET_PIN,			[STORE_FIELD_VALID_UNTIL] = ST_SET_VALID_UNTIL,
		[STORE_FIELD_LOCKED_UNTIL] = ST_SET_LOCKED_UNTIL,
	};
	uint64_t n;
	int err = user_stmt(s, ids[f], username, domain, &value, false, "set user field", &n);

	return err ? err : n ? 0 : -ENOENT;
}

static int my_user_raise_pin(struct store *s, const char *username, const char *domain, int rank)
{
	int64_t v = rank;

	return user_stmt(s, ST_RAISE_PIN, username, domain, &v, true, "raise pin", NULL);
}

static int alias_stmt(struct store *s, enum stmt_id id, struct slice u, struct slice d, struct slice au,
		      struct slice ad, uint64_t *changes, bool *row)
{
	struct my *q = be(s);
	struct params p;
	int err;

	err = ready(q);
	if (err)
		return err;
	p_init(&p);
	p_slice(&p, u);
	p_slice(&p, d);
	p_slice(&p, au);
	p_slice(&p, ad);
	if (!row)
		return st_run(q, id, &p, "alias", changes);
	err = st_one(q, id, &p, &q->row, "alias check", row);
	row_wipe(&q->row);
	return err;
}

static int my_alias_add(struct store *s, const char *user, const char *domain, const char *alias_user,
			const char *alias_domain)
{
	return alias_stmt(s, ST_ALIAS_ADD, slice_cstr(user), slice_cstr(domain), slice_cstr(alias_user),
			  slice_cstr(alias_domain), NULL, NULL);
}

static int my_alias_del(struct store *s, const char *user, const char *domain, const char *alias_user,
			const char *alias_domain)
{
	uint64_t n;
	int err = alias_stmt(s, ST_ALIAS_DEL, slice_cstr(user), slice_cstr(domain), slice_cstr(alias_user),
			     slice_cstr(alias_domain), &n, NULL);

	return err ? err : n ? 0 : -ENOENT;
}

static int my_alias_check(struct store *s, struct slice user, struct slice domain, struct slice alias_user,
			  struct slice alias_domain)
{
	bool row = false;
	int err;

	/* Names that are not UTF-8 (refused by the server) have no alias. */
	if (!utf8_ok(user.p, user.len, true) || !utf8_ok(domain.p, domain.len, true) ||
	    !utf8_ok(alias_user.p, alias_user.len, true) || !utf8_ok(alias_domain.p, alias_domain.len, true)) {
		err = ready(be(s));
		return err ? err : -ENOENT;
	}
	err = alias_stmt(s, ST_ALIAS_CHECK, user, domain, alias_user, alias_domain, NULL, &row);
	if (err == -EINVAL)
		return -ENOENT;
	return err ? err : row ? 0 : -ENOENT;
}

struct alias_walk {
	store_alias_fn fn;
	void *arg;
};

static int alias_row(const struct row *r, void *arg)
{
	struct alias_walk *w = arg;
	char u[SW_MAX_USER + 1], d[SW_MAX_DOMAIN + 1], au[SW_MAX_USER + 1], ad[SW_MAX_DOMAIN + 1];

	r_copy(r, 0, u, sizeof(u), "username");
	r_copy(r, 1, d, sizeof(d), "domain");
	r_copy(r, 2, au, sizeof(au), "alias_username");
	r_copy(r, 3, ad, sizeof(ad), "alias_domain");
	return w->fn(u, d, au, ad, w->arg);
}

static int my_alias_list(struct store *s, store_alias_fn fn, void *arg)
{
	struct my *q = be(s);
	struct alias_walk w = { fn, arg };
	int err = ready(q);

	return err ? err : st_walk(q, ST_ALIAS_LIST, NULL, "list aliases", alias_row, &w);
}

static int my_block_put(struct store *s, const struct store_block *b)
{
	struct my *q = be(s);
	struct params p;
	int err = ready(q);

	if (err)
		return err;
	p_init(&p);
	p_str(&p, b->src);
	p_str(&p, b->user);
	p_int(&p, b->since);
	p_int(&p, b->until);
	p_str(&p, b->reason);
	return st_run(q, ST_BLOCK_PUT, &p, "save block", NULL);
}

static int my_block_del(struct store *s, const char *src, const char *user)
{
	struct my *q = be(s);
	struct params p;
	uint64_t n;
	int err = ready(q);

	if (err)
		return err;
	p_init(&p);
	p_str(&p, src);
	if (user)
		p_str(&p, user);
	err = st_run(q, user ? ST_BLOCK_DEL_ONE : ST_BLOCK_DEL_SRC, &p, "delete block", &n);
	return err ? err : n ? 0 : -ENOENT;
}

struct block_walk {
	store_block_fn fn;
	void *arg;
};

static int block_row(const struct row *r, void *arg)
{
	struct block_walk *w = arg;
	struct store_block b;

	memset(&b, 0, sizeof(b));
	r_copy(r, 0, b.src, sizeof(b.src), "src");
	r_copy(r, 1, b.user, sizeof(b.user), "username");
	b.since = r_int(r, 2);
	b.until = r_int(r, 3);
	r_copy(r, 4, b.reason, sizeof(b.reason), "reason");
	return w->fn(&b, w->arg);
}

static int my_block_list(struct store *s, store_block_fn fn, void *arg)
{
	struct my *q = be(s);
	struct block_walk w = { fn, arg };
	int err = ready(q);

	return err ? err : st_walk(q, ST_BLOCK_LIST, NULL, "list blocks", block_row, &w);
}

static int purge(struct store *s, enum stmt_id id, int64_t now, const char *what)
{
	struct my *q = be(s);
	struct params p;
	int err = ready(q);

	if (err)
		return err;
	p_init(&p);
	p_int(&p, now);
	return st_run(q, id, &p, what, NULL);
}

static int my_block_purge(struct store *s, int64_t now)
{
	return purge(s, ST_BLOCK_PURGE, now, "purge blocks");
}

struct user_walk {
	store_user_fn fn;
	void *arg;
};

static int user_row(const struct row *r, void *arg)
{
	struct user_walk *w = arg;
	struct store_cred c;

	/* The secret columns are not even selected: the walk can only see blanks. */
	memset(&c, 0, sizeof(c));
	r_copy(r, 0, c.username, sizeof(c.username), "username");
	r_copy(r, 1, c.domain, sizeof(c.domain), "domain");
	r_copy(r, 2, c.email, sizeof(c.email), "email_address");
	r_copy(r, 3, c.rpid, sizeof(c.rpid), "rpid");
	c.status = (int)r_int(r, 4);
	for (unsigned i = 0; i < STORE_HASH__COUNT; i++)
		c.hashes |= r_int(r, 5 + i) ? 1u << i : 0;
	c.min_algo = (int)r_int(r, 8);
	c.pin_algo = (int)r_int(r, 9);
	c.valid_until = r_int(r, 10);
	c.locked_until = r_int(r, 11);
	return w->fn(&c, w->arg);
}

static int my_user_list(struct store *s, const char *domain, store_user_fn fn, void *arg)
{
	struct my *q = be(s);
	struct user_walk w = { fn, arg };
	struct params p;
	int err = ready(q);

	if (err)
		return err;
	p_init(&p);
	if (domain)
		p_str(&p, domain);
	return st_walk(q, domain ? ST_USER_LIST_DOM : ST_USER_LIST_ALL, &p, "list users", user_row, &w);
}

static int my_loc_put(struct store *s, const struct store_contact *c)
{
	struct my *q = be(s);
	struct params p;
	int err = ready(q);

	if (err)
		return err;
	p_init(&p);
	p_str(&p, c->aor);
	p_str(&p, c->contact);
	p_str(&p, c->received);
	p_str(&p, c->call_id);
	p_int(&p, c->cseq);
	p_int(&p, c->expires);
	p_int(&p, c->q);
	p_str(&p, c->user_agent);
	return st_run(q, ST_LOC_PUT, &p, "save binding", NULL);
}

static int my_loc_del(struct store *s, const char *aor, const char *contact)
{
	struct my *q = be(s);
	struct params p;
	uint64_t n;
	int err = ready(q);

	if (err)
		return err;
	p_init(&p);
	p_str(&p, aor);
	if (contact)
		p_str(&p, contact);
	err = st_run(q, contact ? ST_LOC_DEL_ONE : ST_LOC_DEL_AOR, &p, "delete binding", &n);
	return err ? err : n ? 0 : -ENOENT;
}

struct loc_walk {
	store_contact_fn fn;
	void *arg;
};

static int loc_row(const struct row *r, void *arg)
{
	struct loc_walk *w = arg;
	struct store_contact c;

	memset(&c, 0, sizeof(c));
	r_copy(r, 0, c.aor, sizeof(c.aor), "aor");
	r_copy(r, 1, c.contact, sizeof(c.contact), "contact");
	if (!c.aor[0] || !c.contact[0])
		return 0;
	r_copy(r, 2, c.received, sizeof(c.received), "received");
	r_copy(r, 3, c.call_id, sizeof(c.call_id), "call_id");
	c.cseq = (uint32_t)r_int(r, 4);
	c.expires = r_int(r, 5);
	c.q = (int)r_int(r, 6);
	r_copy(r, 7, c.user_agent, sizeof(c.user_agent), "user_agent");
	return w->fn(&c, w->arg);
}

static int my_loc_load(struct store *s, int64_t now, store_contact_fn fn, void *arg)
{
	struct my *q = be(s);
	struct loc_walk w = { fn, arg };
	struct params p;
	int err = ready(q);

	if (err)
		return err;
	p_init(&p);
	p_int(&p, now);
	return st_walk(q, ST_LOC_LOAD, &p, "load bindings", loc_row, &w);
}

static int my_loc_purge(struct store *s, int64_t now)
{
	return purge(s, ST_LOC_PURGE, now, "purge bindings");
}

static int my_begin(struct store *s)
{
	struct my *q = be(s);
	int err;

	if (q->in_txn || q->txn_lost)
		return -EINVAL;
	err = ready(q);
	err = err ? err : exec_sql(q, "START TRANSACTION", "begin");
	if (!err) {
		q->in_txn = true;
		q->last_use_ms = base_mono_ms();
	}
	return err;
}

static int my_commit(struct store *s)
{
	struct my *q = be(s);
	int err;

	if (q->txn_lost) {
		q->txn_lost = false;
		return -EIO;
	}
	if (!q->in_txn)
		return -EINVAL;
	lib_ready();
	err = exec_sql(q, "COMMIT", "commit");
	if (q->txn_lost) {
		/* The connection failed: the transaction is gone with it. */
		q->txn_lost = false;
		return -EIO;
	}
	q->in_txn = false;
	return err;
}

static int my_rollback(struct store *s)
{
	struct my *q = be(s);
	int err;

	if (q->txn_lost) {
		q->txn_lost = false;
		return 0;
	}
	if (!q->in_txn)
		return 0;
	lib_ready();
	err = exec_sql(q, "ROLLBACK", "rollback");
	q->txn_lost = q->in_txn = false;
	return err;
}

#define MY_OPS(name, scheme_str, open_fn)                                                          \
	const struct store_ops name = {                                                            \
		.scheme = scheme_str,                                                              \
		.open = open_fn,                                                                   \
		.close = my_close,                                                                 \
		.set_busy_timeout = my_set_busy_timeout,                                           \
		.get_cred = my_get_cred,                                                           \
		.user_add = my_user_add,                                                           \
		.user_update = my_user_update,                                                     \
		.user_del = my_user_del,                                                           \
		.get_cred_uh = my_get_cred_uh,                                                     \
		.user_set_field = my_user_set_field,                                               \
		.user_raise_pin = my_user_raise_pin,                                               \
		.alias_add = my_alias_add,                                                         \
		.alias_del = my_alias_del,                                                         \
		.alias_check = my_alias_check,                                                     \
		.alias_list = my_alias_list,                                                       \
		.block_put = my_block_put,                                                         \
		.block_del = my_block_del,                                                         \
		.block_list = my_block_list,                                                       \
		.block_purge = my_block_purge,                                                     \
		.user_list = my_user_list,                                                         \
		.loc_put = my_loc_put,                                                             \
		.loc_del = my_loc_del,                                                             \
		.loc_load = my_loc_load,                                                           \
		.loc_purge = my_loc_purge,                                                         \
		.begin = my_begin,                                                                 \
		.commit = my_commit,                                                               \
		.rollback = my_rollback,                                                           \
	}

MY_OPS(store_mysql_ops, "mysql", my_open);
MY_OPS(store_mariadb_ops, "mariadb", mariadb_open);
