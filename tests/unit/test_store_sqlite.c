/* Store layer on its SQLite backend: users, status, listing, bindings,
 * transactions, Kamailio databases, broken and locked files, recovery. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "base/util.h"
#include "store/store.h"

#define HA1_A "0123456789abcdef0123456789abcdef"
#define HA1_B "fedcba9876543210fedcba9876543210"

struct fx {
	char dir[64];
	char path[128];
	char url[160];
	struct store *s;
};

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/sw-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	snprintf(f->url, sizeof(f->url), "sqlite:%s", f->path);
	*state = f;
	return 0;
}

static int setup_open(void **state)
{
	struct fx *f;

	setup(state);
	f = *state;
	assert_int_equal(store_open(&f->s, f->url), 0);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	chmod(f->dir, 0700);
	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Run SQL on a separate raw connection (the test's view of the file). */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static long long raw_int(const char *path, const char *sql)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	long long v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static int get(struct store *s, const char *user, const char *domain, struct store_cred *c)
{
	return store_get_cred(s, slice_cstr(user), slice_cstr(domain), c);
}

static void test_user_crud(void **state)
{
	struct fx *f = *state;
	struct store_user_secrets sec = { .ha1 = HA1_A, .ha1b = HA1_B };
	struct store_user_secrets pw = { .password = "s3cret" };
	struct store_cred c;

	assert_int_equal(store_user_add(f->s, "alice", "Example.COM", &sec), 0);
	assert_int_equal(store_user_add(f->s, "alice", "example.com", &sec), -EEXIST);
	assert_int_equal(store_user_add(f->s, "alice", "EXAMPLE.com", NULL), -EEXIST);
	assert_int_equal(store_user_add(f->s, "bob", "example.com", NULL), 0);

	/* Domain case-insensitive and stored lower-case, username exact. */
	assert_int_equal(get(f->s, "alice", "eXaMpLe.CoM", &c), 0);
	assert_string_equal(c.username, "alice");
	assert_string_equal(c.domain, "example.com");
	assert_string_equal(c.password, "");
	assert_string_equal(c.ha1, HA1_A);
	assert_string_equal(c.ha1b, HA1_B);
	assert_string_equal(c.rpid, "");
	assert_int_equal(c.status, 0);
	store_cred_wipe(&c);
	assert_string_equal(c.ha1, "");
	assert_int_equal(get(f->s, "Alice", "example.com", &c), -ENOENT);
	assert_int_equal(get(f->s, "carol", "example.com", &c), -ENOENT);
	assert_int_equal(get(f->s, "alice", "example.org", &c), -ENOENT);

	/* Update touches only the given columns. */
	assert_int_equal(store_user_update(f->s, "alice", "EXAMPLE.COM", &pw), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.password, "s3cret");
	assert_string_equal(c.ha1, HA1_A);
	store_cred_wipe(&c);
	assert_int_equal(store_user_update(f->s, "carol", "example.com", &pw), -ENOENT);

	assert_int_equal(store_user_del(f->s, "alice", "example.com"), 0);
	assert_int_equal(store_user_del(f->s, "alice", "example.com"), -ENOENT);
	assert_int_equal(get(f->s, "alice", "example.com", &c), -ENOENT);
	assert_int_equal(get(f->s, "bob", "example.com", &c), 0);
	store_cred_wipe(&c);
}

/* store_cred_wipe clears every secret field (cleartext password and each
 * HA1/HA1b) to its last byte, and leaves the non-secret ones. */
static void test_cred_wipe_clears_secrets(void **state)
{
	(void)state;
	static struct store_cred c;
	char *secrets[] = { c.password, c.ha1, c.ha1b, c.ha1_sha256, c.ha1b_sha256, c.ha1_sha512t256,
			    c.ha1b_sha512t256 };
	size_t sizes[] = { sizeof(c.password), sizeof(c.ha1), sizeof(c.ha1b), sizeof(c.ha1_sha256),
			   sizeof(c.ha1b_sha256), sizeof(c.ha1_sha512t256), sizeof(c.ha1b_sha512t256) };

	memset(&c, 'x', sizeof(c));
	store_cred_wipe(&c);
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		for (size_t j = 0; j < sizes[i]; j++)
			assert_int_equal(secrets[i][j], 0);
	assert_int_equal(c.username[0], 'x');
	assert_int_equal(c.rpid[0], 'x');
	store_cred_wipe(NULL);
}

static void test_bad_args(void **state)
{
	struct fx *f = *state;
	char longname[SW_MAX_USER + 2];
	char longpw[SW_MAX_PASSWORD + 2];
	struct store_user_secrets sec = { .password = longpw };
	struct store_cred c;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(longpw, 'p', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	assert_int_equal(store_user_add(f->s, longname, "example.com", NULL), -EINVAL);
	assert_int_equal(store_user_add(f->s, "", "example.com", NULL), -EINVAL);
	assert_int_equal(store_user_add(f->s, "alice", "example.com", &sec), -EINVAL);
	/* An over-long name from the network is simply unknown, not a fault. */
	assert_int_equal(get(f->s, longname, "example.com", &c), -ENOENT);
	assert_int_equal(get(f->s, "", "example.com", &c), -ENOENT);
	longname[SW_MAX_USER] = '\0';
	assert_int_equal(store_user_add(f->s, longname, "example.com", NULL), 0);
	assert_int_equal(get(f->s, longname, "example.com", &c), 0);
	store_cred_wipe(&c);
}

static void test_status(void **state)
{
	struct fx *f = *state;
	struct store_cred c;

	assert_int_equal(store_user_add(f->s, "alice", "example.com", NULL), 0);
	assert_int_equal(store_user_set_status(f->s, "alice", "EXAMPLE.com", 1), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_int_equal(c.status, 1);
	assert_int_equal(store_user_set_status(f->s, "alice", "example.com", 0), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_int_equal(c.status, 0);
	assert_int_equal(store_user_set_status(f->s, "nobody", "example.com", 1), -ENOENT);
}

struct seen {
	int n;
	int stop_at;
	char names[8][140];
	int status[8];
};

static int on_user(const struct store_cred *c, void *arg)
{
	struct seen *v = arg;

	/* Secrets never reach a listing. */
	assert_string_equal(c->password, "");
	assert_string_equal(c->ha1, "");
	assert_string_equal(c->ha1b, "");
	if (v->n < 8) {
		snprintf(v->names[v->n], sizeof(v->names[0]), "%s@%s", c->username, c->domain);
		v->status[v->n] = c->status;
	}
	v->n++;
	return v->n == v->stop_at ? 42 : 0;
}

struct nest {
	struct store *s;
	int inner, lookups;
};

/* Inside a walk: other calls work, the same walk again is refused. */
static int on_user_nested(const struct store_cred *c, void *arg)
{
	struct nest *n = arg;
	struct store_cred full;
	struct seen v = { 0 };

	n->inner = store_user_list(n->s, NULL, on_user, &v);
	if (store_get_cred(n->s, slice_cstr(c->username), slice_cstr(c->domain), &full) == 0 && full.ha1[0])
		n->lookups++;
	store_cred_wipe(&full);
	return 0;
}

static void test_list(void **state)
{
	struct fx *f = *state;
	struct store_user_secrets sec = { .password = "pw", .ha1 = HA1_A, .ha1b = HA1_B };
	struct seen v = { 0 };

	assert_int_equal(store_user_add(f->s, "bob", "example.com", &sec), 0);
	assert_int_equal(store_user_add(f->s, "alice", "example.com", &sec), 0);
	assert_int_equal(store_user_add(f->s, "carol", "example.org", &sec), 0);
	assert_int_equal(store_user_set_status(f->s, "bob", "example.com", 1), 0);

	assert_int_equal(store_user_list(f->s, NULL, on_user, &v), 0);
	assert_int_equal(v.n, 3);
	assert_string_equal(v.names[0], "alice@example.com");
	assert_string_equal(v.names[1], "bob@example.com");
	assert_string_equal(v.names[2], "carol@example.org");
	assert_int_equal(v.status[1], 1);

	memset(&v, 0, sizeof(v));
	assert_int_equal(store_user_list(f->s, "EXAMPLE.COM", on_user, &v), 0);
	assert_int_equal(v.n, 2);

	memset(&v, 0, sizeof(v));
	v.stop_at = 1;
	assert_int_equal(store_user_list(f->s, NULL, on_user, &v), 42);
	assert_int_equal(v.n, 1);
	/* The walk was reset: the next one starts over. */
	memset(&v, 0, sizeof(v));
	assert_int_equal(store_user_list(f->s, NULL, on_user, &v), 0);
	assert_int_equal(v.n, 3);

	struct nest n = { .s = f->s };
	assert_int_equal(store_user_list(f->s, NULL, on_user_nested, &n), 0);
	assert_int_equal(n.inner, -EINVAL);
	assert_int_equal(n.lookups, 3);
}

static void contact(struct store_contact *c, const char *aor, const char *uri, int64_t expires)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->aor, sizeof(c->aor), "%s", aor);
	snprintf(c->contact, sizeof(c->contact), "%s", uri);
	snprintf(c->received, sizeof(c->received), "udp:192.0.2.1:5060");
	snprintf(c->call_id, sizeof(c->call_id), "cid-1");
	snprintf(c->user_agent, sizeof(c->user_agent), "phone/1.0");
	c->cseq = 7;
	c->expires = expires;
	c->q = -1;
}

struct bindings {
	int n;
	struct store_contact last;
};

static int on_contact(const struct store_contact *c, void *arg)
{
	struct bindings *b = arg;

	b->n++;
	b->last = *c;
	return 0;
}

static void test_location(void **state)
{
	struct fx *f = *state;
	struct store_contact c;
	struct bindings b = { 0 };
	const int64_t now = 1700000000;

	contact(&c, "alice@example.com", "sip:alice@192.0.2.1:5060", now + 60);
	assert_int_equal(store_loc_put(f->s, &c), 0);
	contact(&c, "alice@example.com", "sip:alice@192.0.2.2:5060", now - 1);
	assert_int_equal(store_loc_put(f->s, &c), 0);
	contact(&c, "bob@example.com", "sip:bob@192.0.2.3:5060", now + 300);
	assert_int_equal(store_loc_put(f->s, &c), 0);

	/* Upsert on (aor, contact): a refresh replaces, never duplicates. */
	contact(&c, "alice@example.com", "sip:alice@192.0.2.1:5060", now + 3600);
	c.cseq = 8;
	c.q = 500;
	snprintf(c.call_id, sizeof(c.call_id), "cid-2");
	assert_int_equal(store_loc_put(f->s, &c), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM location"), 3);

	assert_int_equal(store_loc_load(f->s, now, on_contact, &b), 0);
	assert_int_equal(b.n, 2); /* the expired binding is not loaded */
	memset(&b, 0, sizeof(b));
	assert_int_equal(store_loc_load(f->s, now + 301, on_contact, &b), 0);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.last.aor, "alice@example.com");
	assert_string_equal(b.last.contact, "sip:alice@192.0.2.1:5060");
	assert_string_equal(b.last.received, "udp:192.0.2.1:5060");
	assert_string_equal(b.last.call_id, "cid-2");
	assert_string_equal(b.last.user_agent, "phone/1.0");
	assert_int_equal(b.last.cseq, 8);
	assert_int_equal(b.last.q, 500);
	assert_true(b.last.expires == now + 3600);

	assert_int_equal(store_loc_purge(f->s, now), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM location"), 2);

	assert_int_equal(store_loc_del(f->s, "bob@example.com", "sip:nobody@192.0.2.9"), -ENOENT);
	assert_int_equal(store_loc_del(f->s, "bob@example.com", "sip:bob@192.0.2.3:5060"), 0);
	assert_int_equal(store_loc_del(f->s, "bob@example.com", NULL), -ENOENT);
	contact(&c, "alice@example.com", "sip:alice@192.0.2.5:5060", now + 60);
	assert_int_equal(store_loc_put(f->s, &c), 0);
	assert_int_equal(store_loc_del(f->s, "alice@example.com", NULL), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM location"), 0);

	memset(&c, 0, sizeof(c));
	assert_int_equal(store_loc_put(f->s, &c), -EINVAL);
}

static void test_transaction(void **state)
{
	struct fx *f = *state;
	struct store_contact c;

	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_begin(f->s), -EINVAL);
	contact(&c, "alice@example.com", "sip:a@192.0.2.1", 2000000000);
	assert_int_equal(store_loc_put(f->s, &c), 0);
	assert_int_equal(store_rollback(f->s), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM location"), 0);

	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_loc_put(f->s, &c), 0);
	contact(&c, "alice@example.com", "sip:a@192.0.2.2", 2000000000);
	assert_int_equal(store_loc_put(f->s, &c), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM location"), 2);
	assert_int_equal(store_commit(f->s), -EINVAL);
}

/* Snapshot sharing: reads between two releases see one snapshot (a password
 * changed by another connection meanwhile is not seen), the release makes the
 * next read see it, any other call ends the snapshot first (a write on the
 * same store works and is seen), and a snapshot is given up after its time
 * bound even without a release. Without sharing every read sees the latest
 * commit. */
static void test_shared_snapshot(void **state)
{
	struct fx *f = *state;
	struct store_user_secrets a = { .ha1 = HA1_A }, b = { .ha1 = HA1_B };
	struct store *other;
	struct store_cred c;

	assert_int_equal(store_user_add(f->s, "alice", "example.com", &a), 0);
	assert_int_equal(store_user_add(f->s, "bob", "example.com", &a), 0);
	assert_int_equal(store_open(&other, f->url), 0);

	store_share_snapshot(f->s, true);
	assert_int_equal(get(f->s, "bob", "example.com", &c), 0);
	assert_int_equal(store_user_update(other, "alice", "example.com", &b), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.ha1, HA1_A); /* the snapshot of the first read */
	store_release_snapshot(f->s);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.ha1, HA1_B);

	/* A write on the sharing store ends its snapshot first. */
	assert_int_equal(store_user_update(f->s, "alice", "example.com", &a), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.ha1, HA1_A);

	/* The time bound: a snapshot older than 5 ms is not used again. */
	assert_int_equal(store_user_update(other, "alice", "example.com", &b), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.ha1, HA1_A);
	nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.ha1, HA1_B);

	/* Sharing off: every read sees the latest commit. */
	store_share_snapshot(f->s, false);
	assert_int_equal(get(f->s, "bob", "example.com", &c), 0);
	assert_int_equal(store_user_update(other, "alice", "example.com", &a), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.ha1, HA1_A);
	store_cred_wipe(&c);
	store_close(other);
}

/* The subscriber table as the Kamailio book documents it (seed 001), in SQLite
 * syntax, without `status`. */
static void test_kamailio_db(void **state)
{
	struct fx *f = *state;
	struct store_cred c;

	raw_exec(f->path, "CREATE TABLE subscriber ("
			  " id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,"
			  " username VARCHAR(64) DEFAULT '' NOT NULL,"
			  " domain VARCHAR(64) DEFAULT '' NOT NULL,"
			  " password VARCHAR(25) DEFAULT '' NOT NULL,"
			  " email_address VARCHAR(64) DEFAULT '' NOT NULL,"
			  " ha1 VARCHAR(64) DEFAULT '' NOT NULL,"
			  " ha1b VARCHAR(64) DEFAULT '' NOT NULL,"
			  " rpid VARCHAR(64) DEFAULT NULL,"
			  " CONSTRAINT account_idx UNIQUE (username, domain));"
			  "INSERT INTO subscriber (username, domain, password, email_address, ha1, ha1b, rpid)"
			  " VALUES ('alice', 'Example.com', 'pw', 'alice@example.com', '" HA1_A "', '" HA1_B
			  "', 'sip:+33100@example.com');");
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM pragma_table_info('subscriber')"
					  " WHERE name = 'status'"), 0);
	assert_int_equal(store_open(&f->s, f->url), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM pragma_table_info('subscriber')"
					  " WHERE name = 'status'"), 1);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.password, "pw");
	assert_string_equal(c.ha1, HA1_A);
	assert_string_equal(c.ha1b, HA1_B);
	assert_string_equal(c.email, "alice@example.com");
	assert_string_equal(c.rpid, "sip:+33100@example.com");
	assert_int_equal(c.status, 0);
	store_cred_wipe(&c);
	/* Same account in another case is the same account. */
	assert_int_equal(store_user_add(f->s, "alice", "example.com", NULL), -EEXIST);
	store_close(f->s);
	/* Reopening finds nothing to migrate. */
	assert_int_equal(store_open(&f->s, f->url), 0);
	assert_int_equal(store_user_set_status(f->s, "alice", "example.com", 1), 0);
	assert_int_equal(raw_int(f->path, "SELECT status FROM subscriber WHERE username = 'alice'"), 1);
}

/* Kamailio 5's SQLite schema: no email_address/rpid, and its own `location`. */
static void test_kamailio5_db(void **state)
{
	struct fx *f = *state;
	struct store_contact c;
	struct bindings b = { 0 };
	struct seen v = { 0 };
	struct store_cred cred;

	raw_exec(f->path, "CREATE TABLE subscriber (id INTEGER PRIMARY KEY NOT NULL,"
			  " username VARCHAR(64) DEFAULT '' NOT NULL, domain VARCHAR(64) DEFAULT '' NOT NULL,"
			  " password VARCHAR(64) DEFAULT '' NOT NULL, ha1 VARCHAR(128) DEFAULT '' NOT NULL,"
			  " ha1b VARCHAR(128) DEFAULT '' NOT NULL,"
			  " CONSTRAINT subscriber_account_idx UNIQUE (username, domain));"
			  "CREATE INDEX subscriber_username_idx ON subscriber (username);"
			  "CREATE TABLE location (id INTEGER PRIMARY KEY NOT NULL, ruid VARCHAR(64) DEFAULT ''"
			  " NOT NULL, username VARCHAR(64) DEFAULT '' NOT NULL, domain VARCHAR(64) DEFAULT NULL,"
			  " contact VARCHAR(512) DEFAULT '' NOT NULL, expires TIMESTAMP WITHOUT TIME ZONE"
			  " DEFAULT '2030-05-28 21:32:15' NOT NULL);"
			  "CREATE INDEX location_expires_idx ON location (expires);"
			  "INSERT INTO subscriber (username, domain, ha1) VALUES ('bob', 'example.net', '" HA1_A
			  "');");
	assert_int_equal(store_open(&f->s, f->url), 0);
	assert_int_equal(get(f->s, "bob", "example.net", &cred), 0);
	assert_string_equal(cred.ha1, HA1_A);
	assert_string_equal(cred.email, "");
	store_cred_wipe(&cred);
	assert_int_equal(store_user_list(f->s, NULL, on_user, &v), 0);
	assert_int_equal(v.n, 1);
	contact(&c, "bob@example.net", "sip:bob@192.0.2.7", 2000000000);
	assert_int_equal(store_loc_put(f->s, &c), 0);
	assert_int_equal(store_loc_load(f->s, 1700000000, on_contact, &b), 0);
	assert_int_equal(b.n, 1);
	/* Kamailio's table is left alone. */
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM location"), 0);
	assert_int_equal(raw_int(f->path, "SELECT COUNT(*) FROM pragma_table_info('location')"), 6);
}

static void test_bad_urls(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	char url[200];

	assert_int_equal(store_open(&s, "mysql://localhost/db"), -EINVAL);
	assert_int_equal(store_open(&s, "sqlite:"), -EINVAL);
	assert_int_equal(store_open(&s, "sipwarden.db"), -EINVAL);
	assert_int_equal(store_open(&s, ":x"), -EINVAL);
	assert_null(s);
	snprintf(url, sizeof(url), "sqlite:%s/missing-dir/x.db", f->dir);
	assert_int_equal(store_open(&s, url), -EIO);
	assert_null(s);
}

static void test_not_a_database(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	for (int i = 0; i < 256; i++)
		fputs("this is not an SQLite database, just text. ", fp);
	fclose(fp);
	assert_int_equal(store_open(&s, f->url), -EIO);
	assert_null(s);
}

/* Open a read-only database file; as root (which ignores modes) the open runs
 * in a child that dropped to nobody. Returns store_open's result. */
static int open_read_only(struct fx *f)
{
	struct store *s = NULL;
	pid_t pid;
	int st, err;

	if (geteuid() != 0) {
		err = store_open(&s, f->url);
		store_close(s);
		return err;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(100);
		err = store_open(&s, f->url);
		store_close(s);
		_exit(err == -EIO ? 0 : err == 0 ? 1 : 2);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 100)
		return -EPERM;
	return WEXITSTATUS(st) == 0 ? -EIO : WEXITSTATUS(st) == 1 ? 0 : -EINVAL;
}

static void test_read_only(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	int err;

	assert_int_equal(store_open(&s, f->url), 0);
	assert_int_equal(store_user_add(s, "alice", "example.com", NULL), 0);
	store_close(s);
	assert_int_equal(chmod(f->path, 0444), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);
	err = open_read_only(f);
	if (err == -EPERM)
		skip();
	assert_int_equal(err, -EIO);
}

static void test_busy(void **state)
{
	struct fx *f = *state;
	struct store_cred c;
	sqlite3 *db;
	uint64_t t0, dt;

	assert_int_equal(store_user_add(f->s, "alice", "example.com", NULL), 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	t0 = base_mono_ms();
	assert_int_equal(store_user_add(f->s, "bob", "example.com", NULL), -EAGAIN);
	dt = base_mono_ms() - t0;
	assert_true(dt >= 150 && dt < 1500);
	/* WAL: readers are not blocked by the writer. */
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	/* A shorter timeout is honoured. */
	assert_int_equal(store_set_busy_timeout(f->s, 20), 0);
	t0 = base_mono_ms();
	assert_int_equal(store_user_set_status(f->s, "alice", "example.com", 1), -EAGAIN);
	assert_true(base_mono_ms() - t0 < 150);
	assert_int_equal(store_begin(f->s), -EAGAIN);

	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_user_add(f->s, "bob", "example.com", NULL), 0);
}

static void rename_db(const char *from, const char *to)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char a[160], b[160];

	for (size_t i = 0; i < 3; i++) {
		snprintf(a, sizeof(a), "%s%s", from, sfx[i]);
		snprintf(b, sizeof(b), "%s%s", to, sfx[i]);
		if (rename(a, b) && errno != ENOENT)
			fail_msg("rename %s: %s", a, strerror(errno));
	}
}

/* The file goes away and comes back: calls fail with -EIO meanwhile (no empty
 * database is created in its place), then work again without a reopen. */
static void test_recovery(void **state)
{
	struct fx *f = *state;
	struct timespec pause = { 1, 150 * 1000 * 1000 };
	struct store_cred c;
	char moved[160];

	snprintf(moved, sizeof(moved), "%s.moved", f->path);
	assert_int_equal(store_user_add(f->s, "alice", "example.com", NULL), 0);
	rename_db(f->path, moved);
	nanosleep(&pause, NULL);
	assert_int_equal(get(f->s, "alice", "example.com", &c), -EIO);
	assert_int_equal(get(f->s, "alice", "example.com", &c), -EIO);
	assert_int_equal(store_user_add(f->s, "bob", "example.com", NULL), -EIO);
	assert_int_equal(access(f->path, F_OK), -1);
	rename_db(moved, f->path);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_int_equal(store_user_add(f->s, "bob", "example.com", NULL), 0);
}

/* Extra columns come with the credentials, by name or by userhash, as text
 * (NULL as ""); an over-long value is flagged unusable, never cut; the user
 * walk does not need them. */
static void test_extra_columns(void **state)
{
	struct fx *f = *state;
	const char *cols[] = { "status", "rpid", "plan", "Note" };
	char big[STORE_EXTRA_VALUE_MAX + 40];
	struct store_cred c;
	char sql[512];

	assert_int_equal(store_user_add(f->s, "alice", "example.com", NULL), 0);
	assert_int_equal(store_user_add(f->s, "bob", "example.com", NULL), 0);
	store_close(f->s);
	f->s = NULL;
	raw_exec(f->path, "ALTER TABLE subscriber ADD COLUMN plan VARCHAR(32) DEFAULT NULL;"
			  "ALTER TABLE subscriber ADD COLUMN note TEXT NOT NULL DEFAULT '';"
			  "UPDATE subscriber SET plan = 'gold', rpid = 'sip:+331@example.com', status = 0"
			  " WHERE username = 'alice'");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(sql, sizeof(sql), "UPDATE subscriber SET note = '%s', status = 7 WHERE username = 'bob'", big);
	raw_exec(f->path, sql);

	assert_int_equal(store_extra_columns_set(cols, 4), 0);
	assert_int_equal(store_open(&f->s, f->url), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.extra[0], "0");
	assert_string_equal(c.extra[1], "sip:+331@example.com");
	assert_string_equal(c.extra[2], "gold");
	assert_string_equal(c.extra[3], "");
	assert_int_equal(c.extra_unusable, 0);
	store_cred_wipe(&c);
	assert_int_equal(get(f->s, "bob", "example.com", &c), 0);
	assert_string_equal(c.extra[0], "7");
	assert_string_equal(c.extra[2], ""); /* NULL */
	assert_string_equal(c.extra[3], "");
	assert_int_equal(c.extra_unusable, 1u << 3);
	store_cred_wipe(&c);
	/* A value holding a NUL byte is unusable, never read as the shorter
	 * string before it (a password "a\0bcd" must not accept "a"). */
	store_close(f->s);
	f->s = NULL;
	raw_exec(f->path, "INSERT INTO subscriber (username, domain, password, ha1, plan) VALUES ('carl',"
			  " 'example.com', CAST(X'6100626364' AS TEXT), CAST(X'30003132' AS TEXT),"
			  " CAST(X'676f6c640078' AS TEXT))");
	assert_int_equal(store_open(&f->s, f->url), 0);
	assert_int_equal(get(f->s, "carl", "example.com", &c), 0);
	assert_string_equal(c.password, "");
	assert_string_equal(c.ha1, "");
	assert_int_equal(c.hashes & (1u << STORE_HASH_MD5), 0);
	assert_string_equal(c.extra[2], "");
	assert_int_equal(c.extra_unusable, 1u << 2);
	store_cred_wipe(&c);
	/* the same columns through the userhash statement (MD5 of "alice:example.com") */
	assert_int_equal(store_get_cred_by_userhash(f->s, STORE_HASH_MD5,
						    slice_cstr("e714bf7dde243fc2061a4e3d877edc0d"),
						    slice_cstr("example.com"), &c), 0);
	assert_string_equal(c.username, "alice");
	assert_string_equal(c.extra[2], "gold");
	store_cred_wipe(&c);

	/* an unknown user costs a (decoy) row read, but nothing of it reaches the caller */
	{
		static const struct store_cred zero;

		memset(&c, 0x5a, sizeof(c));
		assert_int_equal(get(f->s, "carol", "example.com", &c), -ENOENT);
		assert_memory_equal(&c, &zero, sizeof(c));
	}
	store_close(f->s);
	f->s = NULL;

	/* no extra columns: nothing is read */
	assert_int_equal(store_extra_columns_set(NULL, 0), 0);
	assert_int_equal(store_open(&f->s, f->url), 0);
	assert_int_equal(get(f->s, "alice", "example.com", &c), 0);
	assert_string_equal(c.extra[2], "");
	store_cred_wipe(&c);
}

/* A column missing from the table refuses the open (a start-up error, not a
 * per-request one); bad names and too many are refused when set. */
static void test_extra_columns_checked(void **state)
{
	struct fx *f = *state;
	const char *missing[] = { "rpid", "no_such_col" };
	const char *nine[] = { "a", "b", "c", "d", "e", "f", "g", "h", "i" };
	const char *twice[] = { "plan", "PLAN" };
	const char *bad[][1] = { { "ha1" }, { "HA1_sha256" }, { "password" }, { "1abc" }, { "a-b" },
				 { "a b" }, { "x;DROP" }, { "" }, { "abcdefghijabcdefghijabcdefghijabc" } };

	assert_int_equal(store_extra_columns_set(missing, 2), 0);
	assert_int_equal(store_open(&f->s, f->url), -EINVAL);
	assert_null(f->s);
	assert_int_equal(store_extra_columns_set(nine, 9), -E2BIG);
	assert_int_equal(store_extra_columns_set(twice, 2), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_extra_columns_set(bad[i], 1), -EINVAL);
	/* a refused set leaves the previous one in place */
	assert_int_equal(store_open(&f->s, f->url), -EINVAL);
	assert_true(store_column_name_ok("abcdefghijabcdefghijabcdefghijab"));
	assert_int_equal(store_extra_columns_set(NULL, 0), 0);
	assert_int_equal(store_open(&f->s, f->url), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_user_crud, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_bad_args, setup_open, teardown),
		cmocka_unit_test(test_cred_wipe_clears_secrets),
		cmocka_unit_test_setup_teardown(test_status, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_location, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_transaction, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_shared_snapshot, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_kamailio_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kamailio5_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_recovery, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_extra_columns, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_extra_columns_checked, setup, teardown),
	};

	log_set_level(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
