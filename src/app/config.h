/* Daemon configuration: defaults, the INI file (sipwarden.conf) and command-line
 * options, all going through one table of settings so both report errors the
 * same way and the reference documentation matches the code. */
#ifndef SW_CONFIG_H
#define SW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/limits.h"
#include "base/log.h"
#include "proxy/proxy.h"
#include "registrar/registrar.h"
#include "transport/tp.h"

struct sw_config {
	struct tp_listen listens[SW_MAX_LISTEN];
	unsigned nlistens;
	unsigned workers;            /**< 0: one per core */
	enum log_level log_level;
	unsigned tcp_idle_timeout;
	unsigned max_tcp_conns;
	unsigned max_conns_per_ip;   /**< TCP+TLS connections from one address */
	unsigned tcp_message_timeout;/**< seconds to complete a started message */
	unsigned overload_delay_ms;  /**< shed new requests queued longer; 0 = never */
	bool udp_by_call_id;         /**< UDP requests served by their Call-ID's worker */
	struct tp_tls_cfg tls;       /**< [tls] */
	struct registrar_cfg reg;    /**< domains, expiry, contacts, flush interval */
	struct proxy_cfg proxy;      /**< [proxy]: trusted peers, outbound, challenge policy */
	char db_url[512];
	/** [server] control_socket: "" until config_finish derives it from the
	 * database path; "" after it when disabled ("none") or when the derived
	 * path is too long for a Unix socket (control_socket_off tells which). */
	char control_socket[108];
	bool control_socket_off;
	bool control_socket_derived; /**< the path is the default, not configured */
	unsigned nonce_lifetime;
	char secret[256];            /**< "" = random per start */
	struct auth_cfg auth;        /**< [auth] digest, replay and limiter settings */
	/* Set while applying command-line options: the first --listen/--domain
	 * replaces the file's list instead of adding to it. */
	bool cli_listen_seen, cli_domain_seen;
};

/* Fill with built-in defaults. */
void config_defaults(struct sw_config *c);
/* Apply one setting. 0, or -EINVAL with *why naming the problem. */
int config_set(struct sw_config *c, const char *section, const char *key, const char *value, const char **why);
/* Load an INI file. 0, or -errno with err holding "FILE:LINE: problem". */
int config_load_file(struct sw_config *c, const char *path, char *err, size_t errcap);
/* Cross-field checks after everything is applied (min <= default <= max ...). */
int config_finish(struct sw_config *c, char *err, size_t errcap);
/* The control socket path that goes with a database URL: the database file's
 * path with ".ctl" appended ("sqlite:/var/lib/sipwarden/sw.db" ->
 * "/var/lib/sipwarden/sw.db.ctl"), "sipwarden.ctl" for a database without a
 * file. 0, or -ENAMETOOLONG when it does not fit in cap bytes. */
int config_control_socket_default(const char *db_url, char *out, size_t cap);
/* Print the settings reference (section, key, default, meaning). */
void config_print_reference(void);

#endif
