/* Unit tests for the control-socket protocol (app/ctlproto.c): the strict
 * request-line parser, byte by byte and at its length limit, the default
 * socket path, and the formatting of connection lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app/config.h"
#include "app/ctlproto.h"

static enum ctlproto_rc parse(const char *s, struct ctlproto_req *req)
{
	return ctlproto_parse(s, strlen(s), req);
}

static void known_verbs(void **state)
{
	struct ctlproto_req req;

	(void)state;
	assert_int_equal(parse("connections\n", &req), CTLPROTO_REQ);
	assert_int_equal(req.verb, CTL_VERB_CONNECTIONS);
	assert_int_equal(parse("status\r\n", &req), CTLPROTO_REQ);
	assert_int_equal(req.verb, CTL_VERB_STATUS);
	assert_int_equal(parse("help\n", &req), CTLPROTO_REQ);
	assert_int_equal(req.verb, CTL_VERB_HELP);
	assert_int_equal(parse("cache-flush\n", &req), CTLPROTO_REQ);
	assert_int_equal(req.verb, CTL_VERB_CACHE_FLUSH);
	assert_int_equal(parse("cache-flush alice@example.com\n", &req), CTLPROTO_BAD);
	assert_string_equal(ctlproto_verb_name(CTL_VERB_STATUS), "status");
	assert_string_equal(ctlproto_verb_name(CTL_VERB_CACHE_FLUSH), "cache-flush");
	assert_non_null(strstr(ctlproto_help(), "cache-flush"));
}

static void incomplete_lines_need_more(void **state)
{
	struct ctlproto_req req;
	const char *line = "connections\r\n";

	(void)state;
	assert_int_equal(ctlproto_parse("", 0, &req), CTLPROTO_MORE);
	/* every proper prefix asks for more, the whole line is a request */
	for (size_t i = 1; i < strlen(line); i++)
		assert_int_equal(ctlproto_parse(line, i, &req), CTLPROTO_MORE);
	assert_int_equal(ctlproto_parse(line, strlen(line), &req), CTLPROTO_REQ);
}

static void bad_lines_say_why(void **state)
{
	static const struct {
		const char *in;
		const char *why;
	} cases[] = {
		{ "bogus\n", "unknown verb" },
		{ "Status\n", "unknown verb" },
		{ "statu\n", "unknown verb" },
		{ "statusx\n", "unknown verb" },
		{ "status now\n", "no arguments" },
		{ "status \n", "stray spaces" },
		{ " status\n", "stray spaces" },
		{ "\n", "empty" },
		{ "\r\n", "empty" },
		{ "status\nhelp\n", "one request line" },
		{ "status\n\n", "one request line" },
		{ "sta\ttus\n", "control" },
		{ "stat\rus\n", "control" },
		{ "status\x7f\n", "control" },
		{ "st\xc3\xa4tus\n", "control" },
	};
	struct ctlproto_req req;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].in, &req), CTLPROTO_BAD);
		assert_non_null(req.error);
		assert_non_null(strstr(req.error, cases[i].why));
		assert_null(strchr(req.error, '\n'));
	}
	/* a NUL byte is a control byte too */
	assert_int_equal(ctlproto_parse("st\0atus\n", 8, &req), CTLPROTO_BAD);
}

static void length_limit(void **state)
{
	char buf[SW_CTL_MAX_LINE + 2];
	struct ctlproto_req req;

	(void)state;
	/* a line of exactly SW_CTL_MAX_LINE bytes with its "\n" is parsed (and refused
	 * as unknown); one more byte is too long */
	memset(buf, 'x', sizeof(buf));
	buf[SW_CTL_MAX_LINE - 1] = '\n';
	assert_int_equal(ctlproto_parse(buf, SW_CTL_MAX_LINE, &req), CTLPROTO_BAD);
	assert_non_null(strstr(req.error, "unknown verb"));
	assert_int_equal(ctlproto_parse(buf, SW_CTL_MAX_LINE - 1, &req), CTLPROTO_MORE);
	memset(buf, 'x', sizeof(buf));
	buf[SW_CTL_MAX_LINE] = '\n';
	assert_int_equal(ctlproto_parse(buf, SW_CTL_MAX_LINE + 1, &req), CTLPROTO_BAD);
	assert_non_null(strstr(req.error, "too long"));
	assert_int_equal(ctlproto_parse(buf, SW_CTL_MAX_LINE, &req), CTLPROTO_BAD);
	assert_non_null(strstr(req.error, "too long"));
}

static void default_socket_path(void **state)
{
	char out[108];
	char longurl[200];

	(void)state;
	assert_int_equal(config_control_socket_default("sqlite:/var/lib/sw/sw.db", out, sizeof(out)), 0);
	assert_string_equal(out, "/var/lib/sw/sw.db.ctl");
	assert_int_equal(config_control_socket_default("sqlite:sipwarden.db", out, sizeof(out)), 0);
	assert_string_equal(out, "sipwarden.db.ctl");
	assert_int_equal(config_control_socket_default("sqlite::memory:", out, sizeof(out)), 0);
	assert_string_equal(out, "sipwarden.ctl");
	snprintf(longurl, sizeof(longurl), "sqlite:/%0150d", 0);
	assert_int_equal(config_control_socket_default(longurl, out, sizeof(out)), -ENAMETOOLONG);
	assert_string_equal(out, "");
}

static void config_setting(void **state)
{
	static struct sw_config cfg;
	char err[200];
	const char *why;

	(void)state;
	config_defaults(&cfg);
	snprintf(cfg.db_url, sizeof(cfg.db_url), "sqlite:/tmp/x.db");
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.control_socket, "/tmp/x.db.ctl");
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "server", "control_socket", "none", &why), 0);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.control_socket, "");
	assert_true(cfg.control_socket_off);
	char longpath[120];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(config_set(&cfg, "server", "control_socket", longpath, &why), -EINVAL);
}

static void connection_lines(void **state)
{
	struct tp_conn_info ci = {
		.proto = TP_TLS,
		.worker = 3,
		.listen = "tls:127.0.0.1:5061",
		.peer_ip = "127.0.0.1",
		.peer_port = 40000,
		.age_ms = 12999,
		.idle_ms = 3000,
		.buffered = 17,
		.tls_version = "TLSv1.3",
		.peer_identity = "sip:alice@example.com",
	};
	char out[512];

	(void)state;
	size_t n = ctlproto_conn_line(out, sizeof(out), &ci);
	assert_string_equal(out, "proto=tls listen=tls:127.0.0.1:5061 peer=127.0.0.1:40000 age=12 idle=3 "
				 "buffered=17 tls=TLSv1.3 identity=sip:alice@example.com worker=3\n");
	assert_int_equal(n, strlen(out));
	/* IPv6 in brackets; identity bytes that would break the line are escaped */
	snprintf(ci.peer_ip, sizeof(ci.peer_ip), "::1");
	snprintf(ci.peer_identity, sizeof(ci.peer_identity), "CN=a b%%\n");
	ci.handshaking = true;
	ctlproto_conn_line(out, sizeof(out), &ci);
	assert_non_null(strstr(out, " peer=[::1]:40000 "));
	assert_non_null(strstr(out, " tls=handshake "));
	assert_non_null(strstr(out, " identity=CN=a%20b%25%0A worker=3\n"));
	/* plain TCP without identity */
	ci.proto = TP_TCP;
	ci.peer_identity[0] = '\0';
	ctlproto_conn_line(out, sizeof(out), &ci);
	assert_non_null(strstr(out, "proto=tcp "));
	assert_non_null(strstr(out, " tls=- identity=- "));
	/* a small buffer still gets a terminated line */
	n = ctlproto_conn_line(out, 20, &ci);
	assert_int_equal(n, 19);
	assert_int_equal(out[18], '\n');
	assert_int_equal(out[19], '\0');
	n = ctlproto_conn_line(out, 2, &ci);
	assert_int_equal(n, 1);
	assert_string_equal(out, "\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_verbs),
		cmocka_unit_test(incomplete_lines_need_more),
		cmocka_unit_test(bad_lines_say_why),
		cmocka_unit_test(length_limit),
		cmocka_unit_test(default_socket_path),
		cmocka_unit_test(config_setting),
		cmocka_unit_test(connection_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
