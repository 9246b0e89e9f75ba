/* Private to src/store/: the backend table behind store.h. store.c validates
 * arguments and dispatches through struct store_ops; each backend (sqlite.c,
 * later pgsql/mysql/http) fills one ops table and keeps its state in s->be. */
#ifndef SW_STORE_INT_H
#define SW_STORE_INT_H

#include "store/store.h"

struct store_ops {
	const char *scheme; /**< URL scheme served: "sqlite" for "sqlite:PATH" */
	/* Open the backend on target (the URL after "scheme:"), set s->be. 0 or -errno. */
	int (*open)(struct store *s, const char *target);
	void (*close)(struct store *s);
	int (*set_busy_timeout)(struct store *s, unsigned ms); /**< NULL: not applicable */
	void (*share_snapshot)(struct store *s, bool on);       /**< NULL: not applicable */
	void (*release_snapshot)(struct store *s);              /**< NULL: not applicable */
	int (*get_cred)(struct store *s, struct slice username, struct slice domain, struct store_cred *out);
	int (*user_add)(struct store *s, const char *username, const char *domain,
			const struct store_user_secrets *sec);
	int (*user_update)(struct store *s, const char *username, const char *domain,
			   const struct store_user_secrets *sec);
	int (*user_del)(struct store *s, const char *username, const char *domain);
	int (*get_cred_uh)(struct store *s, enum store_hash h, struct slice userhash, struct slice domain,
			   struct store_cred *out);
	int (*user_set_field)(struct store *s, const char *username, const char *domain, enum store_field f,
			      int64_t value);
	int (*user_raise_pin)(struct store *s, const char *username, const char *domain, int rank);
	int (*alias_add)(struct store *s, const char *user, const char *domain, const char *alias_user,
			 const char *alias_domain);
	int (*alias_del)(struct store *s, const char *user, const char *domain, const char *alias_user,
			 const char *alias_domain);
	int (*alias_check)(struct store *s, struct slice user, struct slice domain, struct slice alias_user,
			   struct slice alias_domain);
	int (*alias_list)(struct store *s, store_alias_fn fn, void *arg);
	int (*block_put)(struct store *s, const struct store_block *b);
	int (*block_del)(struct store *s, const char *src, const char *user);
	int (*block_list)(struct store *s, store_block_fn fn, void *arg);
	int (*block_purge)(struct store *s, int64_t now);
	int (*user_list)(struct store *s, const char *domain, store_user_fn fn, void *arg);
	int (*loc_put)(struct store *s, const struct store_contact *c);
	int (*loc_del)(struct store *s, const char *aor, const char *contact);
	int (*loc_load)(struct store *s, int64_t now, store_contact_fn fn, void *arg);
	int (*loc_purge)(struct store *s, int64_t now);
	int (*begin)(struct store *s);
	int (*commit)(struct store *s);
	int (*rollback)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	void *be; /**< backend state, owned by ops->open/close */
};

/* The process-wide extra credential columns (store_extra_columns_set). */
struct store_extra_cols {
	char name[STORE_MAX_EXTRA_COLS][STORE_COLUMN_NAME_MAX + 1];
	unsigned n;
};
extern struct store_extra_cols store_extra_cols;

/* Expand an SQL template: every occurrence of names[i] (e.g. "$LOC") is
 * replaced by vals[i], the rest copied. 0, or -ENOSPC when out (cap bytes,
 * NUL-terminated) is too small. Shared by the SQL backends. */
int store_sql_expand(const char *tmpl, const char *const *names, const char *const *vals, size_t n, char *out,
		     size_t cap);

extern const struct store_ops store_sqlite_ops;
extern const struct store_ops store_mysql_ops;     /* mysql.c: "mysql://..." */
extern const struct store_ops store_mariadb_ops;   /* mysql.c: "mariadb://..." */
extern const struct store_ops store_pgsql_ops;     /* pgsql.c: "postgres://..." */
extern const struct store_ops store_pgsql_uri_ops; /* pgsql.c: "postgresql://..." */

#endif
