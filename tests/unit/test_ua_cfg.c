/* The UA's configuration: which transport, port, URI scheme and TLS name a
 * server/AOR/transport combination gives (sips: means TLS, TLS means port 5061
 * unless one is given), and the TLS options sw_ua_new() refuses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sipwarden/ua.h"
#include "ua/ua_int.h"

static struct sw_ua *make(const char *server, const char *aor, enum sw_ua_transport t)
{
	struct sw_ua_cfg cfg = { .server = server, .aor = aor, .transport = t };
	struct sw_ua *ua = NULL;

	assert_int_equal(sw_ua_new(&ua, &cfg), 0);
	return ua;
}

static void test_default_ports(void **state)
{
	struct sw_ua *ua;

	(void)state;
	ua = make("proxy.example.com", "alice@example.com", SW_UA_UDP);
	assert_int_equal(ua->server_port, 5060);
	assert_int_equal(ua->transport, SW_UA_UDP);
	sw_ua_free(ua);
	ua = make("proxy.example.com", "alice@example.com", SW_UA_TCP);
	assert_int_equal(ua->server_port, 5060);
	sw_ua_free(ua);
	ua = make("proxy.example.com", "alice@example.com", SW_UA_TLS);
	assert_int_equal(ua->server_port, 5061);
	assert_false(ua->sips);
	assert_string_equal(ua->tls_name, "proxy.example.com");
	assert_true(ua->tls_verify);
	sw_ua_free(ua);
	ua = make("[::1]", "alice@example.com", SW_UA_TLS);
	assert_int_equal(ua->server_port, 5061);
	assert_string_equal(ua->tls_name, "::1");
	sw_ua_free(ua);
	ua = make("127.0.0.1:6061", "alice@example.com", SW_UA_TLS);
	assert_int_equal(ua->server_port, 6061);
	sw_ua_free(ua);
}

static void test_sips_means_tls(void **state)
{
	struct sw_ua *ua;

	(void)state;
	ua = make("example.com", "sips:alice@example.com", SW_UA_UDP);
	assert_int_equal(ua->transport, SW_UA_TLS);
	assert_int_equal(ua->server_port, 5061);
	assert_true(ua->sips);
	assert_string_equal(ua->user, "alice");
	assert_string_equal(ua->domain, "example.com");
	sw_ua_free(ua);
	ua = make("sips:example.com:5071", "alice@example.com", SW_UA_TCP);
	assert_int_equal(ua->transport, SW_UA_TLS);
	assert_int_equal(ua->server_port, 5071);
	assert_string_equal(ua->server_host, "example.com");
	sw_ua_free(ua);
	ua = make("sip:example.com", "sip:alice@example.com", SW_UA_UDP);
	assert_int_equal(ua->transport, SW_UA_UDP);
	assert_false(ua->sips);
	sw_ua_free(ua);
}

static void test_tls_options(void **state)
{
	struct sw_ua_cfg cfg = { .server = "127.0.0.1", .aor = "alice@example.com", .transport = SW_UA_TLS };
	struct sw_ua *ua = NULL;
	char info[128];

	(void)state;
	cfg.tls_server_name = "sip.example.com";
	cfg.tls_insecure = true;
	assert_int_equal(sw_ua_new(&ua, &cfg), 0);
	assert_string_equal(ua->tls_name, "sip.example.com");
	assert_false(ua->tls_verify);
	assert_int_equal(sw_ua_tls_info(ua, info, sizeof(info)), -ENOTCONN); /* nothing opened yet */
	sw_ua_free(ua);

	cfg.tls_insecure = false;
	cfg.tls_ca_file = "/nonexistent/ca.pem";
	assert_int_equal(sw_ua_new(&ua, &cfg), -ENOENT);
	assert_null(ua);
	cfg.tls_ca_file = "/dev/null"; /* readable, but no certificate in it */
	assert_int_equal(sw_ua_new(&ua, &cfg), -EINVAL);
	cfg.tls_ca_file = NULL;
	cfg.tls_key_file = "/dev/null"; /* a key without a certificate */
	assert_int_equal(sw_ua_new(&ua, &cfg), -EINVAL);
	cfg.tls_key_file = NULL;
	cfg.tls_server_name = "";
	assert_int_equal(sw_ua_new(&ua, &cfg), -EINVAL);
	cfg.tls_server_name = NULL;
	cfg.transport = (enum sw_ua_transport)7;
	assert_int_equal(sw_ua_new(&ua, &cfg), -EINVAL);
	/* TLS files are not looked at for UDP. */
	cfg.transport = SW_UA_UDP;
	cfg.tls_ca_file = "/nonexistent/ca.pem";
	assert_int_equal(sw_ua_new(&ua, &cfg), 0);
	assert_null(ua->tls_ctx);
	sw_ua_free(ua);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_ports),
		cmocka_unit_test(test_sips_means_tls),
		cmocka_unit_test(test_tls_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
