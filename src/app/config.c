/* Settings table shared by sipwarden.conf (INI, parsed with libinih) and the
 * command line. Every setting has a section, a key, a type, bounds and a line
 * of help; a bad line is reported as FILE:LINE: problem and the daemon stops. */
#include "app/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum setting_type { SET_UINT, SET_STRING, SET_LISTEN, SET_DOMAIN, SET_LOGLEVEL, SET_BOOL, SET_VERIFY,
		    SET_TLS_VERSION, SET_SNI, SET_DOMAIN_LIST, SET_FUNC,
		    SET_TRUSTED, SET_NEXTHOP };

struct setting {
	const char *section;
	const char *key;
	enum setting_type type;
	size_t offset;
	size_t size;      /**< string capacity */
	unsigned min, max;
	const char *def;  /**< default shown in the reference */
	const char *help;
	/** SET_FUNC: parses and stores the value itself (NULL otherwise) */
	int (*parse)(struct sw_config *c, const char *value, const char **why);
};

#define OFF(f) offsetof(struct sw_config, f)
#define SZ(f) sizeof(((struct sw_config *)0)->f)

static int set_auth_algorithms(struct sw_config *c, const char *value, const char **why)
{
	return auth_cfg_set_algorithms(&c->auth, value, why);
}

static int set_auth_qop(struct sw_config *c, const char *value, const char **why)
{
	return auth_cfg_set_qop(&c->auth, value, why);
}

static int set_auth_min_algorithm(struct sw_config *c, const char *value, const char **why)
{
	return auth_cfg_set_min_algorithm(&c->auth, value, why);
}

static int set_auth_realm_min_algorithm(struct sw_config *c, const char *value, const char **why)
{
	return auth_cfg_add_realm_min_algorithm(&c->auth, value, why);
}

static int set_auth_load_columns(struct sw_config *c, const char *value, const char **why)
{
	return auth_cfg_add_load_columns(&c->auth, value, why);
}

static int set_auth_require(struct sw_config *c, const char *value, const char **why)
{
	return auth_cfg_add_require(&c->auth, value, why);
}

static int set_auth_trusted(struct sw_config *c, const char *value, const char **why)
{
	return auth_cfg_set_trusted(&c->auth, value, why);
}

static int set_auth_block_response(struct sw_config *c, const char *value, const char **why)
{
	if (strcmp(value, "403") == 0 || strcmp(value, "drop") == 0) {
		c->auth.block_drop = value[0] == 'd';
		return 0;
	}
	*why = "expected 403 or drop";
	return -EINVAL;
}

static int set_proxy_trusted(struct sw_config *c, const char *value, const char **why)
{
	if (c->proxy.ntrusted == PROXY_MAX_TRUSTED) {
		*why = "too many trusted peers";
		return -EINVAL;
	}
	if (proxy_trusted_parse(&c->proxy.trusted[c->proxy.ntrusted], value)) {
		*why = "expected ADDRESS[/PREFIX] [name=NAME]";
		return -EINVAL;
	}
	c->proxy.ntrusted++;
	return 0;
}

static int set_proxy_outbound(struct sw_config *c, const char *value, const char **why)
{
	if (tp_listen_parse(&c->proxy.outbound, value)) {
		*why = "expected udp:IP[:PORT], tcp:IP[:PORT] or tls:IP[:PORT]";
		return -EINVAL;
	}
	c->proxy.has_outbound = true;
	return 0;
}

static int set_proxy_dns_server(struct sw_config *c, const char *value, const char **why)
{
	char buf[128];
	struct tp_listen l;

	/* "IP[:PORT]" (IPv6 in brackets): parsed as a udp: address, port 53 by default. */
	if (snprintf(buf, sizeof(buf), "udp:%s", value) >= (int)sizeof(buf) || tp_listen_parse(&l, buf)) {
		*why = "expected IP[:PORT] (IPv6 as [::1]:53)";
		return -1;
	}
	bool has_port = strrchr(value, ']') ? strstr(value, "]:") != NULL : strchr(value, ':') != NULL;
	if (!has_port) {
		if (l.addr.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&l.addr)->sin6_port = htons(53);
		else
			((struct sockaddr_in *)&l.addr)->sin_port = htons(53);
	}
	c->proxy.dns_server = l.addr;
	c->proxy.has_dns_server = true;
	return 0;
}

/* Entries without a parser leave it out (NULL). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct setting settings[] = {
	{ "server", "listen", SET_LISTEN, 0, 0, 0, 0, "udp:127.0.0.1:5060, tcp:127.0.0.1:5060",
	  "transport:address[:port] to listen on (udp, tcp or tls; IPv6 as udp:[::1]:5060; tls port 5061); repeatable" },
	{ "server", "workers", SET_UINT, OFF(workers), 0, 0, SW_MAX_WORKERS, "0",
	  "worker threads; 0 means one per CPU core" },
	{ "server", "log_level", SET_LOGLEVEL, 0, 0, 0, 0, "info", "error, warn, info or debug" },
	{ "server", "tcp_idle_timeout", SET_UINT, OFF(tcp_idle_timeout), 0, 1, 86400, "300",
	  "seconds before an idle TCP connection is closed" },
	{ "server", "max_tcp_connections", SET_UINT, OFF(max_tcp_conns), 0, 1, 1000000, "4096",
	  "simultaneous TCP connections per worker" },
	{ "server", "max_connections_per_ip", SET_UINT, OFF(max_conns_per_ip), 0, 1, 1000000, "64",
	  "simultaneous TCP and TLS connections from one IP address (all workers)" },
	{ "server", "tcp_message_timeout", SET_UINT, OFF(tcp_message_timeout), 0, 1, 3600, "10",
	  "seconds within which a started TCP/TLS message must be complete (slow senders are cut)" },
	{ "server", "overload_delay_ms", SET_UINT, OFF(overload_delay_ms), 0, 0, SW_MAX_OVERLOAD_DELAY_MS, "200",
	  "a new request (UDP, TCP or TLS) queued longer than this is answered 503 with Retry-After (no auth, no database); 0 never sheds" },
	{ "server", "udp_spread_by_call_id", SET_BOOL, OFF(udp_by_call_id), 0, 0, 0, "yes",
	  "with several workers, each UDP request is served by the worker its Call-ID names, so one busy sender (an SBC, a trunk, a load balancer) uses every worker; no keeps each sender address:port on one worker" },
	{ "server", "control_socket", SET_STRING, OFF(control_socket), SZ(control_socket), 0, 0,
	  "(database path + .ctl)",
	  "Unix socket (mode 0600) where sipwarden-ctl reaches the running daemon; none disables it; at most 107 bytes" },
	{ "tls", "certificate", SET_STRING, OFF(tls.cert), SZ(tls.cert), 0, 0, "(none)",
	  "server certificate chain (PEM); required by a tls: listen address" },
	{ "tls", "private_key", SET_STRING, OFF(tls.key), SZ(tls.key), 0, 0, "(none)",
	  "private key of the certificate (PEM)" },
	{ "tls", "ca_file", SET_STRING, OFF(tls.ca_file), SZ(tls.ca_file), 0, 0, "(none)",
	  "CA certificates (PEM) that client certificates, and servers we connect to over TLS, must chain to" },
	{ "tls", "verify_server", SET_BOOL, OFF(tls.verify_server), 0, 0, 0, "yes",
	  "outbound TLS: check the server certificate against ca_file (else the system CA store) and the name or address connected to; no is for lab use only" },
	{ "tls", "verify_client", SET_VERIFY, OFF(tls.verify), 0, 0, 0, "none",
	  "client certificates: none, optional (verified when sent) or require" },
	{ "tls", "min_version", SET_TLS_VERSION, OFF(tls.min_version), 0, 0, 0, "1.2",
	  "oldest TLS version accepted: 1.2 or 1.3" },
	{ "tls", "ciphers", SET_STRING, OFF(tls.ciphers), SZ(tls.ciphers), 0, 0,
	  "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20", "OpenSSL cipher list for TLS 1.2" },
	{ "tls", "sni", SET_SNI, 0, 0, 0, 0, "(none)",
	  "name:/path/cert.pem:/path/key.pem, a certificate for one server name; repeatable" },
	{ "tls", "handshake_timeout", SET_UINT, OFF(tls.handshake_timeout_s), 0, 1, 300, "5",
	  "seconds a TLS handshake may take" },
	{ "tls", "require_cert_identity_match", SET_BOOL, OFF(reg.require_cert_identity), 0, 0, 0, "no",
	  "yes: a REGISTER over TLS needs a client certificate naming the To user@domain or domain" },
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
	{ "registrar", "persist", SET_BOOL, OFF(reg.persist), 0, 0, 0, "yes",
	  "no: registrations live in memory only (lost on restart; the location table is not used)" },
	{ "store", "db", SET_STRING, OFF(db_url), SZ(db_url), 0, 0, "sqlite:sipwarden.db",
	  "subscriber and location database URL (sqlite:PATH, mysql://USER:PASSWORD@HOST[:PORT]/DB or postgres://USER:PASSWORD@HOST[:PORT]/DB)" },
	{ "auth", "nonce_lifetime", SET_UINT, OFF(nonce_lifetime), 0, 1, 86400, "300",
	  "seconds a nonce stays valid; older ones are answered stale=true" },
	{ "auth", "tls_only_domains", SET_DOMAIN_LIST, 0, 0, 0, 0, "(none)",
	  "comma-separated domains refused with 403 TLS Required over UDP/TCP (never challenged there)" },
	{ "auth", "secret", SET_STRING, OFF(secret), SZ(secret), 0, 0, "(random at each start)",
	  "key of nonces and of the Record-Route tokens that let in-dialog requests through; set the same value on every node of a cluster (random: dialogs do not survive a restart)" },
	{ "auth", "algorithms", SET_FUNC, 0, 0, 0, 0, "SHA-256, MD5",
	  "challenges offered, one header each, in this order (MD5, SHA-256, SHA-512-256, and -sess forms)", set_auth_algorithms },
	{ "auth", "qop", SET_FUNC, 0, 0, 0, 0, "auth, auth-int", "qop values offered (auth, auth-int, or none)", set_auth_qop },
	{ "auth", "min_algorithm", SET_FUNC, 0, 0, 0, 0, "MD5",
	  "weakest hash family accepted in every realm (MD5, SHA-256 or SHA-512-256)", set_auth_min_algorithm },
	{ "auth", "realm_min_algorithm", SET_FUNC, 0, 0, 0, 0, "(none)",
	  "REALM ALGORITHM: a stricter minimum for one realm, neither offered nor accepted below it; repeatable",
	  set_auth_realm_min_algorithm },
	{ "auth", "load_columns", SET_FUNC, 0, 0, 0, 0, "(none)",
	  "extra subscriber columns read with the credentials (at most 8); a missing column stops the start",
	  set_auth_load_columns },
	{ "auth", "require", SET_FUNC, 0, 0, 0, 0, "(none)",
	  "COLUMN=VALUE the account must hold once its password is proven (else 403 Account Disabled); repeatable",
	  set_auth_require },
	{ "auth", "userhash", SET_BOOL, OFF(auth.userhash), 0, 0, 0, "no",
	  "offer userhash=true (RFC 7616 3.4.4): clients may send H(user:realm) instead of the user name" },
	{ "auth", "next_nonce", SET_BOOL, OFF(auth.next_nonce), 0, 0, 0, "no",
	  "add a nextnonce to Authentication-Info on success" },
	{ "auth", "one_time_nonce", SET_BOOL, OFF(auth.one_time_nonce), 0, 0, 0, "no",
	  "a nonce is good for one request; the next one gets 401 stale=true (use with next_nonce)" },
	{ "auth", "bind_nonce_to_ip", SET_BOOL, OFF(auth.bind_nonce_to_ip), 0, 0, 0, "no",
	  "nonces carry the client's address in their HMAC; from another address they are refused" },
	{ "auth", "replay_table_size", SET_UINT, OFF(auth.replay_slots), 0, 1024, 16777216, "65536",
	  "nonces whose nonce-counts are tracked at once (40 bytes each); untracked ones are stale" },
	{ "auth", "credential_cache_size", SET_UINT, OFF(auth.cred_cache_size), 0, 0, AUTH_CREDCACHE_MAX_SIZE, "16384",
	  "subscriber lookups each worker keeps (known and unknown users alike); 0 turns the cache off" },
	{ "auth", "credential_cache_ttl", SET_UINT, OFF(auth.cred_cache_ttl_s), 0, 0, 86400, "60",
	  "seconds a cached lookup is used; a change made by sipwarden-ctl applies at once, a failure is always checked against the database, other writers' disable/lock/delete may wait this long; 0 turns the cache off" },
	{ "auth", "max_failures", SET_UINT, OFF(auth.max_failures), 0, 0, 1000000, "10",
	  "failed answers per (user, source address) in failure_window before a block; 0 disables the limiter" },
	{ "auth", "max_source_failures", SET_UINT, OFF(auth.max_source_failures), 0, 1, 1000000, "30",
	  "failed answers per source address, any user, in failure_window before a block" },
	{ "auth", "failure_window", SET_UINT, OFF(auth.failure_window_s), 0, 1, 86400, "60",
	  "seconds over which failures are counted" },
	{ "auth", "block_time", SET_UINT, OFF(auth.block_time_s), 0, 1, 604800, "600",
	  "seconds a block lasts; it ends by itself (or with sipwarden-ctl block del)" },
	{ "auth", "block_response", SET_FUNC, 0, 0, 0, 0, "403", "answer to a blocked source: 403 or drop", set_auth_block_response },
	{ "auth", "trusted_networks", SET_FUNC, 0, 0, 0, 0, "(none)",
	  "comma-separated ADDRESS[/PREFIX] never counted nor blocked by the limiter", set_auth_trusted },
	{ "proxy", "trusted", SET_TRUSTED, 0, 0, 0, 0, "(none)",
	  "trusted peer ADDRESS[/PREFIX] [name=NAME]: not challenged, may reach local users; repeatable" },
	{ "proxy", "outbound", SET_NEXTHOP, 0, 0, 0, 0, "(none)",
	  "next hop udp:, tcp: or tls:IP[:PORT] for requests to domains not served here (instead of DNS lookups)" },
	{ "proxy", "outbound_tls_name", SET_STRING, OFF(proxy.outbound_name), SZ(proxy.outbound_name), 0, 0, "(none)",
	  "tls: next hop: server name sent as SNI and required in its certificate; none: the certificate must name the IP address" },
	{ "proxy", "challenge_in_dialog", SET_BOOL, OFF(proxy.challenge_in_dialog), 0, 0, 0, "no",
	  "also challenge requests inside a dialog (To tag present)" },
	{ "proxy", "reveal_not_registered", SET_BOOL, OFF(proxy.reveal_not_registered), 0, 0, 0, "no",
	  "tell anyone 480 (not registered) from 404 (unknown user); default: only local callers and trusted peers" },
	{ "proxy", "allow_guest", SET_BOOL, OFF(proxy.allow_guest), 0, 0, 0, "yes",
	  "callers from other domains (not authenticated, not trusted) may reach local users; no: 403 Guests Not Allowed" },
	{ "proxy", "dns_server", SET_FUNC, 0, 0, 0, 0, "(first nameserver of /etc/resolv.conf)",
	  "IP[:PORT] of the DNS server asked for SRV and A/AAAA of foreign domains (RFC 3263) when no outbound is set",
	  set_proxy_dns_server },
	{ "proxy", "max_transactions", SET_UINT, OFF(proxy.max_transactions), 0, 1, 10000000, "20000",
	  "transactions per worker waiting for a final response; past it a new request gets 503 with Retry-After" },
};
#pragma GCC diagnostic pop

void config_defaults(struct sw_config *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = LOG_LVL_INFO;
	c->tcp_idle_timeout = SW_TCP_IDLE_TIMEOUT_S;
	c->max_tcp_conns = SW_MAX_TCP_CONNS;
	c->max_conns_per_ip = SW_DEFAULT_MAX_CONNS_PER_IP;
	c->tcp_message_timeout = SW_TCP_MESSAGE_TIMEOUT_S;
	c->overload_delay_ms = SW_DEFAULT_OVERLOAD_DELAY_MS;
	c->tls.min_version = 12;
	c->tls.handshake_timeout_s = SW_TLS_HANDSHAKE_TIMEOUT_S;
	c->tls.verify_server = true;
	c->udp_by_call_id = true;
	c->reg.min_expires = SW_DEFAULT_MIN_EXPIRES;
	c->reg.max_expires = SW_DEFAULT_MAX_EXPIRES;
	c->reg.default_expires = SW_DEFAULT_EXPIRES;
	c->reg.max_contacts = SW_DEFAULT_MAX_CONTACTS;
	c->reg.flush_interval_ms = 200;
	c->reg.persist = true;
	snprintf(c->db_url, sizeof(c->db_url), "sqlite:sipwarden.db");
	c->nonce_lifetime = SW_DEFAULT_NONCE_LIFETIME;
	c->proxy.max_transactions = SW_DEFAULT_MAX_TRANSACTIONS;
	c->proxy.allow_guest = true;
	auth_cfg_defaults(&c->auth);
}

static const struct setting *find(const char *section, const char *key)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (strcmp(settings[i].section, section) == 0 && strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

/* A domain as accepted by [registrar] domain. */
static bool domain_ok(const char *value, size_t len)
{
	if (len == 0 || len > SW_MAX_DOMAIN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (strchr(" \t\"\\;,<>@", value[i]))
			return false;
	return true;
}

/* "a.example, b.example" appended to the TLS-only list. */
static int set_domain_list(struct sw_config *c, const char *value, const char **why)
{
	const char *p = value;

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, ", \t");
		if (!domain_ok(p, n)) {
			*why = "expected domain names separated by commas";
			return -EINVAL;
		}
		if (c->reg.ntls_only == SW_MAX_DOMAINS) {
			*why = "too many domains";
			return -EINVAL;
		}
		snprintf(c->reg.tls_only[c->reg.ntls_only++], SW_MAX_DOMAIN + 1, "%.*s", (int)n, p);
		p += n;
	}
	return 0;
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
			*why = "expected udp:IP[:PORT], tcp:IP[:PORT] or tls:IP[:PORT] (IPv6 in brackets)";
			return -EINVAL;
		}
		c->nlistens++;
		return 0;
	case SET_FUNC:
		return s->parse(c, value, why);
	case SET_BOOL: {
		bool *b = (bool *)((char *)c + s->offset);
		if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "on"))
			*b = true;
		else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "off"))
			*b = false;
		else {
			*why = "expected yes or no";
			return -EINVAL;
		}
		return 0;
	}
	case SET_VERIFY: {
		enum tp_verify *v = (enum tp_verify *)((char *)c + s->offset);
		if (!strcmp(value, "none"))
			*v = TP_VERIFY_NONE;
		else if (!strcmp(value, "optional"))
			*v = TP_VERIFY_OPTIONAL;
		else if (!strcmp(value, "require"))
			*v = TP_VERIFY_REQUIRE;
		else {
			*why = "expected none, optional or require";
			return -EINVAL;
		}
		return 0;
	}
	case SET_TLS_VERSION: {
		unsigned *v = (unsigned *)((char *)c + s->offset);
		if (!strcmp(value, "1.2"))
			*v = 12;
		else if (!strcmp(value, "1.3"))
			*v = 13;
		else {
			*why = "expected 1.2 or 1.3 (older versions are not offered)";
			return -EINVAL;
		}
		return 0;
	}
	case SET_SNI:
		if (c->tls.nsni == SW_MAX_TLS_SNI) {
			*why = "too many sni entries";
			return -EINVAL;
		}
		if (tp_tls_sni_parse(&c->tls.sni[c->tls.nsni], value)) {
			*why = "expected name:/path/cert.pem:/path/key.pem";
			return -EINVAL;
		}
		c->tls.nsni++;
		return 0;
	case SET_TRUSTED:
		return set_proxy_trusted(c, value, why);
	case SET_NEXTHOP:
		return set_proxy_outbound(c, value, why);
	case SET_DOMAIN_LIST:
		return set_domain_list(c, value, why);
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
	for (unsigned i = 0; i < c->nlistens; i++) {
		if (c->listens[i].proto == TP_TLS && (!c->tls.cert[0] || !c->tls.key[0])) {
			snprintf(err, errcap, "%s needs [tls] certificate and private_key (--tls-cert, --tls-key)",
				 c->listens[i].text);
			return -EINVAL;
		}
	}
	if (c->proxy.has_outbound) {
		/* Via must name a listen address of the next hop's transport. */
		bool found = false;
		for (unsigned i = 0; i < c->nlistens && !found; i++)
			found = c->listens[i].proto == c->proxy.outbound.proto &&
				c->listens[i].addr.ss_family == c->proxy.outbound.addr.ss_family;
		if (!found) {
			snprintf(err, errcap, "[proxy] outbound %s needs a %s listen address of the same IP family",
				 c->proxy.outbound.text, tp_proto_name(c->proxy.outbound.proto));
			return -EINVAL;
		}
	}
	if (c->tls.verify != TP_VERIFY_NONE && !c->tls.ca_file[0]) {
		snprintf(err, errcap, "[tls] verify_client needs [tls] ca_file (--tls-ca)");
		return -EINVAL;
	}
	if (c->reg.require_cert_identity && c->tls.verify == TP_VERIFY_NONE) {
		snprintf(err, errcap, "[tls] require_cert_identity_match needs verify_client optional or require");
		return -EINVAL;
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
	if (strcmp(c->control_socket, "none") == 0) {
		c->control_socket[0] = '\0';
		c->control_socket_off = true;
	} else if (!c->control_socket[0]) {
		c->control_socket_derived = true;
		if (config_control_socket_default(c->db_url, c->control_socket, sizeof(c->control_socket)))
			c->control_socket[0] = '\0';
	}
	const char *why;
	if (auth_cfg_check(&c->auth, &why)) {
		snprintf(err, errcap, "%s", why);
		return -EINVAL;
	}
	c->reg.db_url = c->db_url;
	c->auth.secret = c->secret[0] ? c->secret : NULL;
	c->auth.nonce_lifetime_s = c->nonce_lifetime;
	c->auth.db_url = c->db_url;
	return 0;
}

int config_control_socket_default(const char *db_url, char *out, size_t cap)
{
	const char *path = strncmp(db_url, "sqlite:", 7) == 0 ? db_url + 7 : "";
	int n;

	/* ":memory:" and other special names have no file to sit next to. */
	if (!path[0] || path[0] == ':')
		n = snprintf(out, cap, "sipwarden.ctl");
	else
		n = snprintf(out, cap, "%s.ctl", path);
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			out[0] = '\0';
		return -ENAMETOOLONG;
	}
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
