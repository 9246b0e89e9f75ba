/* Where the proxy sends a request, without the network: the transport of a
 * URI (sips:, ;transport=, TLS port 5061), the way to a registered contact
 * (its TCP/TLS connection only, or UDP to its address or NAT source), the Via
 * naming that transport, and the [proxy] outbound / [tls] verify_server
 * settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "app/config.h"
#include "proxy/proxy_int.h"

static struct sip_uri uri;
static char ubuf[256];

static const struct sip_uri *parse_uri(const char *text)
{
	snprintf(ubuf, sizeof(ubuf), "%s", text);
	assert_int_equal(sip_uri_parse(&uri, slice_cstr(ubuf)), 0);
	return &uri;
}

static uint16_t port_of(const struct tp_dest *d)
{
	return ntohs(((const struct sockaddr_in *)&d->addr)->sin_port);
}

static void uri_transport(void **state)
{
	(void)state;
	struct tp_dest d;

	assert_int_equal(proxy_uri_dest(parse_uri("sip:bob@192.0.2.5:5070"), &d), 0);
	assert_int_equal(d.proto, TP_UDP);
	assert_int_equal(port_of(&d), 5070);
	assert_int_equal(d.flags, 0);
	assert_int_equal(proxy_uri_dest(parse_uri("sip:bob@192.0.2.5;transport=TCP"), &d), 0);
	assert_int_equal(d.proto, TP_TCP);
	assert_int_equal(port_of(&d), 5060);
	assert_int_equal(proxy_uri_dest(parse_uri("sip:bob@192.0.2.5;transport=tls"), &d), 0);
	assert_int_equal(d.proto, TP_TLS);
	assert_int_equal(port_of(&d), 5061);
	assert_int_equal(proxy_uri_dest(parse_uri("sips:bob@192.0.2.5"), &d), 0);
	assert_int_equal(d.proto, TP_TLS);
	assert_int_equal(port_of(&d), 5061);
	assert_int_equal(proxy_uri_dest(parse_uri("sips:bob@192.0.2.5:6000;transport=tcp"), &d), 0);
	assert_int_equal(d.proto, TP_TLS); /* sips: is TLS whatever transport= says */
	assert_int_equal(port_of(&d), 6000);
	assert_int_equal(proxy_uri_dest(parse_uri("sip:bob@192.0.2.5;transport=sctp"), &d), -EPROTONOSUPPORT);
	assert_int_equal(proxy_uri_dest(parse_uri("sip:bob@example.com;transport=tcp"), &d), -EINVAL);
}

/* Every listen address counts as us, of any transport and family; a URI
 * without a port means 5060, or 5061 for sips: and ;transport=tls. */
static void listen_addresses_are_me(void **state)
{
	(void)state;
	static struct tp_listen ls[3];
	static struct proxy p;
	static struct proxy_worker pw;
	assert_int_equal(tp_listen_parse(&ls[0], "udp:192.0.2.1:5060"), 0);
	assert_int_equal(tp_listen_parse(&ls[1], "tcp:192.0.2.1:5070"), 0);
	assert_int_equal(tp_listen_parse(&ls[2], "tls:[2001:db8::1]:5061"), 0);
	p.listens = ls;
	p.nlistens = 3;
	pw.p = &p;

	assert_true(proxy_uri_is_me(&pw, parse_uri("sip:192.0.2.1;lr")));
	assert_true(proxy_uri_is_me(&pw, parse_uri("sip:192.0.2.1:5070;transport=tcp;lr")));
	assert_true(proxy_uri_is_me(&pw, parse_uri("sips:[2001:db8::1];lr")));
	assert_true(proxy_uri_is_me(&pw, parse_uri("sip:[2001:db8::1];transport=TLS;lr")));
	assert_true(proxy_uri_is_me(&pw, parse_uri("sip:[2001:db8::1]:5061;lr")));
	assert_false(proxy_uri_is_me(&pw, parse_uri("sip:[2001:db8::1];lr"))); /* 5060 */
	assert_false(proxy_uri_is_me(&pw, parse_uri("sip:192.0.2.1;transport=tls;lr"))); /* 5061 */
	assert_false(proxy_uri_is_me(&pw, parse_uri("sip:192.0.2.2;lr")));
	assert_false(proxy_uri_is_me(&pw, parse_uri("sip:example.com;lr")));
	assert_true(proxy_hostport_is_me(&pw, slice_cstr("192.0.2.1"), 0));
	assert_true(proxy_hostport_is_me(&pw, slice_cstr("[2001:db8::1]"), 5061));
	assert_int_equal(proxy_uri_default_port(parse_uri("sips:a@b.example")), 5061);
	assert_int_equal(proxy_uri_default_port(parse_uri("sip:a@b.example;transport=tcp")), 5060);
	assert_int_equal(proxy_uri_default_port(parse_uri("sips:a@b.example:7000")), 7000);
}

static void contact_over_its_connection(void **state)
{
	(void)state;
	struct tp_dest d;
	char ip[64];
	uint16_t port;

	/* Registered over TLS: only that connection, whatever the Contact says. */
	assert_int_equal(proxy_contact_dest(parse_uri("sip:bob@10.0.0.7:5060;transport=tls"),
					    slice_cstr("tls:198.51.100.9:40001"), &d), 0);
	assert_int_equal(d.proto, TP_TLS);
	assert_int_equal(d.flags, TP_DEST_REUSE_ONLY);
	tp_addr_text(&d.addr, ip, sizeof(ip), &port);
	assert_string_equal(ip, "198.51.100.9");
	assert_int_equal(port, 40001);
	assert_int_equal(proxy_contact_dest(parse_uri("sip:bob@bob.example.org"), slice_cstr("tcp:[2001:db8::1]:40002"),
					    &d), 0);
	assert_int_equal(d.proto, TP_TCP);
	assert_int_equal(d.flags, TP_DEST_REUSE_ONLY);
	assert_int_equal(d.addr.ss_family, AF_INET6);
}

static void contact_over_udp(void **state)
{
	(void)state;
	struct tp_dest d;
	char ip[64];
	uint16_t port;

	/* Public address: the contact itself. */
	assert_int_equal(proxy_contact_dest(parse_uri("sip:bob@192.0.2.5:5062"), slice_cstr("udp:198.51.100.9:5060"), &d),
			 0);
	assert_int_equal(d.proto, TP_UDP);
	tp_addr_text(&d.addr, ip, sizeof(ip), &port);
	assert_string_equal(ip, "192.0.2.5");
	assert_int_equal(port, 5062);
	/* Behind NAT: where the REGISTER came from. */
	assert_int_equal(proxy_contact_dest(parse_uri("sip:bob@192.168.1.20:5060"), slice_cstr("udp:198.51.100.9:34000"),
					    &d), 0);
	assert_int_equal(d.proto, TP_UDP);
	assert_int_equal(d.flags, 0);
	tp_addr_text(&d.addr, ip, sizeof(ip), &port);
	assert_string_equal(ip, "198.51.100.9");
	assert_int_equal(port, 34000);
	/* A public contact asking for TCP over a UDP registration: a new connection may be opened. */
	assert_int_equal(proxy_contact_dest(parse_uri("sip:bob@192.0.2.5;transport=tcp"), slice_cstr("udp:192.0.2.5:5060"),
					    &d), 0);
	assert_int_equal(d.proto, TP_TCP);
	assert_int_equal(d.flags, 0);
	/* A name and no received: nowhere to go. */
	assert_int_not_equal(proxy_contact_dest(parse_uri("sip:bob@bob.example.org"), SLICE_NULL, &d), 0);
}

/* The received source read directly (IPv4 as the location service prints
 * it) gives what the general listen-address parser gives, and anything
 * either refuses falls back to the contact itself. */
static void received_read_like_the_parser(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"udp:198.51.100.9:34000", "tcp:203.0.113.1:5060", "tls:192.0.2.200:65535", "udp:255.255.255.255:1",
		"udp:198.051.100.9:5060", "udp:198.51.100.9:0", "udp:198.51.100.9:65536", "udp:198.51.100.9:5060x",
		"udp:198.51.100:5060", "udp:1.2.3.4.5:5060", "sctp:1.2.3.4:5060", "udp:256.1.1.1:5060",
		"UDP:1.2.3.4:5060", "udp:[2001:db8::1]:5060", "udp:1.2.3.4", "tcp:198.51.100.9:05060",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct tp_listen l;
		struct tp_dest d;
		char want[64], got[64];
		uint16_t want_port, got_port;
		bool parsed = tp_listen_parse(&l, texts[i]) == 0;

		/* a private contact: the received source when there is one */
		assert_int_equal(proxy_contact_dest(parse_uri("sip:bob@192.168.1.20:5070"), slice_cstr(texts[i]), &d), 0);
		tp_addr_text(&d.addr, got, sizeof(got), &got_port);
		if (parsed) {
			tp_addr_text(&l.addr, want, sizeof(want), &want_port);
			assert_int_equal(d.proto, l.proto == TP_UDP ? TP_UDP : l.proto);
		} else {
			snprintf(want, sizeof(want), "192.168.1.20");
			want_port = 5070;
			assert_int_equal(d.proto, TP_UDP);
		}
		if (strcmp(got, want) != 0 || got_port != want_port)
			fail_msg("%s: %s:%u, want %s:%u", texts[i], got, got_port, want, want_port);
	}
}

static void via_names_the_transport(void **state)
{
	(void)state;
	static char in[1024], out[2048];
	struct sip_msg msg;
	struct sip_parse_err perr;
	struct tp_listen tls, udp;
	struct sip_buf b;
	const char *text = "INVITE sip:bob@example.com SIP/2.0\r\n"
			   "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
			   "Max-Forwards: 10\r\nFrom: <sip:alice@example.com>;tag=t1\r\n"
			   "To: <sip:bob@example.com>\r\nCall-ID: c@x\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";

	memcpy(in, text, strlen(text));
	assert_int_equal(sip_msg_parse(&msg, in, strlen(text), &perr), 0);
	assert_int_equal(tp_listen_parse(&tls, "tls:192.0.2.1:5061"), 0);
	assert_int_equal(tp_listen_parse(&udp, "udp:192.0.2.1:5060"), 0);
	/* In over UDP, out over TLS: two entries, the outgoing side on top
	 * (RFC 5658 §4), TLS as sips:. */
	struct proxy_fwd f = { .branch = "z9hG4bKsw0x1", .via_lst = &tls, .rr_in = &udp, .record_route = true };
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	sip_buf_put(&b, "", 1);
	assert_non_null(strstr(out, "\r\nVia: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKsw0x1\r\n"));
	assert_non_null(strstr(out, "\r\nRecord-Route: <sips:192.0.2.1:5061;lr>\r\n"
				    "Record-Route: <sip:192.0.2.1:5060;lr>\r\n"));

	/* Out over TCP on the UDP port: still two (the transport differs). */
	struct tp_listen tcp;
	assert_int_equal(tp_listen_parse(&tcp, "tcp:192.0.2.1:5060"), 0);
	f.via_lst = &tcp;
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	sip_buf_put(&b, "", 1);
	assert_non_null(strstr(out, "\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKsw0x1\r\n"));
	assert_non_null(strstr(out, "\r\nRecord-Route: <sip:192.0.2.1:5060;transport=tcp;lr>\r\n"
				    "Record-Route: <sip:192.0.2.1:5060;lr>\r\n"));

	/* In and out on the same listen address: one entry. */
	struct tp_listen tcp2;
	assert_int_equal(tp_listen_parse(&tcp2, "tcp:192.0.2.1:5060"), 0);
	f.rr_in = &tcp2;
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	sip_buf_put(&b, "", 1);
	const char *rr = strstr(out, "Record-Route: <sip:192.0.2.1:5060;transport=tcp;lr>\r\n");
	assert_non_null(rr);
	assert_null(strstr(rr + 1, "Record-Route"));
	assert_null(strstr(out, "Record-Route: <sip:192.0.2.1:5060;lr>"));

	/* Where it came in unknown: one entry. */
	f.rr_in = NULL;
	f.via_lst = &udp;
	sip_buf_init(&b, out, sizeof(out));
	assert_int_equal(proxy_build_request(&b, &msg, &f), 0);
	sip_buf_put(&b, "", 1);
	rr = strstr(out, "Record-Route: <sip:192.0.2.1:5060;lr>\r\n");
	assert_non_null(rr);
	assert_null(strstr(rr + 1, "Record-Route"));
}

static void outbound_settings(void **state)
{
	(void)state;
	struct sw_config c;
	const char *why = NULL;
	char err[256];

	config_defaults(&c);
	assert_true(c.tls.verify_server);
	assert_int_equal(config_set(&c, "tls", "verify_server", "no", &why), 0);
	assert_false(c.tls.verify_server);
	assert_int_equal(config_set(&c, "proxy", "outbound", "tls:192.0.2.9:5071", &why), 0);
	assert_int_equal(c.proxy.outbound.proto, TP_TLS);
	assert_int_equal(config_set(&c, "proxy", "outbound_tls_name", "sip.example.net", &why), 0);
	assert_string_equal(c.proxy.outbound_name, "sip.example.net");
	assert_int_not_equal(config_set(&c, "proxy", "outbound", "ws:192.0.2.9", &why), 0);
	/* No tls: listen address to name in Via: refused at start. */
	assert_int_not_equal(config_finish(&c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "outbound"));

	config_defaults(&c);
	assert_int_equal(config_set(&c, "proxy", "outbound", "tcp:192.0.2.9", &why), 0);
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0); /* default listens include tcp */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uri_transport),
		cmocka_unit_test(listen_addresses_are_me),
		cmocka_unit_test(contact_over_its_connection),
		cmocka_unit_test(contact_over_udp),
		cmocka_unit_test(received_read_like_the_parser),
		cmocka_unit_test(via_names_the_transport),
		cmocka_unit_test(outbound_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
