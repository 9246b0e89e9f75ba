/* Settings table shared by sipwarden.conf (INI, parsed with libinih) and the
 * command line. Every setting has a section, a key, a type, bounds and a line
 * of help; a bad line is reported as FILE:LINE: problem and the daemon stops. */
#include "app/config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum setting_type { SET_UINT, SET_STRING, SET_LISTEN, SET_DOMAIN, SET_LOGLEVEL };

struct setting {
	const char *section;
	const char *key;
	enum setting_type type;
	size_t offset;
	size_t size;      /**< string capacity */
	unsigned min, max;
	const char *def;  /**< default shown in the reference */
	const char *help;
};

#define OFF(f) offsetof(struct sw_config, f)
#define SZ(f) sizeof(((struct sw_config *)0)->f)

static const struct setting settings[] = {
	{ "server", "listen", SET_LISTEN, 0, 0, 0, 0, "udp:127.0.0.1:5060, tcp:127.0.0.1:5060",
	  "transport:address[:port] to listen on (udp or tcp; IPv6 as udp:[::1]:5060); repeatable" },
	{ "server", "workers", SET_UINT, OFF(workers), 0, 0, SW_MAX_WORKERS, "0",
	  "worker threads; 0 means one per CPU core" },
	{ "server", "log_level", SET_LOGLEVEL, 0, 0, 0, 0, "info", "error, warn, info or debug" },
	{ "server", "tcp_idle_timeout", SET_UINT, OFF(tcp_idle_timeout), 0, 1, 86400, "300",
	  "seconds before an idle TCP connection is closed" },
	{ "server", "max_tcp_connections", SET_UINT, OFF(max_tcp_conns), 0, 1, 1000000, "4096",
	  "simultaneous TCP connections per worker" },
	{ "registrar", "domain", SET_DOMAIN, 0, 0, 0, 0, "(none: any domain in the subscriber table)",
	  "a SIP domain served here; also the digest realm; repeatable" },
	{ "registrar", "min_expires", SET_UINT, OFF(reg.min_expires), 0, 1, 86400, "60",
	  "shorter registrations get 423 Interval Too Brief" },
	{ "registrar", "max_expires", SET_UINT, OFF(reg.max_expires), 0, 1, 31536000, "86400",
	  "longer registrations are shortened to this" },
	{ "registrar", "default_expires", SET_UINT, OFF(reg.default_expires), 0, 1, 31536000, "3600",
	  "expiry when the REGISTER names none" },
	{ "registrar", "max_contacts", SET_UINT, OFF(reg.max_contacts), 0, 1, SW_MAX_CONTACTS_CAP, "10",
	  "contacts per address-of-record" },
	{ "registrar", "flush_interval_ms", SET_UINT, OFF(reg.flush_interval_ms), 0, 10, 10000, "200",
	  "how often registrations are written to the database" },
	{ "store", "db", SET_STRING, OFF(db_url), SZ(db_url), 0, 0, "sqlite:sipwarden.db",
	  "subscriber and location database URL (sqlite:PATH)" },
	{ "auth", "nonce_lifetime", SET_UINT, OFF(nonce_lifetime), 0, 1, 86400, "300",
	  "seconds a nonce stays valid; older ones are answered stale=true" },
	{ "auth", "secret", SET_STRING, OFF(secret), SZ(secret), 0, 0, "(random at each start)",
	  "nonce signing secret; set the same value on every node of a cluster" },
};

void config_defaults(struct sw_config *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = LOG_LVL_INFO;
	c->tcp_idle_timeout = SW_TCP_IDLE_TIMEOUT_S;
	c->max_tcp_conns = SW_MAX_TCP_CONNS;
	c->reg.min_expires = SW_DEFAULT_MIN_EXPIRES;
	c->reg.max_expires = SW_DEFAULT_MAX_EXPIRES;
	c->reg.default_expires = SW_DEFAULT_EXPIRES;
	c->reg.max_contacts = SW_DEFAULT_MAX_CONTACTS;
	c->reg.flush_interval_ms = 200;
	snprintf(c->db_url, sizeof(c->db_url), "sqlite:sipwarden.db");
	c->nonce_lifetime = SW_DEFAULT_NONCE_LIFETIME;
}

static const struct setting *find(const char *section, const char *key)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (strcmp(settings[i].section, section) == 0 && strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

static int set_uint(const struct setting *s, struct sw_config *c, const char *value, const char **why)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || end == value || *end != '\0' || value[0] == '-') {
		*why = "expected a whole number";
		return -EINVAL;
	}
	if (v < s->min || v > s->max) {
		static __thread char msg[96];
		snprintf(msg, sizeof(msg), "value out of range (%u..%u)", s->min, s->max);
		*why = msg;
		return -EINVAL;
	}
	*(unsigned *)((char *)c + s->offset) = (unsigned)v;
	return 0;
}

int config_set(struct sw_config *c, const char *section, const char *key, const char *value, const char **why)
{
	const struct setting *s = find(section, key);

	*why = NULL;
	if (!s) {
		static __thread char msg[160];
		snprintf(msg, sizeof(msg), "unknown setting '%s' in section [%s]", key, section);
		*why = msg;
		return -EINVAL;
	}
	switch (s->type) {
	case SET_UINT:
		return set_uint(s, c, value, why);
	case SET_STRING:
		if (strlen(value) >= s->size) {
			*why = "value too long";
			return -EINVAL;
		}
		snprintf((char *)c + s->offset, s->size, "%s", value);
		return 0;
	case SET_LOGLEVEL:
		if (log_level_parse(value, &c->log_level)) {
			*why = "expected error, warn, info or debug";
			return -EINVAL;
		}
		return 0;
	case SET_LISTEN:
		if (c->nlistens == SW_MAX_LISTEN) {
			*why = "too many listen addresses";
			return -EINVAL;
		}
		if (tp_listen_parse(&c->listens[c->nlistens], value)) {
			*why = "expected udp:IP[:PORT] or tcp:IP[:PORT] (IPv6 in brackets)";
			return -EINVAL;
		}
		c->nlistens++;
		return 0;
	case SET_DOMAIN: {
		size_t len = strlen(value);
		if (len == 0 || len > SW_MAX_DOMAIN || strpbrk(value, " \t\"\\;,<>@")) {
			*why = "expected a domain name or IP address (at most 64 characters)";
			return -EINVAL;
		}
		if (c->reg.ndomains == SW_MAX_DOMAINS) {
			*why = "too many domains";
			return -EINVAL;
		}
		snprintf(c->reg.domains[c->reg.ndomains++], SW_MAX_DOMAIN + 1, "%s", value);
		return 0;
	}
	}
	return -EINVAL;
}

struct ini_state {
	struct sw_config *c;
	char why[400];
	bool failed;
};

/* libinih reports the line of the first rejected setting as its return value;
 * the handler keeps the reason of that first rejection. */
static int on_ini(void *user, const char *section, const char *name, const char *value)
{
	struct ini_state *st = user;
	const char *why;

	if (config_set(st->c, section, name, value, &why)) {
		if (!st->failed)
			/* The value of a secret is never echoed back. */
			snprintf(st->why, sizeof(st->why), "%s = %s: %s", name,
				 strcmp(name, "secret") == 0 ? "(hidden)" : value, why);
		st->failed = true;
		return 0;
	}
	return 1;
}

/* libinih splits lines longer than its buffer; refuse them with a clear message instead. */
#define CONFIG_MAX_LINE 199

static int check_line_lengths(FILE *f, const char *path, char *err, size_t errcap)
{
	int line = 1, c;
	size_t len = 0;

	while ((c = fgetc(f)) != EOF) {
		if (c == '\n') {
			line++;
			len = 0;
		} else if (++len > CONFIG_MAX_LINE) {
			snprintf(err, errcap, "%s:%d: line too long (at most %d characters)", path, line,
				 CONFIG_MAX_LINE);
			return -EINVAL;
		}
	}
	rewind(f);
	return 0;
}

int config_load_file(struct sw_config *c, const char *path, char *err, size_t errcap)
{
	struct ini_state st = { .c = c };
	FILE *f = fopen(path, "r");
	int rc;

	if (!f) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (check_line_lengths(f, path, err, errcap)) {
		fclose(f);
		return -EINVAL;
	}
	rc = ini_parse_file(f, on_ini, &st);
	fclose(f);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		snprintf(err, errcap, "%s: cannot read", path);
	} else if (st.failed) {
		char why[sizeof(st.why)];
		snprintf(why, sizeof(why), "%s", st.why);
		snprintf(err, errcap, "%s:%d: %s", path, rc, why);
	} else {
		snprintf(err, errcap, "%s:%d: syntax error (expected [section] or key = value)", path, rc);
	}
	return -EINVAL;
}

int config_finish(struct sw_config *c, char *err, size_t errcap)
{
	if (c->nlistens == 0) {
		tp_listen_parse(&c->listens[0], "udp:127.0.0.1:5060");
		tp_listen_parse(&c->listens[1], "tcp:127.0.0.1:5060");
		c->nlistens = 2;
	}
	if (c->reg.min_expires > c->reg.max_expires) {
		snprintf(err, errcap, "min_expires (%u) is larger than max_expires (%u)", c->reg.min_expires,
			 c->reg.max_expires);
		return -EINVAL;
	}
	/* The default follows the bounds it must sit between (a --max-expires
	 * below 3600 should not require a --default-expires as well). */
	if (c->reg.default_expires < c->reg.min_expires)
		c->reg.default_expires = c->reg.min_expires;
	if (c->reg.default_expires > c->reg.max_expires)
		c->reg.default_expires = c->reg.max_expires;
	if (c->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c->workers = n < 1 ? 1 : n > SW_MAX_WORKERS ? SW_MAX_WORKERS : (unsigned)n;
	}
	c->reg.db_url = c->db_url;
	return 0;
}

void config_print_reference(void)
{
	const char *section = "";

	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		const struct setting *s = &settings[i];
		if (strcmp(section, s->section) != 0) {
			section = s->section;
			printf("%s[%s]\n", i ? "\n" : "", section);
		}
		printf("%-22s default %s\n%22s %s\n", s->key, s->def, "", s->help);
	}
}
