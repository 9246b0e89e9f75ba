/* sipwarden: the registrar daemon's main(). Loads the configuration (file, then
 * command line), opens the store, starts the registrar and the workers, and
 * waits for SIGTERM/SIGINT to shut down cleanly (registrations flushed). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/config.h"
#include "app/ctlsrv.h"
#include "app/daemon.h"
#include "base/log.h"
#include "base/util.h"
#include "txn/txn.h"

#include <pthread.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sipwarden [options]\n"
		"  -c, --config FILE          read settings from FILE (INI, see --help-config)\n"
		"  -l, --listen PROTO:IP:PORT listen address, udp, tcp or tls (repeatable)\n"
		"      --tls-cert FILE        TLS certificate chain (PEM)\n"
		"      --tls-key FILE         TLS private key (PEM)\n"
		"      --tls-ca FILE          CAs for client certificates (PEM)\n"
		"  -d, --domain NAME          SIP domain / digest realm served (repeatable)\n"
		"      --db URL               database: sqlite:PATH, mysql://USER:PASSWORD@HOST[:PORT]/DB\n"
		"                             or postgres://USER:PASSWORD@HOST[:PORT]/DB (default sqlite:sipwarden.db)\n"
		"  -w, --workers N            worker threads (default: one per core)\n"
		"      --log-level LEVEL      error, warn, info, debug (default info)\n"
		"      --min-expires S        shortest registration accepted (default 60)\n"
		"      --max-expires S        longest registration granted (default 86400)\n"
		"      --default-expires S    expiry when none is asked (default 3600)\n"
		"      --max-contacts N       contacts per address-of-record (default 10)\n"
		"      --nonce-lifetime S     nonce validity (default 300)\n"
		"      --secret STRING        nonce signing secret (default random)\n"
		"      --flush-interval MS    registration write-back period (default 200)\n"
		"      --help-config          print every configuration setting\n"
		"  -h, --help                 this text\n");
}

/* Command-line option -> (section, key) of the settings table. */
struct cli_map {
	const char *name;
	const char *section;
	const char *key;
};

static const struct cli_map cli_maps[] = {
	{ "listen", "server", "listen" },
	{ "domain", "registrar", "domain" },
	{ "db", "store", "db" },
	{ "workers", "server", "workers" },
	{ "log-level", "server", "log_level" },
	{ "min-expires", "registrar", "min_expires" },
	{ "max-expires", "registrar", "max_expires" },
	{ "default-expires", "registrar", "default_expires" },
	{ "max-contacts", "registrar", "max_contacts" },
	{ "nonce-lifetime", "auth", "nonce_lifetime" },
	{ "secret", "auth", "secret" },
	{ "flush-interval", "registrar", "flush_interval_ms" },
	{ "tls-cert", "tls", "certificate" },
	{ "tls-key", "tls", "private_key" },
	{ "tls-ca", "tls", "ca_file" },
};

static const struct option long_opts[] = {
	{ "listen", required_argument, NULL, 0 },
	{ "domain", required_argument, NULL, 0 },
	{ "db", required_argument, NULL, 0 },
	{ "workers", required_argument, NULL, 0 },
	{ "log-level", required_argument, NULL, 0 },
	{ "min-expires", required_argument, NULL, 0 },
	{ "max-expires", required_argument, NULL, 0 },
	{ "default-expires", required_argument, NULL, 0 },
	{ "max-contacts", required_argument, NULL, 0 },
	{ "nonce-lifetime", required_argument, NULL, 0 },
	{ "secret", required_argument, NULL, 0 },
	{ "flush-interval", required_argument, NULL, 0 },
	{ "tls-cert", required_argument, NULL, 0 },
	{ "tls-key", required_argument, NULL, 0 },
	{ "tls-ca", required_argument, NULL, 0 },
	{ "config", required_argument, NULL, 'c' },
	{ "help-config", no_argument, NULL, 1 },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int apply_cli(struct sw_config *cfg, const char *name, const char *value)
{
	for (size_t i = 0; i < sizeof(cli_maps) / sizeof(cli_maps[0]); i++) {
		if (strcmp(cli_maps[i].name, name) != 0)
			continue;
		if (strcmp(name, "listen") == 0 && !cfg->cli_listen_seen) {
			cfg->cli_listen_seen = true;
			cfg->nlistens = 0;
		}
		if (strcmp(name, "domain") == 0 && !cfg->cli_domain_seen) {
			cfg->cli_domain_seen = true;
			cfg->reg.ndomains = 0;
		}
		const char *why;
		if (config_set(cfg, cli_maps[i].section, cli_maps[i].key, value, &why)) {
			fprintf(stderr, "sipwarden: --%s %s: %s\n", name,
				strcmp(name, "secret") == 0 ? "(hidden)" : value, why);
			return -1;
		}
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static struct sw_config cfg;
	static struct daemon d;
	const char *config_path = NULL;
	char err[600];
	int opt, idx;

	config_defaults(&cfg);
	/* First pass: only find --config, so the command line can override the file. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "c:l:d:w:h", long_opts, &idx)) != -1)
		if (opt == 'c')
			config_path = optarg;
	if (config_path && config_load_file(&cfg, config_path, err, sizeof(err))) {
		fprintf(stderr, "sipwarden: %s\n", err);
		return 2;
	}
	optind = 1;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, "c:l:d:w:h", long_opts, &idx)) != -1) {
		int rc = 0;
		switch (opt) {
		case 0:
			rc = apply_cli(&cfg, long_opts[idx].name, optarg);
			break;
		case 'l':
			rc = apply_cli(&cfg, "listen", optarg);
			break;
		case 'd':
			rc = apply_cli(&cfg, "domain", optarg);
			break;
		case 'w':
			rc = apply_cli(&cfg, "workers", optarg);
			break;
		case 'c':
			break;
		case 1:
			config_print_reference();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (rc)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "sipwarden: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (config_finish(&cfg, err, sizeof(err))) {
		fprintf(stderr, "sipwarden: %s\n", err);
		return 2;
	}
	log_set_level(cfg.log_level);

	/* Signals are taken synchronously by main; workers never see them. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The control socket is bound before any thread starts (umask 077). */
	struct ctlsrv *ctl = NULL;
	int rc;
	if (cfg.control_socket[0]) {
		rc = ctlsrv_open(&ctl, cfg.control_socket);
		/* A database directory the daemon may not write to (or that is
		 * missing, which the store reports next) costs the default socket
		 * only; a configured path, or one in use, must work. */
		if (rc == -EACCES || rc == -EROFS || rc == -EPERM || rc == -ENOENT) {
			if (!cfg.control_socket_derived)
				return 1;
			LOG_WARN("running without a control socket; set [server] control_socket to a writable place");
		} else if (rc) {
			return 1;
		}
	} else if (!cfg.control_socket_off) {
		LOG_WARN("no control socket: the path derived from the database is too long; "
			 "set [server] control_socket");
	}

	d.cfg = &cfg;
	rc = auth_ctx_setup(&d.auth, &cfg.auth);
	if (rc) {
		LOG_ERR("cannot initialise authentication: %s", strerror(-rc));
		ctlsrv_close(ctl);
		return 1;
	}
	/* Opening the store once here reports a bad database before any socket opens. */
	struct store *probe;
	char db_shown[256]; /* the URL without its password */
	store_url_redact(cfg.db_url, db_shown, sizeof(db_shown));
	rc = store_open(&probe, cfg.db_url);
	if (rc) {
		LOG_ERR("cannot open database %s: %s", db_shown, strerror(-rc));
		ctlsrv_close(ctl);
		return 1;
	}
	store_close(probe);
	/* First MD5 logins are recorded by the registrar's write-back thread. */
	if (cfg.reg.db_url) {
		rc = auth_pinq_new(&d.auth.pins);
		if (rc) {
			LOG_ERR("cannot initialise authentication: %s", strerror(-rc));
			return 1;
		}
		cfg.reg.pins = d.auth.pins;
	}
	rc = registrar_new(&d.reg, &cfg.reg);
	if (rc) {
		LOG_ERR("cannot start the registrar: %s", strerror(-rc));
		ctlsrv_close(ctl);
		return 1;
	}
	if (cfg.reg.ndomains == 0)
		LOG_WARN("no domain configured: REGISTER accepted for any domain of the subscriber table");
	d.proxy.cfg = &cfg.proxy;
	d.proxy.reg = d.reg;
	d.proxy.auth = &d.auth;
	d.proxy.listens = cfg.listens;
	d.proxy.nlistens = cfg.nlistens;

	struct tp_server_cfg tcfg = {
		.listens = cfg.listens,
		.nlistens = cfg.nlistens,
		.nworkers = cfg.workers,
		.on_msg = daemon_on_msg,
		.on_thread = daemon_on_thread,
		.on_tick = daemon_on_tick,
		.on_idle = daemon_on_idle,
		.on_conn_fail = daemon_on_conn_fail,
		.arg = &d,
		.tcp_idle_timeout_s = cfg.tcp_idle_timeout,
		.max_tcp_conns = cfg.max_tcp_conns,
		.max_conns_per_ip = cfg.max_conns_per_ip,
		.tcp_message_timeout_s = cfg.tcp_message_timeout,
		.tls = &cfg.tls,
		.udp_steer_prefix = TXN_BRANCH_PREFIX,
		.udp_by_call_id = cfg.udp_by_call_id,
	};
	struct tp_server *srv;
	rc = tp_server_start(&srv, &tcfg);
	if (rc) {
		registrar_free(d.reg);
		ctlsrv_close(ctl);
		return 1;
	}
	if (ctl && ctlsrv_start(ctl, srv, d.reg)) {
		tp_server_stop(srv);
		registrar_free(d.reg);
		ctlsrv_close(ctl);
		return 1;
	}
	LOG_INFO("ready: %u workers, database %s", cfg.workers, db_shown);

	for (;;) {
		int sig;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			LOG_INFO("SIGHUP ignored (restart to apply configuration changes)");
			continue;
		}
		LOG_INFO("signal %d: shutting down", sig);
		break;
	}
	ctlsrv_close(ctl); /* before the workers it asks go away */
	tp_server_stop(srv);
	registrar_free(d.reg); /* writes the queued first-use records too */
	auth_pinq_free(d.auth.pins);
	d.auth.pins = NULL;
	auth_ctx_fini(&d.auth);
	LOG_INFO("stopped");
	return 0;
}
