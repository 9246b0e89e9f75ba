/* Generic half of the store: URL -> backend lookup, argument checks that every
 * backend would otherwise repeat, and dispatch through struct store_ops. No SQL here. */
#include "store/store_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

/* Longest AOR a binding can hold. */
#define AOR_MAX (sizeof(((struct store_contact *)0)->aor) - 1)

static const struct store_ops *const backends[] = {
	&store_sqlite_ops,
	&store_mysql_ops,
	&store_mariadb_ops,
	&store_pgsql_ops,
	&store_pgsql_uri_ops,
};

struct store_extra_cols store_extra_cols;

bool store_column_name_ok(const char *name)
{
	size_t n = name ? strnlen(name, STORE_COLUMN_NAME_MAX + 1) : 0;

	if (n == 0 || n > STORE_COLUMN_NAME_MAX || isdigit((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return false;
	/* Secrets stay on the digest path: never copied out as policy values. */
	return strcasecmp(name, "password") != 0 && strncasecmp(name, "ha1", 3) != 0;
}

int store_extra_columns_set(const char *const *names, unsigned n)
{
	struct store_extra_cols c = { .n = n };

	if (n > STORE_MAX_EXTRA_COLS)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		if (!store_column_name_ok(names[i]))
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (strcasecmp(names[i], names[j]) == 0)
				return -EINVAL;
		snprintf(c.name[i], sizeof(c.name[i]), "%s", names[i]);
	}
	store_extra_cols = c;
	return 0;
}

/* 1..max bytes, NUL-terminated. */
static bool name_ok(const char *s, size_t max)
{
	size_t n;

	if (!s)
		return false;
	n = strnlen(s, max + 1);
	return n > 0 && n <= max;
}

static bool opt_ok(const char *s, size_t max)
{
	return !s || strnlen(s, max + 1) <= max;
}

/* A fixed array member holds a NUL-terminated string (possibly empty). */
static bool field_ok(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static bool secrets_ok(const struct store_user_secrets *sec)
{
	if (!sec)
		return true;
	for (int i = 0; i < STORE_HASH__COUNT; i++)
		if (!opt_ok(sec->userhash[i], SW_MAX_HASH_HEX))
			return false;
	return opt_ok(sec->password, SW_MAX_PASSWORD) && opt_ok(sec->ha1, SW_MAX_HASH_HEX) &&
	       opt_ok(sec->ha1b, SW_MAX_HASH_HEX) && opt_ok(sec->ha1_sha256, SW_MAX_HASH_HEX) &&
	       opt_ok(sec->ha1b_sha256, SW_MAX_HASH_HEX) && opt_ok(sec->ha1_sha512t256, SW_MAX_HASH_HEX) &&
	       opt_ok(sec->ha1b_sha512t256, SW_MAX_HASH_HEX);
}

static bool user_ok(struct store *s, const char *username, const char *domain)
{
	return s && name_ok(username, SW_MAX_USER) && name_ok(domain, SW_MAX_DOMAIN);
}

int store_open(struct store **out, const char *url)
{
	const struct store_ops *ops = NULL;
	const char *colon;
	struct store *s;
	int err;

	if (!out || !url)
		return -EINVAL;
	*out = NULL;
	colon = strchr(url, ':');
	if (!colon || colon == url)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t n = strlen(backends[i]->scheme);
		if ((size_t)(colon - url) == n && strncmp(url, backends[i]->scheme, n) == 0)
			ops = backends[i];
	}
	if (!ops || colon[1] == '\0')
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ops = ops;
	err = ops->open(s, colon + 1);
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s);
}

int store_set_busy_timeout(struct store *s, unsigned ms)
{
	if (!s)
		return -EINVAL;
	return s->ops->set_busy_timeout ? s->ops->set_busy_timeout(s, ms) : 0;
}

void store_share_snapshot(struct store *s, bool on)
{
	if (s && s->ops->share_snapshot)
		s->ops->share_snapshot(s, on);
}

void store_release_snapshot(struct store *s)
{
	if (s && s->ops->release_snapshot)
		s->ops->release_snapshot(s);
}

int store_get_cred(struct store *s, struct slice username, struct slice domain, struct store_cred *out)
{
	if (!s || !out || (!username.p && username.len) || (!domain.p && domain.len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	/* Names that cannot be stored cannot exist: "no such user", not a fault, so a
	 * hostile over-long username ends in a denial and not in a 500. */
	if (!username.len || username.len > SW_MAX_USER || !domain.len || domain.len > SW_MAX_DOMAIN)
		return -ENOENT;
	return s->ops->get_cred(s, username, domain, out);
}

int store_get_cred_by_userhash(struct store *s, enum store_hash h, struct slice userhash, struct slice domain,
			       struct store_cred *out)
{
	if (!s || !out || (unsigned)h >= STORE_HASH__COUNT || (!userhash.p && userhash.len) ||
	    (!domain.p && domain.len))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!userhash.len || userhash.len > SW_MAX_HASH_HEX || !domain.len || domain.len > SW_MAX_DOMAIN)
		return -ENOENT;
	return s->ops->get_cred_uh(s, h, userhash, domain, out);
}

void store_cred_wipe(struct store_cred *c)
{
	/* The secrets only: the rest (names, extra columns, 1.5 kB) is not secret,
	 * and this runs twice per authentication. */
	if (!c)
		return;
	base_wipe(c->password, sizeof(c->password));
	base_wipe(c->ha1, sizeof(c->ha1));
	base_wipe(c->ha1b, sizeof(c->ha1b));
	base_wipe(c->ha1_sha256, sizeof(c->ha1_sha256));
	base_wipe(c->ha1b_sha256, sizeof(c->ha1b_sha256));
	base_wipe(c->ha1_sha512t256, sizeof(c->ha1_sha512t256));
	base_wipe(c->ha1b_sha512t256, sizeof(c->ha1b_sha512t256));
}

int store_user_add(struct store *s, const char *username, const char *domain,
		   const struct store_user_secrets *sec)
{
	char dom[SW_MAX_DOMAIN + 1];
	size_t i;

	if (!user_ok(s, username, domain) || !secrets_ok(sec))
		return -EINVAL;
	/* Domains are stored lower-case so one account cannot exist twice in two cases
	 * (lookups compare domains case-insensitively anyway). */
	for (i = 0; domain[i]; i++)
		dom[i] = (char)tolower((unsigned char)domain[i]);
	dom[i] = '\0';
	return s->ops->user_add(s, username, dom, sec);
}

int store_user_update(struct store *s, const char *username, const char *domain,
		      const struct store_user_secrets *sec)
{
	if (!user_ok(s, username, domain) || !secrets_ok(sec))
		return -EINVAL;
	return s->ops->user_update(s, username, domain, sec);
}

int store_user_del(struct store *s, const char *username, const char *domain)
{
	if (!user_ok(s, username, domain))
		return -EINVAL;
	return s->ops->user_del(s, username, domain);
}

int store_user_set_status(struct store *s, const char *username, const char *domain, int status)
{
	return store_user_set_field(s, username, domain, STORE_FIELD_STATUS, status);
}

int store_user_set_field(struct store *s, const char *username, const char *domain, enum store_field f,
			 int64_t value)
{
	if (!user_ok(s, username, domain) || (unsigned)f >= STORE_FIELD__COUNT)
		return -EINVAL;
	return s->ops->user_set_field(s, username, domain, f, value);
}

int store_user_raise_pin(struct store *s, const char *username, const char *domain, int rank)
{
	if (!user_ok(s, username, domain) || rank < 0 || rank >= STORE_HASH__COUNT)
		return -EINVAL;
	return s->ops->user_raise_pin(s, username, domain, rank);
}

int store_alias_add(struct store *s, const char *user, const char *domain, const char *alias_user,
		    const char *alias_domain)
{
	if (!user_ok(s, user, domain) || !user_ok(s, alias_user, alias_domain))
		return -EINVAL;
	return s->ops->alias_add(s, user, domain, alias_user, alias_domain);
}

int store_alias_del(struct store *s, const char *user, const char *domain, const char *alias_user,
		    const char *alias_domain)
{
	if (!user_ok(s, user, domain) || !user_ok(s, alias_user, alias_domain))
		return -EINVAL;
	return s->ops->alias_del(s, user, domain, alias_user, alias_domain);
}

static bool slice_name_ok(struct slice v, size_t max)
{
	return v.p && v.len > 0 && v.len <= max;
}

int store_alias_check(struct store *s, struct slice user, struct slice domain, struct slice alias_user,
		      struct slice alias_domain)
{
	if (!s)
		return -EINVAL;
	/* Names that cannot be stored cannot have an alias either. */
	if (!slice_name_ok(user, SW_MAX_USER) || !slice_name_ok(domain, SW_MAX_DOMAIN) ||
	    !slice_name_ok(alias_user, SW_MAX_USER) || !slice_name_ok(alias_domain, SW_MAX_DOMAIN))
		return -ENOENT;
	return s->ops->alias_check(s, user, domain, alias_user, alias_domain);
}

int store_alias_list(struct store *s, store_alias_fn fn, void *arg)
{
	if (!s || !fn)
		return -EINVAL;
	return s->ops->alias_list(s, fn, arg);
}

int store_block_put(struct store *s, const struct store_block *b)
{
	if (!s || !b || !field_ok(b->src, sizeof(b->src)) || !b->src[0] || !field_ok(b->user, sizeof(b->user)) ||
	    !field_ok(b->reason, sizeof(b->reason)))
		return -EINVAL;
	return s->ops->block_put(s, b);
}

int store_block_del(struct store *s, const char *src, const char *user)
{
	if (!s || !name_ok(src, sizeof(((struct store_block *)0)->src) - 1) || !opt_ok(user, SW_MAX_USER))
		return -EINVAL;
	return s->ops->block_del(s, src, user);
}

int store_block_list(struct store *s, store_block_fn fn, void *arg)
{
	if (!s || !fn)
		return -EINVAL;
	return s->ops->block_list(s, fn, arg);
}

int store_block_purge(struct store *s, int64_t now)
{
	if (!s)
		return -EINVAL;
	return s->ops->block_purge(s, now);
}

int store_user_list(struct store *s, const char *domain, store_user_fn fn, void *arg)
{
	if (!s || !fn || (domain && !name_ok(domain, SW_MAX_DOMAIN)))
		return -EINVAL;
	return s->ops->user_list(s, domain, fn, arg);
}

int store_loc_put(struct store *s, const struct store_contact *c)
{
	if (!s || !c || !field_ok(c->aor, sizeof(c->aor)) || !field_ok(c->contact, sizeof(c->contact)) ||
	    !c->aor[0] || !c->contact[0] || !field_ok(c->received, sizeof(c->received)) ||
	    !field_ok(c->call_id, sizeof(c->call_id)) || !field_ok(c->user_agent, sizeof(c->user_agent)))
		return -EINVAL;
	return s->ops->loc_put(s, c);
}

int store_loc_del(struct store *s, const char *aor, const char *contact)
{
	if (!s || !name_ok(aor, AOR_MAX) || (contact && !name_ok(contact, SW_MAX_CONTACT_URI)))
		return -EINVAL;
	return s->ops->loc_del(s, aor, contact);
}

int store_loc_load(struct store *s, int64_t now, store_contact_fn fn, void *arg)
{
	if (!s || !fn)
		return -EINVAL;
	return s->ops->loc_load(s, now, fn, arg);
}

int store_loc_purge(struct store *s, int64_t now)
{
	if (!s)
		return -EINVAL;
	return s->ops->loc_purge(s, now);
}

int store_begin(struct store *s)
{
	return s ? s->ops->begin(s) : -EINVAL;
}

int store_commit(struct store *s)
{
	return s ? s->ops->commit(s) : -EINVAL;
}

int store_rollback(struct store *s)
{
	return s ? s->ops->rollback(s) : -EINVAL;
}

/* Mask what follows "user:" in a URL's authority and the value of a
 * password= parameter; everything else is copied. */
char *store_url_redact(const char *url, char *out, size_t cap)
{
	const char *auth = url ? strstr(url, "://") : NULL;
	const char *at = NULL, *pw = NULL;
	size_t o = 0;

	if (!cap)
		return out;
	if (!url) {
		out[0] = '\0';
		return out;
	}
	/* Clients disagree on where the userinfo ends (libpq takes a '?', '#'
	 * or '/' inside it as part of the password), so mask generously: from
	 * the first ':' after "://" to the last '@' of the URL, when that ':'
	 * comes first. A host, port or parameter caught in between is masked
	 * too, never a password shown. */
	if (auth) {
		auth += 3;
		at = strrchr(auth, '@');
		pw = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	}
	for (const char *p = url; *p && o + 1 < cap;) {
		if (pw && p == pw + 1) {
			o += (size_t)snprintf(out + o, cap - o, "***");
			p = at;
			pw = NULL;
			continue;
		}
		/* a query parameter whose name ends in "password" (password=,
		 * sslpassword=...) keeps its name, not its value */
		if (p > url && (p[-1] == '?' || p[-1] == '&')) {
			size_t name = strcspn(p, "=&#");
			if (p[name] == '=' && name >= 8 && strncasecmp(p + name - 8, "password", 8) == 0) {
				size_t room = cap - o - 1;
				size_t take = name + 1 < room ? name + 1 : room;
				memcpy(out + o, p, take);
				o += take;
				o += (size_t)snprintf(out + o, cap - o, "***");
				p += name + 1 + strcspn(p + name + 1, "&#");
				continue;
			}
		}
		out[o++] = *p++;
	}
	if (o >= cap)
		o = cap - 1;
	out[o] = '\0';
	/* nothing that could forge or break a log line */
	for (char *q = out; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	return out;
}

int store_sql_expand(const char *tmpl, const char *const *names, const char *const *vals, size_t n, char *out,
		     size_t cap)
{
	size_t o = 0;

	while (*tmpl) {
		const char *v = NULL;
		size_t skip = 1, vlen;

		for (size_t i = 0; i < n && !v; i++) {
			size_t len = strlen(names[i]);
			if (strncmp(tmpl, names[i], len) == 0) {
				v = vals[i];
				skip = len;
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
