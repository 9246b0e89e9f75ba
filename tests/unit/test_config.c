/* Unit tests for the configuration loader (app/config.c): defaults, each kind of
 * setting, errors naming file, line and problem, cross-field checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "app/config.h"

static char path[64];

static void write_file(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/sw-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void defaults_are_sane(void **state)
{
	(void)state;
	struct sw_config c;
	char err[256];
	config_defaults(&c);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_int_equal(c.nlistens, 2);
	assert_string_equal(c.listens[0].text, "udp:127.0.0.1:5060");
	assert_string_equal(c.listens[1].text, "tcp:127.0.0.1:5060");
	assert_int_equal(c.reg.min_expires, 60);
	assert_int_equal(c.reg.default_expires, 3600);
	assert_int_equal(c.nonce_lifetime, 300);
	assert_true(c.workers >= 1);
	assert_string_equal(c.db_url, "sqlite:sipwarden.db");
}

static void file_settings_are_applied(void **state)
{
	(void)state;
	struct sw_config c;
	char err[256];
	write_file("; comment\n[server]\nlisten = udp:[::1]:5070\nlisten = tcp:10.0.0.1\nworkers = 3\n"
		   "log_level = debug\n[registrar]\ndomain = example.com\ndomain = 192.0.2.1\nmin_expires = 30\n"
		   "[store]\ndb = sqlite:/tmp/x.db\n[auth]\nnonce_lifetime = 60\nsecret = s3\n");
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_int_equal(c.nlistens, 2);
	assert_string_equal(c.listens[0].text, "udp:[::1]:5070");
	assert_string_equal(c.listens[1].text, "tcp:10.0.0.1:5060");
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	assert_int_equal(c.reg.ndomains, 2);
	assert_string_equal(c.reg.domains[1], "192.0.2.1");
	assert_int_equal(c.reg.min_expires, 30);
	assert_string_equal(c.db_url, "sqlite:/tmp/x.db");
	assert_int_equal(c.nonce_lifetime, 60);
	assert_string_equal(c.secret, "s3");
}

static void bad_line_names_file_line_and_problem(void **state)
{
	(void)state;
	struct sw_config c;
	char err[512], want[128];
	write_file("[server]\nworkers = 2\n\n[registrar]\nmin_expires = soon\n");
	config_defaults(&c);
	assert_int_not_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s:5: min_expires = soon: expected a whole number", path);
	assert_string_equal(err, want);
	unlink(path);

	write_file("[server]\nlisten = sctp:1.2.3.4\n");
	config_defaults(&c);
	assert_int_not_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s:2: listen = sctp:1.2.3.4:", path);
	assert_memory_equal(err, want, strlen(want));
	unlink(path);

	write_file("[server]\nworkrs = 2\n");
	config_defaults(&c);
	assert_int_not_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	assert_non_null(strstr(err, ":2: workrs = 2: unknown setting 'workrs' in section [server]"));
	unlink(path);

	write_file("[server]\nthis line has no equals sign\n");
	config_defaults(&c);
	assert_int_not_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	assert_non_null(strstr(err, ":2: syntax error"));
	unlink(path);
}

static void secret_is_not_echoed_in_errors(void **state)
{
	(void)state;
	struct sw_config c;
	char err[1024], text[600];
	char longsecret[300];
	memset(longsecret, 'q', sizeof(longsecret) - 1);
	longsecret[sizeof(longsecret) - 1] = '\0';
	snprintf(text, sizeof(text), "[auth]\nsecret = %s\n", longsecret);
	write_file(text);
	config_defaults(&c);
	assert_int_not_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	assert_null(strstr(err, "qqqq"));
	assert_non_null(strstr(err, ":2: line too long"));
	unlink(path);
}

static void ranges_and_cross_checks(void **state)
{
	(void)state;
	struct sw_config c;
	const char *why;
	char err[256];
	config_defaults(&c);
	assert_int_not_equal(config_set(&c, "registrar", "max_contacts", "0", &why), 0);
	assert_string_equal(why, "value out of range (1..64)");
	assert_int_not_equal(config_set(&c, "registrar", "domain", "bad domain", &why), 0);
	assert_int_not_equal(config_set(&c, "server", "workers", "-1", &why), 0);
	assert_int_equal(config_set(&c, "registrar", "min_expires", "7200", &why), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_int_equal(c.reg.default_expires, 7200); /* raised to the minimum */
	assert_int_equal(config_set(&c, "registrar", "max_expires", "300", &why), 0);
	assert_int_not_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "min_expires (7200) is larger than max_expires (300)"));
	assert_int_equal(config_set(&c, "registrar", "min_expires", "60", &why), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_int_equal(c.reg.default_expires, 300); /* lowered to the maximum */
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
					 : ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void proxy_dns_server_and_transaction_cap(void **state)
{
	(void)state;
	struct sw_config c;
	const char *why;
	config_defaults(&c);
	assert_false(c.proxy.has_dns_server);
	assert_int_equal(c.proxy.max_transactions, SW_DEFAULT_MAX_TRANSACTIONS);
	assert_int_equal(config_set(&c, "proxy", "dns_server", "127.0.0.1:5353", &why), 0);
	assert_true(c.proxy.has_dns_server);
	assert_int_equal(port_of(&c.proxy.dns_server), 5353);
	assert_int_equal(config_set(&c, "proxy", "dns_server", "192.0.2.53", &why), 0);
	assert_int_equal(port_of(&c.proxy.dns_server), 53);
	assert_int_equal(config_set(&c, "proxy", "dns_server", "[::1]", &why), 0);
	assert_int_equal(c.proxy.dns_server.ss_family, AF_INET6);
	assert_int_equal(port_of(&c.proxy.dns_server), 53);
	assert_int_equal(config_set(&c, "proxy", "dns_server", "[::1]:5300", &why), 0);
	assert_int_equal(port_of(&c.proxy.dns_server), 5300);
	assert_int_not_equal(config_set(&c, "proxy", "dns_server", "dns.example", &why), 0);
	assert_int_not_equal(config_set(&c, "proxy", "max_transactions", "0", &why), 0);
	assert_int_equal(config_set(&c, "proxy", "max_transactions", "5", &why), 0);
	assert_int_equal(c.proxy.max_transactions, 5);
}

static void missing_file_is_reported(void **state)
{
	(void)state;
	struct sw_config c;
	char err[256];
	config_defaults(&c);
	assert_int_not_equal(config_load_file(&c, "/nonexistent/sipwarden.conf", err, sizeof(err)), 0);
	assert_string_equal(err, "/nonexistent/sipwarden.conf: No such file or directory");
}

/* [auth] realm_min_algorithm, load_columns and require: applied, and refused
 * with FILE:LINE for bad identifiers, too many columns, repeated realms, and a
 * minimum that leaves nothing to offer (a cross-check after loading). */
static void auth_policy_settings(void **state)
{
	(void)state;
	struct sw_config c;
	char err[512];
	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
		{ "[auth]\nload_columns = status, a-b\n", ":2: load_columns = status, a-b: expected column names" },
		{ "[auth]\nload_columns = password\n", ":2: load_columns = password: expected column names" },
		{ "[auth]\n\nload_columns = c1, c2, c3, c4, c5, c6, c7, c8, c9\n", ":3: load_columns = c1" },
		{ "[auth]\nload_columns = a, b, c, d, e, f, g\nrequire = h=1\nrequire = i=1\n", ":4: require = i=1: too many" },
		{ "[auth]\nrequire = status\n", ":2: require = status: expected COLUMN=VALUE" },
		{ "[auth]\nrequire = 9lives=1\n", ":2: require = 9lives=1: expected column names" },
		{ "[auth]\nrealm_min_algorithm = a.example SHA-256\nrealm_min_algorithm = A.example MD5\n",
		  ":3: realm_min_algorithm = A.example MD5: realm already has a minimum algorithm" },
		{ "[auth]\nrealm_min_algorithm = a.example SHA-1\n", ":2: realm_min_algorithm = a.example SHA-1: expected" },
	};

	write_file("[auth]\nload_columns = rpid, plan\nrequire = status=0\nrequire = plan = gold\n"
		   "realm_min_algorithm = Strict.example SHA-512-256\nmin_algorithm = MD5\n"
		   "algorithms = SHA-512-256, SHA-256, MD5\n");
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_int_equal(c.auth.nload_columns, 3);
	assert_string_equal(c.auth.load_columns[0], "rpid");
	assert_string_equal(c.auth.load_columns[2], "status");
	assert_int_equal(c.auth.nrequire, 2);
	assert_int_equal(c.auth.require[1].col, 1);
	assert_string_equal(c.auth.require[1].value, "gold");
	assert_int_equal(c.auth.nrealm_min, 1);
	assert_string_equal(c.auth.realm_min[0].realm, "strict.example");
	assert_int_equal(c.auth.realm_min[0].rank, 2);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(bad[i].text);
		config_defaults(&c);
		assert_int_not_equal(config_load_file(&c, path, err, sizeof(err)), 0);
		unlink(path);
		if (!strstr(err, bad[i].want))
			fail_msg("case %zu: %s", i, err);
	}

	write_file("[auth]\nalgorithms = MD5\nrealm_min_algorithm = b.example SHA-256\n");
	config_defaults(&c);
	assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
	unlink(path);
	assert_int_equal(config_finish(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "realm_min_algorithm for b.example leaves none"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_are_sane),
		cmocka_unit_test(file_settings_are_applied),
		cmocka_unit_test(bad_line_names_file_line_and_problem),
		cmocka_unit_test(secret_is_not_echoed_in_errors),
		cmocka_unit_test(ranges_and_cross_checks),
		cmocka_unit_test(proxy_dns_server_and_transaction_cap),
		cmocka_unit_test(missing_file_is_reported),
		cmocka_unit_test(auth_policy_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
