/* Store layer on its MariaDB/MySQL backend. Without a server: URL parsing
 * (bad URLs refused, a closed port is -EIO). With one (SW_TEST_MYSQL_URL for
 * the store, SW_TEST_MYSQL_SOCKET and SW_TEST_MYSQL_DB for a root connection
 * that resets the tables; tests/e2e/test_store_mysql.py starts a private
 * server and runs this binary against it): users, exact usernames,
 * case-insensitive domains, listing with nested calls, bindings upsert,
 * transactions, aliases, blocks, userhash lookups, extra columns, an
 * existing Kamailio latin1 database (names it cannot hold are unknown users,
 * not a lost connection), values holding a NUL byte, and a connection broken
 * inside a transaction closed at once. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <mysql.h>

#include "base/util.h"
#include "store/store.h"

#define HA1_A "0123456789abcdef0123456789abcdef"
#define HA1_B "fedcba9876543210fedcba9876543210"

static const char *url(void)
{
	return getenv("SW_TEST_MYSQL_URL");
}

/* A root connection over the server's socket, to the test database. */
static MYSQL *raw(void)
{
	MYSQL *db = mysql_init(NULL);

	assert_non_null(db);
	assert_non_null(mysql_real_connect(db, NULL, "root", NULL, getenv("SW_TEST_MYSQL_DB"), 0,
					   getenv("SW_TEST_MYSQL_SOCKET"), 0));
	return db;
}

static void raw_exec(const char *sql)
{
	MYSQL *db = raw();

	if (mysql_query(db, sql))
		fail_msg("%s: %s", sql, mysql_error(db));
	mysql_close(db);
}

static long long raw_int(const char *sql)
{
	MYSQL *db = raw();
	MYSQL_RES *r;
	MYSQL_ROW row;
	long long v = -1;

	if (mysql_query(db, sql))
		fail_msg("%s: %s", sql, mysql_error(db));
	r = mysql_store_result(db);
	assert_non_null(r);
	row = mysql_fetch_row(r);
	if (row && row[0])
		v = strtoll(row[0], NULL, 10);
	mysql_free_result(r);
	mysql_close(db);
	return v;
}

static void reset_tables(void)
{
	raw_exec("DROP TABLE IF EXISTS subscriber, location, sw_location, sw_alias, sw_blocks");
}

static int setup(void **state)
{
	*state = NULL;
	if (!url())
		return 0;
	store_extra_columns_set(NULL, 0);
	reset_tables();
	return 0;
}

static int setup_open(void **state)
{
	struct store *s = NULL;

	setup(state);
	if (url())
		assert_int_equal(store_open(&s, url()), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	store_close(*state);
	store_extra_columns_set(NULL, 0);
	return 0;
}

#define NEED_SERVER()                                                                              \
	do {                                                                                       \
		if (!url())                                                                        \
			skip();                                                                    \
	} while (0)

static int get(struct store *s, const char *user, const char *domain, struct store_cred *c)
{
	return store_get_cred(s, slice_cstr(user), slice_cstr(domain), c);
}

static void test_bad_urls(void **state)
{
	static const char *const bad[] = {
		"mysql:",
		"mysql:host/db",
		"mysql://127.0.0.1:1/db",          /* no user */
		"mysql://:pw@127.0.0.1:1/db",      /* empty user */
		"mysql://u:pw@127.0.0.1:1",        /* no database */
		"mysql://u:pw@127.0.0.1:1/",       /* empty database */
		"mysql://u:pw@127.0.0.1:0/db",
		"mysql://u:pw@127.0.0.1:65536/db",
		"mysql://u:pw@127.0.0.1:x/db",
		"mysql://u:pw@127.0.0.1:/db",
		"mysql://u:p%zz@127.0.0.1:1/db",   /* bad escape */
		"mysql://u:p%0@127.0.0.1:1/db",
		"mysql://u:p%00w@127.0.0.1:1/db",  /* encoded NUL */
		"mysql://u:pw@[::1/db",
		"mysql://u:pw@h o st:1/db",
		"mysql://u:pw@127.0.0.1:1/db?nosuch=1",
		"mysql://u:pw@127.0.0.1:1/db?timeout=0",
		"mysql://u:pw@127.0.0.1:1/db?connect_timeout=abc",
		"mysql://u:pw@127.0.0.1:1/db?socket",
		"mysql://u:pw@127.0.0.1:1/db#frag",
		"mysql://u:pw@/db",                /* no host and no socket */
	};
	struct store *s = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = store_open(&s, bad[i]);

		if (err != -EINVAL)
			fail_msg("%s: %d, expected -EINVAL", bad[i], err);
		assert_null(s);
	}
	/* Well-formed, nothing listening: the connection fails, quickly. */
	assert_int_equal(store_open(&s, "mysql://u:p%40ss@127.0.0.1:1/db"), -EIO);
	assert_int_equal(store_open(&s, "mariadb://u@127.0.0.1:1/db?connect_timeout=1&timeout=1"), -EIO);
	assert_int_equal(store_open(&s, "mysql://u:pw@[::1]:1/db"), -EIO);
	assert_int_equal(store_open(&s, "mysql://u:pw@/db?socket=%2Fnonexistent%2Fsock"), -EIO);
}

static void test_user_crud(void **state)
{
	struct store *s = *state;
	struct store_user_secrets sec = { .ha1 = HA1_A, .ha1b = HA1_B };
	struct store_user_secrets pw = { .password = "s3cret" };
	struct store_cred c;

	NEED_SERVER();
	assert_int_equal(store_user_add(s, "alice", "Example.COM", &sec), 0);
	assert_int_equal(store_user_add(s, "alice", "example.com", &sec), -EEXIST);
	assert_int_equal(store_user_add(s, "alice", "EXAMPLE.com", NULL), -EEXIST);
	assert_int_equal(store_user_add(s, "bob", "example.com", NULL), 0);
	/* Usernames are exact: another case is another account. */
	assert_int_equal(store_user_add(s, "Bob", "example.com", NULL), 0);

	assert_int_equal(get(s, "alice", "eXaMpLe.CoM", &c), 0);
	assert_string_equal(c.username, "alice");
	assert_string_equal(c.domain, "example.com");
	assert_string_equal(c.password, "");
	assert_string_equal(c.ha1, HA1_A);
	assert_string_equal(c.ha1b, HA1_B);
	assert_string_equal(c.rpid, "");
	assert_int_equal(c.status, 0);
	assert_int_equal(c.min_algo, -1);
	assert_int_equal(c.pin_algo, -1);
	assert_int_equal(c.hashes, 1u << STORE_HASH_MD5);
	store_cred_wipe(&c);
	assert_int_equal(get(s, "Alice", "example.com", &c), -ENOENT);
	assert_int_equal(get(s, "alice ", "example.com", &c), -ENOENT);
	assert_int_equal(get(s, "carol", "example.com", &c), -ENOENT);
	assert_int_equal(get(s, "alice", "example.org", &c), -ENOENT);
	/* Bytes that are not UTF-8 are an unknown user, not a fault. */
	assert_int_equal(get(s, "al\xff\xfe", "example.com", &c), -ENOENT);
	assert_int_equal(get(s, "x' OR '1'='1", "example.com", &c), -ENOENT);
	for (size_t i = 0; i < sizeof(c); i++)
		assert_int_equal(((unsigned char *)&c)[i], 0);

	assert_int_equal(store_user_update(s, "alice", "EXAMPLE.COM", &pw), 0);
	/* Same values again: the row still counts as found. */
	assert_int_equal(store_user_update(s, "alice", "EXAMPLE.COM", &pw), 0);
	assert_int_equal(get(s, "alice", "example.com", &c), 0);
	assert_string_equal(c.password, "s3cret");
	assert_string_equal(c.ha1, HA1_A);
	store_cred_wipe(&c);
	assert_int_equal(store_user_update(s, "carol", "example.com", &pw), -ENOENT);

	assert_int_equal(store_user_del(s, "alice", "example.com"), 0);
	assert_int_equal(store_user_del(s, "alice", "example.com"), -ENOENT);
	assert_int_equal(get(s, "alice", "example.com", &c), -ENOENT);
	assert_int_equal(get(s, "bob", "example.com", &c), 0);
	store_cred_wipe(&c);
}

static void test_fields(void **state)
{
	struct store *s = *state;
	struct store_cred c;

	NEED_SERVER();
	assert_int_equal(store_user_add(s, "alice", "example.com", NULL), 0);
	assert_int_equal(store_user_set_status(s, "alice", "EXAMPLE.com", 1), 0);
	assert_int_equal(store_user_set_status(s, "alice", "EXAMPLE.com", 1), 0);
	assert_int_equal(store_user_set_field(s, "alice", "example.com", STORE_FIELD_MIN_ALGO, 1), 0);
	assert_int_equal(store_user_set_field(s, "alice", "example.com", STORE_FIELD_VALID_UNTIL, 4102444800LL), 0);
	assert_int_equal(store_user_set_field(s, "alice", "example.com", STORE_FIELD_LOCKED_UNTIL, 1700000000), 0);
	assert_int_equal(store_user_set_status(s, "carol", "example.com", 1), -ENOENT);
	assert_int_equal(store_user_raise_pin(s, "alice", "example.com", 1), 0);
	assert_int_equal(store_user_raise_pin(s, "alice", "example.com", 0), 0); /* never lowers */
	assert_int_equal(get(s, "alice", "example.com", &c), 0);
	assert_int_equal(c.status, 1);
	assert_int_equal(c.min_algo, 1);
	assert_int_equal(c.pin_algo, 1);
	assert_true(c.valid_until == 4102444800LL);
	assert_true(c.locked_until == 1700000000);
	store_cred_wipe(&c);
	assert_int_equal(store_user_set_field(s, "alice", "example.com", STORE_FIELD_PIN, -1), 0);
	assert_int_equal(get(s, "alice", "example.com", &c), 0);
	assert_int_equal(c.pin_algo, -1);
	store_cred_wipe(&c);
}

struct seen {
	int n, stop_at;
	char names[8][140];
	int status[8];
};

static int on_user(const struct store_cred *c, void *arg)
{
	struct seen *v = arg;

	assert_string_equal(c->ha1, "");
	assert_string_equal(c->password, "");
	if (v->n < 8) {
		snprintf(v->names[v->n], sizeof(v->names[0]), "%s@%s", c->username, c->domain);
		v->status[v->n] = c->status;
	}
	v->n++;
	return v->stop_at && v->n >= v->stop_at ? 42 : 0;
}

struct nest {
	struct store *s;
	int inner, lookups;
};

static int nop_user(const struct store_cred *c, void *arg)
{
	(void)c;
	(void)arg;
	return 0;
}

/* Other calls inside a walk work; the same walk again is refused. */
static int on_user_nested(const struct store_cred *c, void *arg)
{
	struct nest *n = arg;
	struct store_cred got;

	n->inner = store_user_list(n->s, NULL, nop_user, NULL);
	if (get(n->s, c->username, c->domain, &got) == 0)
		n->lookups++;
	store_cred_wipe(&got);
	return 0;
}

static void test_list(void **state)
{
	struct store *s = *state;
	struct store_user_secrets sec = { .password = "pw", .ha1 = HA1_A, .ha1b = HA1_B };
	struct seen v = { 0 };
	struct nest n = { .s = s };

	NEED_SERVER();
	assert_int_equal(store_user_add(s, "bob", "example.com", &sec), 0);
	assert_int_equal(store_user_add(s, "alice", "example.com", &sec), 0);
	assert_int_equal(store_user_add(s, "carol", "example.org", &sec), 0);
	assert_int_equal(store_user_set_status(s, "bob", "example.com", 1), 0);

	assert_int_equal(store_user_list(s, NULL, on_user, &v), 0);
	assert_int_equal(v.n, 3);
	assert_string_equal(v.names[0], "alice@example.com");
	assert_string_equal(v.names[1], "bob@example.com");
	assert_string_equal(v.names[2], "carol@example.org");
	assert_int_equal(v.status[1], 1);

	memset(&v, 0, sizeof(v));
	assert_int_equal(store_user_list(s, "EXAMPLE.COM", on_user, &v), 0);
	assert_int_equal(v.n, 2);

	memset(&v, 0, sizeof(v));
	v.stop_at = 1;
	assert_int_equal(store_user_list(s, NULL, on_user, &v), 42);
	assert_int_equal(v.n, 1);
	memset(&v, 0, sizeof(v));
	assert_int_equal(store_user_list(s, NULL, on_user, &v), 0);
	assert_int_equal(v.n, 3);

	assert_int_equal(store_user_list(s, NULL, on_user_nested, &n), 0);
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
	snprintf(c->user_agent, sizeof(c->user_agent), "phone/1.0 \xff\xfe");
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
	struct store *s = *state;
	struct store_contact c;
	struct bindings b = { 0 };
	const int64_t now = 1700000000;

	NEED_SERVER();
	contact(&c, "alice@example.com", "sip:alice@192.0.2.1:5060", now + 60);
	assert_int_equal(store_loc_put(s, &c), 0);
	contact(&c, "alice@example.com", "sip:alice@192.0.2.2:5060", now - 1);
	assert_int_equal(store_loc_put(s, &c), 0);
	contact(&c, "bob@example.com", "sip:bob@192.0.2.3:5060", now + 300);
	assert_int_equal(store_loc_put(s, &c), 0);

	/* Upsert on (aor, contact): a refresh replaces, never duplicates. */
	contact(&c, "alice@example.com", "sip:alice@192.0.2.1:5060", now + 3600);
	c.cseq = 8;
	c.q = 500;
	snprintf(c.call_id, sizeof(c.call_id), "cid-2");
	assert_int_equal(store_loc_put(s, &c), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM location"), 3);

	assert_int_equal(store_loc_load(s, now, on_contact, &b), 0);
	assert_int_equal(b.n, 2);
	memset(&b, 0, sizeof(b));
	assert_int_equal(store_loc_load(s, now + 301, on_contact, &b), 0);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.last.aor, "alice@example.com");
	assert_string_equal(b.last.contact, "sip:alice@192.0.2.1:5060");
	assert_string_equal(b.last.received, "udp:192.0.2.1:5060");
	assert_string_equal(b.last.call_id, "cid-2");
	assert_string_equal(b.last.user_agent, "phone/1.0 \xff\xfe"); /* bytes kept as they came */
	assert_int_equal(b.last.cseq, 8);
	assert_int_equal(b.last.q, 500);
	assert_true(b.last.expires == now + 3600);

	assert_int_equal(store_loc_purge(s, now), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM location"), 2);

	assert_int_equal(store_loc_del(s, "bob@example.com", "sip:nobody@192.0.2.9"), -ENOENT);
	assert_int_equal(store_loc_del(s, "bob@example.com", "sip:bob@192.0.2.3:5060"), 0);
	assert_int_equal(store_loc_del(s, "bob@example.com", NULL), -ENOENT);
	contact(&c, "alice@example.com", "sip:alice@192.0.2.5:5060", now + 60);
	assert_int_equal(store_loc_put(s, &c), 0);
	assert_int_equal(store_loc_del(s, "alice@example.com", NULL), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM location"), 0);
}

static void test_transaction(void **state)
{
	struct store *s = *state;
	struct store_contact c;

	NEED_SERVER();
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_begin(s), -EINVAL);
	contact(&c, "alice@example.com", "sip:a@192.0.2.1", 2000000000);
	assert_int_equal(store_loc_put(s, &c), 0);
	assert_int_equal(store_rollback(s), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM location"), 0);

	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_loc_put(s, &c), 0);
	contact(&c, "alice@example.com", "sip:a@192.0.2.2", 2000000000);
	assert_int_equal(store_loc_put(s, &c), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM location"), 0); /* not visible before commit */
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM location"), 2);
	assert_int_equal(store_commit(s), -EINVAL);
	assert_int_equal(store_rollback(s), 0);
}

static int on_alias(const char *u, const char *d, const char *au, const char *ad, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%s@%s=%s@%s;", u, d, au, ad);
	return 0;
}

static int on_block(const struct store_block *b, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 256 - strlen(out), "%s/%s/%lld/%lld/%s;", b->src, b->user, (long long)b->since,
		 (long long)b->until, b->reason);
	return 0;
}

static void test_alias_block(void **state)
{
	struct store *s = *state;
	struct store_block b = { .src = "192.0.2.7", .user = "alice", .since = 100, .until = 200, .reason = "auth" };
	char out[256] = "";

	NEED_SERVER();
	assert_int_equal(store_alias_add(s, "alice", "Example.com", "sales", "EXAMPLE.com"), 0);
	assert_int_equal(store_alias_add(s, "alice", "example.com", "sales", "example.com"), -EEXIST);
	assert_int_equal(store_alias_check(s, slice_cstr("alice"), slice_cstr("EXAMPLE.COM"), slice_cstr("sales"),
					   slice_cstr("example.com")),
			 0);
	assert_int_equal(store_alias_check(s, slice_cstr("Alice"), slice_cstr("example.com"), slice_cstr("sales"),
					   slice_cstr("example.com")),
			 -ENOENT);
	assert_int_equal(store_alias_check(s, slice_cstr("alice"), slice_cstr("example.com"), slice_cstr("sales "),
					   slice_cstr("example.com")),
			 -ENOENT);
	assert_int_equal(store_alias_list(s, on_alias, out), 0);
	assert_string_equal(out, "alice@example.com=sales@example.com;");
	assert_int_equal(store_alias_del(s, "alice", "example.com", "sales", "example.com"), 0);
	assert_int_equal(store_alias_del(s, "alice", "example.com", "sales", "example.com"), -ENOENT);

	assert_int_equal(store_block_put(s, &b), 0);
	b.until = 300;
	assert_int_equal(store_block_put(s, &b), 0); /* upsert */
	snprintf(b.user, sizeof(b.user), "%s", "");
	b.until = 150;
	assert_int_equal(store_block_put(s, &b), 0);
	out[0] = '\0';
	assert_int_equal(store_block_list(s, on_block, out), 0);
	assert_string_equal(out, "192.0.2.7//100/150/auth;192.0.2.7/alice/100/300/auth;");
	assert_int_equal(store_block_purge(s, 150), 0);
	assert_int_equal(store_block_del(s, "192.0.2.7", "bob"), -ENOENT);
	assert_int_equal(store_block_del(s, "192.0.2.7", NULL), 0);
	assert_int_equal(store_block_del(s, "192.0.2.7", NULL), -ENOENT);
}

static void test_userhash(void **state)
{
	struct store *s = *state;
	struct store_cred c;
	char want[80];

	NEED_SERVER();
	assert_int_equal(store_user_add(s, "alice", "Example.com", NULL), 0);
	/* Computed when not given (H(user:domain), domain in lower case). */
	assert_int_equal(raw_int("SELECT COUNT(*) FROM subscriber WHERE userhash_md5 = MD5('alice:example.com')"
				 " AND userhash_sha256 = SHA2('alice:example.com', 256)"), 1);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM subscriber WHERE LENGTH(userhash_md5) = 32"
				 " AND LENGTH(userhash_sha256) = 64 AND LENGTH(userhash_sha512t256) = 64"), 1);
	{
		MYSQL *db = raw();
		MYSQL_RES *r;
		MYSQL_ROW row;

		assert_int_equal(mysql_query(db, "SELECT userhash_md5 FROM subscriber"), 0);
		r = mysql_store_result(db);
		row = mysql_fetch_row(r);
		snprintf(want, sizeof(want), "%s", row[0]);
		mysql_free_result(r);
		mysql_close(db);
	}
	for (char *p = want; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p); /* any case */
	assert_int_equal(store_get_cred_by_userhash(s, STORE_HASH_MD5, slice_cstr(want), slice_cstr("EXAMPLE.COM"), &c),
			 0);
	assert_string_equal(c.username, "alice");
	store_cred_wipe(&c);
	assert_int_equal(store_get_cred_by_userhash(s, STORE_HASH_SHA256, slice_cstr(want), slice_cstr("example.com"),
						    &c),
			 -ENOENT);
}

static void test_extra_columns(void **state)
{
	const char *cols[] = { "status", "rpid", "plan", "Note" };
	char big[STORE_EXTRA_VALUE_MAX + 40];
	struct store *s = *state;
	struct store_cred c;
	char sql[512];

	NEED_SERVER();
	assert_int_equal(store_user_add(s, "alice", "example.com", NULL), 0);
	assert_int_equal(store_user_add(s, "bob", "example.com", NULL), 0);
	store_close(s);
	*state = NULL;
	raw_exec("ALTER TABLE subscriber ADD COLUMN plan VARCHAR(32) DEFAULT NULL, ADD COLUMN note TEXT");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(sql, sizeof(sql), "UPDATE subscriber SET plan = 'gold', note = '%s' WHERE username = 'bob'", big);
	raw_exec(sql);
	assert_int_equal(store_extra_columns_set(cols, 4), 0);
	assert_int_equal(store_open(&s, url()), 0);
	*state = s;
	assert_int_equal(get(s, "alice", "example.com", &c), 0);
	assert_string_equal(c.extra[0], "0");
	assert_string_equal(c.extra[1], "");
	assert_string_equal(c.extra[2], "");
	assert_int_equal(c.extra_unusable, 0);
	store_cred_wipe(&c);
	assert_int_equal(get(s, "bob", "example.com", &c), 0);
	assert_string_equal(c.extra[2], "gold");
	assert_string_equal(c.extra[3], "");
	assert_int_equal(c.extra_unusable, 1u << 3);
	store_cred_wipe(&c);

	/* A configured column that does not exist: the store refuses to open. */
	const char *missing[] = { "nosuch" };
	store_close(s);
	*state = NULL;
	assert_int_equal(store_extra_columns_set(missing, 1), 0);
	assert_int_equal(store_open(&s, url()), -EINVAL);
}

/* A database Kamailio made (latin1, case-insensitive collation, its own
 * location table): its subscribers authenticate, usernames stay exact,
 * sipwarden's columns are added and its bindings go to sw_location. */
static void test_kamailio_db(void **state)
{
	struct store *s = NULL;
	struct store_contact ct;
	struct store_cred c;

	(void)state;
	NEED_SERVER();
	raw_exec("CREATE TABLE subscriber ("
		 " id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,"
		 " username VARCHAR(64) DEFAULT '' NOT NULL, domain VARCHAR(64) DEFAULT '' NOT NULL,"
		 " password VARCHAR(64) DEFAULT '' NOT NULL, ha1 VARCHAR(128) DEFAULT '' NOT NULL,"
		 " ha1b VARCHAR(128) DEFAULT '' NOT NULL,"
		 " CONSTRAINT account_idx UNIQUE (username, domain)) ENGINE=InnoDB"
		 " DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci");
	raw_exec("CREATE INDEX username_idx ON subscriber (username)");
	raw_exec("CREATE TABLE location (id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,"
		 " ruid VARCHAR(64) DEFAULT '' NOT NULL, username VARCHAR(64) DEFAULT '' NOT NULL,"
		 " domain VARCHAR(64) DEFAULT NULL, contact VARCHAR(512) DEFAULT '' NOT NULL,"
		 " expires DATETIME DEFAULT '2030-05-28 21:32:15' NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=latin1");
	raw_exec("INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES"
		 " ('alice', 'example.com', '', MD5('alice:example.com:pw'), MD5('alice@example.com:example.com:pw')),"
		 " ('Bob', 'example.com', 'pw', '', '')");
	assert_int_equal(store_open(&s, url()), 0);
	*state = s;
	assert_int_equal(get(s, "alice", "EXAMPLE.COM", &c), 0);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.hashes, 1u << STORE_HASH_MD5);
	store_cred_wipe(&c);
	assert_int_equal(get(s, "Alice", "example.com", &c), -ENOENT); /* exact despite the _ci column */
	assert_int_equal(get(s, "bob", "example.com", &c), -ENOENT);
	assert_int_equal(get(s, "Bob", "example.com", &c), 0);
	assert_string_equal(c.password, "pw");
	store_cred_wipe(&c);
	/* Rows older than the userhash columns were given theirs. */
	assert_int_equal(raw_int("SELECT COUNT(*) FROM subscriber WHERE userhash_sha512t256 = ''"), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM subscriber WHERE username = 'alice'"
				 " AND userhash_md5 = MD5('alice:example.com')"),
			 1);
	contact(&ct, "alice@example.com", "sip:alice@192.0.2.1", 2000000000);
	assert_int_equal(store_loc_put(s, &ct), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM sw_location"), 1);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM location"), 0);
	assert_int_equal(store_user_add(s, "carol", "example.com", NULL), 0);
	assert_int_equal(get(s, "carol", "example.com", &c), 0);
	store_cred_wipe(&c);

	/* Names a latin1 column cannot hold (4-byte UTF-8, a character beyond
	 * latin1, bytes that are not UTF-8) are unknown users, and the
	 * connection stays in service: the next lookup succeeds. */
	static const char *const odd[] = { "al\xf0\x9f\x98\x80ice", "al\xce\xa9ice", "al\xffice", "al\xc3" };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		assert_int_equal(get(s, odd[i], "example.com", &c), -ENOENT);
		assert_int_equal(get(s, "alice", odd[i], &c), -ENOENT);
		assert_int_equal(store_alias_check(s, slice_cstr(odd[i]), slice_cstr("example.com"), slice_cstr("alice"),
						   slice_cstr("example.com")),
				 -ENOENT);
		assert_int_equal(get(s, "alice", "example.com", &c), 0);
		store_cred_wipe(&c);
	}
	/* Writing one is refused as that request's error, not a lost connection. */
	assert_int_equal(store_user_add(s, "\xce\xa9mega", "example.com", NULL), -EINVAL);
	assert_int_equal(get(s, "alice", "example.com", &c), 0);
	store_cred_wipe(&c);
}

/* A VARCHAR may hold a NUL byte: such a value is unusable, never read as the
 * shorter C string before it (a password "a\0bcd" must not accept "a"). */
static void test_nul_in_values(void **state)
{
	const char *cols[] = { "plan" };
	struct store *s = *state;
	struct store_cred c;

	NEED_SERVER();
	assert_int_equal(store_user_add(s, "carl", "example.com", NULL), 0);
	store_close(s);
	*state = NULL;
	raw_exec("ALTER TABLE subscriber ADD COLUMN plan VARCHAR(32) DEFAULT NULL");
	raw_exec("UPDATE subscriber SET password = X'6100626364', ha1 = X'30003132', plan = X'676f6c640078'"
		 " WHERE username = 'carl'");
	assert_int_equal(store_extra_columns_set(cols, 1), 0);
	assert_int_equal(store_open(&s, url()), 0);
	*state = s;
	assert_int_equal(get(s, "carl", "example.com", &c), 0);
	assert_string_equal(c.password, "");
	assert_string_equal(c.ha1, "");
	assert_int_equal(c.hashes & (1u << STORE_HASH_MD5), 0);
	assert_string_equal(c.extra[0], "");
	assert_int_equal(c.extra_unusable, 1u);
	store_cred_wipe(&c);
}

/* The user name of the test URL ("mysql://USER:..."). */
static void url_user(char *out, size_t cap)
{
	const char *p = strstr(url(), "://") + 3;
	size_t n = strcspn(p, ":@");

	snprintf(out, cap, "%.*s", (int)n, p);
}

/* A connection broken inside a transaction (here a table dropped under it: a
 * new connection sets the schema up again) is shut at once: the server ends
 * the session and rolls the transaction back, releasing its rows, without
 * waiting for the store's next call. */
static void test_txn_broken_closes_connection(void **state)
{
	struct store *s = *state;
	struct store_block b = { .src = "192.0.2.7", .user = "alice", .since = 100, .until = 200, .reason = "auth" };
	struct store_contact c;
	char user[64], sql[256];
	long long n = -1;

	NEED_SERVER();
	url_user(user, sizeof(user));
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '%s'", user);
	assert_int_equal(store_begin(s), 0);
	contact(&c, "alice@example.com", "sip:a@192.0.2.1", 2000000000);
	assert_int_equal(store_loc_put(s, &c), 0);
	for (int i = 0; i < 50 && (n = raw_int(sql)) != 1; i++)
		usleep(100 * 1000); /* the connections of the schema setup may linger a moment */
	assert_int_equal(n, 1);
	raw_exec("DROP TABLE sw_blocks");
	assert_int_equal(store_block_put(s, &b), -EIO);
	for (int i = 0; i < 50 && (n = raw_int(sql)) != 0; i++)
		usleep(100 * 1000);
	assert_int_equal(n, 0);
	/* Its row is gone and not locked: root's locking read does not wait. */
	{
		MYSQL *db = raw();

		assert_int_equal(mysql_query(db, "SET SESSION innodb_lock_wait_timeout = 1"), 0);
		if (mysql_query(db, "DELETE FROM location"))
			fail_msg("%s", mysql_error(db));
		assert_int_equal(mysql_affected_rows(db), 0);
		mysql_close(db);
	}
	assert_int_equal(store_commit(s), -EIO);
	assert_int_equal(store_rollback(s), 0);
	/* The next call connects again and creates the missing table. */
	assert_int_equal(store_block_put(s, &b), 0);
	assert_int_equal(raw_int("SELECT COUNT(*) FROM sw_blocks"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_urls),
		cmocka_unit_test_setup_teardown(test_user_crud, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_fields, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_location, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_transaction, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_alias_block, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_userhash, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_extra_columns, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_kamailio_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_in_values, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_txn_broken_closes_connection, setup_open, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
