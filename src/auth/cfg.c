/* The [auth] settings: defaults and the parsers of the list-valued ones
 * (algorithm preference order per RFC 7616 §3.7 / RFC 8760 §2.4, qop list,
 * minimum algorithms for all realms and per realm, trusted networks in CIDR
 * form, extra credential columns and the requirements on them), and the
 * checks across settings. No I/O. */
#include "auth/auth_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void auth_cfg_defaults(struct auth_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nonce_lifetime_s = SW_DEFAULT_NONCE_LIFETIME;
	/* RFC 8760 §2.4: the strongest first, MD5 last for old phones. */
	cfg->algos[0] = AUTH_ALGO_SHA256;
	cfg->algos[1] = AUTH_ALGO_MD5;
	cfg->nalgos = 2;
	cfg->qop = AUTH_QOP_AUTH | AUTH_QOP_AUTH_INT;
	cfg->min_rank = 0;
	cfg->max_failures = 10;
	cfg->max_source_failures = 30;
	cfg->failure_window_s = 60;
	cfg->block_time_s = 600;
	cfg->cred_cache_size = AUTH_CREDCACHE_DEFAULT_SIZE;
	cfg->cred_cache_ttl_s = AUTH_CREDCACHE_DEFAULT_TTL_S;
}

/* Next comma- or space-separated item of *p into out; false at the end. */
static bool next_item(const char **p, char *out, size_t cap, bool *too_long)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ',' || isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	while (*s && *s != ',' && !isspace((unsigned char)*s)) {
		if (n + 1 < cap)
			out[n++] = *s;
		else
			*too_long = true;
		s++;
	}
	out[n] = '\0';
	*p = s;
	return true;
}

int auth_cfg_set_algorithms(struct auth_cfg *cfg, const char *list, const char **why)
{
	enum auth_algo algos[AUTH_ALGO__COUNT];
	unsigned n = 0;
	char item[32];
	bool too_long = false;

	while (next_item(&list, item, sizeof(item), &too_long)) {
		enum auth_algo a;

		if (too_long || auth_algo_parse(slice_cstr(item), &a)) {
			*why = "expected a list of MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256, SHA-512-256-sess";
			return -EINVAL;
		}
		for (unsigned i = 0; i < n; i++)
			if (algos[i] == a) {
				*why = "algorithm listed twice";
				return -EINVAL;
			}
		algos[n++] = a;
	}
	if (!n) {
		*why = "at least one algorithm is needed";
		return -EINVAL;
	}
	memcpy(cfg->algos, algos, sizeof(algos[0]) * n);
	cfg->nalgos = n;
	return 0;
}

int auth_cfg_set_qop(struct auth_cfg *cfg, const char *list, const char **why)
{
	unsigned qop = 0;
	char item[16];
	bool too_long = false;

	while (next_item(&list, item, sizeof(item), &too_long)) {
		if (!too_long && strcasecmp(item, "auth") == 0)
			qop |= AUTH_QOP_AUTH;
		else if (!too_long && strcasecmp(item, "auth-int") == 0)
			qop |= AUTH_QOP_AUTH_INT;
		else if (!too_long && strcasecmp(item, "none") == 0)
			;
		else {
			*why = "expected auth, auth-int (comma-separated) or none";
			return -EINVAL;
		}
	}
	cfg->qop = qop;
	return 0;
}

int auth_cfg_set_min_algorithm(struct auth_cfg *cfg, const char *name, const char **why)
{
	enum auth_algo a;

	if (auth_algo_parse(slice_cstr(name), &a)) {
		*why = "expected MD5, SHA-256 or SHA-512-256";
		return -EINVAL;
	}
	cfg->min_rank = auth_algo_rank(a);
	return 0;
}

int auth_cfg_add_realm_min_algorithm(struct auth_cfg *cfg, const char *value, const char **why)
{
	char realm[SW_MAX_DOMAIN + 1], algo[32];
	bool too_long = false;
	const char *p = value;
	enum auth_algo a;

	if (!next_item(&p, realm, sizeof(realm), &too_long) || too_long || strpbrk(realm, "\"\\;<>@")) {
		*why = "expected REALM ALGORITHM, e.g. example.com SHA-256 (realm at most 64 characters)";
		return -EINVAL;
	}
	if (!next_item(&p, algo, sizeof(algo), &too_long) || too_long || auth_algo_parse(slice_cstr(algo), &a) ||
	    next_item(&p, algo, sizeof(algo), &too_long)) {
		*why = "expected REALM ALGORITHM with ALGORITHM MD5, SHA-256 or SHA-512-256";
		return -EINVAL;
	}
	for (char *c = realm; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (unsigned i = 0; i < cfg->nrealm_min; i++)
		if (strcmp(cfg->realm_min[i].realm, realm) == 0) {
			*why = "realm already has a minimum algorithm";
			return -EINVAL;
		}
	if (cfg->nrealm_min == SW_MAX_DOMAINS) {
		*why = "too many realms (at most 64)";
		return -EINVAL;
	}
	snprintf(cfg->realm_min[cfg->nrealm_min].realm, sizeof(cfg->realm_min[0].realm), "%s", realm);
	cfg->realm_min[cfg->nrealm_min++].rank = auth_algo_rank(a);
	return 0;
}

/* Index of column name in the loaded set, or -1. */
static int column_index(const struct auth_cfg *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->nload_columns; i++)
		if (strcasecmp(cfg->load_columns[i], name) == 0)
			return (int)i;
	return -1;
}

/* Add name to the loaded set (no-op when present). 0 or -EINVAL with *why. */
static int add_column(struct auth_cfg *cfg, const char *name, const char **why)
{
	if (!store_column_name_ok(name)) {
		*why = "expected column names: letters, digits and _ (at most 32, not starting with a digit;"
		       " password and ha1* columns cannot be loaded)";
		return -EINVAL;
	}
	if (column_index(cfg, name) >= 0)
		return 0;
	if (cfg->nload_columns == STORE_MAX_EXTRA_COLS) {
		*why = "too many extra columns (at most 8, require columns included)";
		return -EINVAL;
	}
	snprintf(cfg->load_columns[cfg->nload_columns++], sizeof(cfg->load_columns[0]), "%s", name);
	return 0;
}

int auth_cfg_add_load_columns(struct auth_cfg *cfg, const char *list, const char **why)
{
	struct auth_cfg trial = *cfg;
	unsigned first = cfg->nload_columns, n = 0;
	char item[STORE_COLUMN_NAME_MAX + 2];
	bool too_long = false;

	while (next_item(&list, item, sizeof(item), &too_long)) {
		int at = column_index(&trial, item);

		if (at >= (int)first) {
			*why = "column listed twice";
			return -EINVAL;
		}
		if (too_long)
			item[STORE_COLUMN_NAME_MAX] = '!'; /* refused below as too long */
		if (add_column(&trial, item, why))
			return -EINVAL;
		n++;
	}
	if (!n) {
		*why = "expected a comma-separated list of column names";
		return -EINVAL;
	}
	memcpy(cfg->load_columns, trial.load_columns, sizeof(cfg->load_columns));
	cfg->nload_columns = trial.nload_columns;
	return 0;
}

int auth_cfg_add_require(struct auth_cfg *cfg, const char *value, const char **why)
{
	const char *eq = strchr(value, '=');
	char name[STORE_COLUMN_NAME_MAX + 1];
	size_t nlen, vlen;
	int err;

	if (!eq || eq == value) {
		*why = "expected COLUMN=VALUE";
		return -EINVAL;
	}
	nlen = (size_t)(eq - value);
	while (nlen && isspace((unsigned char)value[nlen - 1]))
		nlen--;
	eq++;
	while (isspace((unsigned char)*eq))
		eq++;
	vlen = strlen(eq);
	if (nlen > STORE_COLUMN_NAME_MAX || vlen > STORE_EXTRA_VALUE_MAX) {
		*why = "column name (at most 32) or value (at most 128 bytes) too long";
		return -EINVAL;
	}
	if (cfg->nrequire == AUTH_MAX_REQUIRE) {
		*why = "too many require lines (at most 8)";
		return -EINVAL;
	}
	memcpy(name, value, nlen);
	name[nlen] = '\0';
	err = add_column(cfg, name, why);
	if (err)
		return err;
	cfg->require[cfg->nrequire].col = (unsigned)column_index(cfg, name);
	memcpy(cfg->require[cfg->nrequire].value, eq, vlen + 1);
	cfg->nrequire++;
	return 0;
}

/* At least one configured algorithm ranks at or above min_rank. */
static bool any_offered(const struct auth_cfg *cfg, int min_rank)
{
	for (unsigned i = 0; i < cfg->nalgos; i++)
		if (auth_algo_rank(cfg->algos[i]) >= min_rank)
			return true;
	return false;
}

int auth_cfg_check(const struct auth_cfg *cfg, const char **why)
{
	static __thread char msg[160];

	if (!any_offered(cfg, cfg->min_rank)) {
		*why = "[auth] min_algorithm leaves none of [auth] algorithms to offer";
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nrealm_min; i++)
		if (!any_offered(cfg, cfg->realm_min[i].rank)) {
			snprintf(msg, sizeof(msg), "[auth] realm_min_algorithm for %s leaves none of [auth] algorithms to offer",
				 cfg->realm_min[i].realm);
			*why = msg;
			return -EINVAL;
		}
	return 0;
}

int auth_cfg_set_trusted(struct auth_cfg *cfg, const char *list, const char **why)
{
	struct auth_net nets[AUTH_MAX_TRUSTED];
	unsigned n = 0;
	char item[64];
	bool too_long = false;

	while (next_item(&list, item, sizeof(item), &too_long)) {
		if (n == AUTH_MAX_TRUSTED) {
			*why = "too many networks (at most 16)";
			return -EINVAL;
		}
		if (too_long || auth_net_parse(item, &nets[n])) {
			*why = "expected networks as ADDRESS[/PREFIX], comma-separated";
			return -EINVAL;
		}
		n++;
	}
	memcpy(cfg->trusted, nets, sizeof(nets[0]) * n);
	cfg->ntrusted = n;
	return 0;
}

int auth_net_parse(const char *text, struct auth_net *out)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	long prefix;

	if (!alen || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->v6 = false;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->v6 = true;
	else
		return -EINVAL;
	prefix = out->v6 ? 128 : 32;
	if (slash) {
		char *end;

		prefix = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || prefix < 0 || prefix > (out->v6 ? 128 : 32))
			return -EINVAL;
	}
	out->prefix = (uint8_t)prefix;
	return 0;
}

bool auth_net_match(const struct auth_net *net, const char *ip)
{
	uint8_t a[16];
	bool v6 = strchr(ip, ':') != NULL;
	unsigned bits = net->prefix;

	if (v6 != net->v6 || inet_pton(v6 ? AF_INET6 : AF_INET, ip, a) != 1)
		return false;
	for (unsigned i = 0; bits; i++) {
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		if ((a[i] & mask) != (net->addr[i] & mask))
			return false;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return true;
}
