/* Unit tests for the TLS-related pure parts: tls: listen addresses (port 5061,
 * RFC 3261 §26.2), SNI entries, the [tls]/[auth]/[server] settings and their
 * cross-checks, and the registrar's TLS policy helpers (tls_only domains,
 * certificate identity against an AOR). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "app/config.h"
#include "registrar/registrar.h"
#include "transport/tp.h"

static void tls_listen_default_port(void **state)
{
	(void)state;
	struct tp_listen l;
	assert_int_equal(tp_listen_parse(&l, "tls:127.0.0.1"), 0);
	assert_int_equal(l.proto, TP_TLS);
	assert_string_equal(l.text, "tls:127.0.0.1:5061");
	assert_int_equal(tp_listen_parse(&l, "tls:[::1]:5071"), 0);
	assert_string_equal(l.text, "tls:[::1]:5071");
	assert_int_equal(tp_listen_parse(&l, "udp:127.0.0.1"), 0);
	assert_string_equal(l.text, "udp:127.0.0.1:5060");
	assert_int_equal(tp_listen_parse(&l, "tls:127.0.0.1:0"), -EINVAL);
	assert_int_equal(tp_listen_parse(&l, "tls:::1"), -EINVAL);
	assert_int_equal(tp_listen_parse(&l, "tlsx:127.0.0.1"), -EINVAL);
	assert_int_equal(tp_listen_parse(&l, "sctp:127.0.0.1"), -EINVAL);
}

static void sni_entries(void **state)
{
	(void)state;
	struct tp_tls_sni s;
	assert_int_equal(tp_tls_sni_parse(&s, "example.com:/etc/c.pem:/etc/k.pem"), 0);
	assert_string_equal(s.name, "example.com");
	assert_string_equal(s.cert, "/etc/c.pem");
	assert_string_equal(s.key, "/etc/k.pem");
	assert_int_equal(tp_tls_sni_parse(&s, "example.com:/etc/c.pem"), -EINVAL);
	assert_int_equal(tp_tls_sni_parse(&s, ":/c:/k"), -EINVAL);
	assert_int_equal(tp_tls_sni_parse(&s, "a::/k"), -EINVAL);
	assert_int_equal(tp_tls_sni_parse(&s, "a:/c:"), -EINVAL);
	assert_int_equal(tp_tls_sni_parse(&s, "a:/c:/k:/x"), -EINVAL);
}

static void tls_settings(void **state)
{
	(void)state;
	struct sw_config c;
	const char *why;
	char err[256];

	config_defaults(&c);
	assert_int_equal(c.tls.min_version, 12);
	assert_int_equal(c.tls.handshake_timeout_s, 5);
	assert_int_equal(c.max_conns_per_ip, 64);
	assert_int_equal(c.tcp_message_timeout, 10);
	assert_int_equal(config_set(&c, "server", "listen", "tls:127.0.0.1", &why), 0);
	/* a tls: listen without certificate is refused */
	assert_int_not_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "certificate"));
	assert_int_equal(config_set(&c, "tls", "certificate", "/c.pem", &why), 0);
	assert_int_equal(config_set(&c, "tls", "private_key", "/k.pem", &why), 0);
	assert_int_equal(config_set(&c, "tls", "min_version", "1.3", &why), 0);
	assert_int_equal(c.tls.min_version, 13);
	assert_int_not_equal(config_set(&c, "tls", "min_version", "1.1", &why), 0);
	assert_int_not_equal(config_set(&c, "tls", "verify_client", "maybe", &why), 0);
	assert_int_equal(config_set(&c, "tls", "verify_client", "require", &why), 0);
	assert_int_equal(c.tls.verify, TP_VERIFY_REQUIRE);
	/* verify_client without a CA cannot work */
	assert_int_not_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "ca_file"));
	assert_int_equal(config_set(&c, "tls", "ca_file", "/ca.pem", &why), 0);
	assert_int_equal(config_set(&c, "tls", "require_cert_identity_match", "yes", &why), 0);
	assert_true(c.reg.require_cert_identity);
	assert_int_not_equal(config_set(&c, "tls", "require_cert_identity_match", "perhaps", &why), 0);
	assert_int_equal(config_set(&c, "tls", "sni", "a.test:/a.pem:/a.key", &why), 0);
	assert_int_equal(c.tls.nsni, 1);
	assert_int_not_equal(config_set(&c, "tls", "sni", "a.test", &why), 0);
	assert_int_equal(config_set(&c, "auth", "tls_only_domains", "example.com, b.test,c.test", &why), 0);
	assert_int_equal(c.reg.ntls_only, 3);
	assert_string_equal(c.reg.tls_only[1], "b.test");
	assert_int_not_equal(config_set(&c, "auth", "tls_only_domains", "a@b", &why), 0);
	assert_int_equal(config_set(&c, "server", "max_connections_per_ip", "8", &why), 0);
	assert_int_not_equal(config_set(&c, "server", "max_connections_per_ip", "0", &why), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
}

static void tls_only_domains(void **state)
{
	(void)state;
	static struct registrar_cfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	assert_false(registrar_tls_required(&cfg, slice_from("example.com", 11)));
	strcpy(cfg.tls_only[0], "example.com");
	cfg.ntls_only = 1;
	assert_true(registrar_tls_required(&cfg, slice_from("EXAMPLE.com", 11)));
	assert_false(registrar_tls_required(&cfg, slice_from("example.co", 10)));
}

static bool id_matches(const char *id, const char *user, const char *host)
{
	return registrar_cert_identity_matches(id, slice_from(user, strlen(user)), slice_from(host, strlen(host)));
}

static void cert_identity(void **state)
{
	(void)state;
	assert_true(id_matches("sip:alice@example.com", "alice", "example.com"));
	assert_true(id_matches("sips:alice@Example.COM", "alice", "example.com"));
	assert_true(id_matches("alice@example.com", "alice", "example.com"));
	assert_true(id_matches("example.com", "anyone", "EXAMPLE.com"));
	assert_false(id_matches("sip:alice@example.com", "bob", "example.com"));
	assert_false(id_matches("sip:Alice@example.com", "alice", "example.com")); /* user part is case-sensitive */
	assert_false(id_matches("sip:alice@example.org", "alice", "example.com"));
	assert_false(id_matches("other.test", "alice", "example.com"));
	assert_false(id_matches("", "alice", "example.com"));
	assert_false(id_matches(NULL, "alice", "example.com"));
	assert_false(id_matches("sip:", "alice", "example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tls_listen_default_port),
		cmocka_unit_test(sni_entries),
		cmocka_unit_test(tls_settings),
		cmocka_unit_test(tls_only_domains),
		cmocka_unit_test(cert_identity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
