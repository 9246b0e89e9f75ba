/* sip_msg_parse and sip_via_parse: valid and broken wire messages, every limit
 * of base/limits.h at its boundary, header lookups, and the RFC 4475 torture
 * messages (directory from SW_RFC4475_DIR, default ../shared/rfc4475/messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sip/sip.h"

static struct sip_msg msg;
static struct sip_parse_err perr;
static char *wire; /* exact-size copy of the message under test, no NUL */

/* Parse s from a malloc'd buffer of exactly strlen(s) bytes so ASan sees any
 * read past the end; the previous buffer is released first. */
static int parse_n(const char *s, size_t n)
{
	free(wire);
	wire = malloc(n ? n : 1);
	assert_non_null(wire);
	memcpy(wire, s, n);
	return sip_msg_parse(&msg, wire, n, &perr);
}

static int parse(const char *s)
{
	return parse_n(s, strlen(s));
}

static int teardown(void **state)
{
	(void)state;
	free(wire);
	wire = NULL;
	return 0;
}

static bool eq(struct slice s, const char *c)
{
	return slice_eq_cstr(s, c);
}

#define REG_HEAD                                                                                  \
	"REGISTER sip:example.com SIP/2.0\r\n"                                                    \
	"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"                      \
	"Max-Forwards: 70\r\n"                                                                    \
	"To: Bob <sip:bob@example.com>\r\n"                                                       \
	"From: \"Bob B\" <sip:bob@example.com>;tag=456248\r\n"                                    \
	"Call-ID: 843817637684230@998sdasdh09\r\n"                                                \
	"CSeq: 1826 REGISTER\r\n"                                                                 \
	"Contact: <sip:bob@192.0.2.4>\r\n"

/* Essentials only, for building limit tests around them. */
#define OPT_HEAD                                                                                  \
	"OPTIONS sip:a@example.com SIP/2.0\r\n"                                                   \
	"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"                                      \
	"From: <sip:b@example.com>;tag=1\r\n"                                                     \
	"To: <sip:a@example.com>\r\n"                                                             \
	"Call-ID: lim1\r\n"                                                                       \
	"CSeq: 1 OPTIONS\r\n"
#define OPT_NHDRS 5

static void test_register_ok(void **state)
{
	(void)state;
	assert_int_equal(parse(REG_HEAD "Expires: 7200\r\nContent-Length: 0\r\n\r\n"), 0);
	assert_true(perr.can_reply);
	assert_null(perr.reason);
	assert_true(msg.is_request);
	assert_int_equal(msg.method, SIP_REGISTER);
	assert_true(eq(msg.method_name, "REGISTER"));
	assert_true(eq(msg.ruri_str, "sip:example.com"));
	assert_true(msg.ruri.is_sip);
	assert_true(eq(msg.ruri.host, "example.com"));
	assert_true(eq(msg.via1.transport, "UDP"));
	assert_true(eq(msg.via1.host, "192.0.2.10"));
	assert_int_equal(msg.via1.port, 5060);
	assert_true(eq(msg.via1.branch, "z9hG4bK776asdhds"));
	assert_true(msg.via1.rport);
	assert_int_equal(msg.via1.rport_val.len, 0);
	assert_true(eq(msg.from.display, "Bob B"));
	assert_true(eq(msg.from.tag, "456248"));
	assert_true(eq(msg.to.display, "Bob"));
	assert_int_equal(msg.to.tag.len, 0);
	assert_true(eq(msg.to.uri.user, "bob"));
	assert_true(eq(msg.call_id, "843817637684230@998sdasdh09"));
	assert_int_equal(msg.cseq, 1826);
	assert_int_equal(msg.cseq_method, SIP_REGISTER);
	assert_int_equal(msg.max_forwards, 70);
	assert_int_equal(msg.expires, 7200);
	assert_int_equal(msg.content_length, 0);
	assert_int_equal(msg.body.len, 0);
	assert_int_equal(msg.nhdrs, 9);
	assert_int_equal(msg.len, strlen(REG_HEAD "Expires: 7200\r\nContent-Length: 0\r\n\r\n"));
	assert_non_null(sip_msg_hdr(&msg, SIP_HDR_CONTACT));
	assert_null(sip_msg_hdr(&msg, SIP_HDR_AUTHORIZATION));
	assert_int_equal(msg.first[SIP_HDR_AUTHORIZATION], -1);
	assert_int_equal(msg.first[SIP_HDR_VIA], 0);
	assert_true(eq(sip_msg_hdr_by_name(&msg, "contact")->value, "<sip:bob@192.0.2.4>"));
}

static void test_response_ok(void **state)
{
	(void)state;
	assert_int_equal(parse("SIP/2.0 180 Ringing Now\r\n"
			       "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
			       "From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\n"
			       "Call-ID: r1\r\nCSeq: 5 INVITE\r\n\r\n"),
			 0);
	assert_false(msg.is_request);
	assert_int_equal(msg.status, 180);
	assert_true(eq(msg.reason, "Ringing Now"));
	assert_int_equal(msg.method, SIP_METHOD_UNKNOWN);
	assert_int_equal(msg.cseq_method, SIP_INVITE);
	assert_true(eq(msg.to.tag, "2"));

	/* empty reason phrase (RFC 4475 §3.1.1.13), with and without the SP */
	assert_int_equal(parse("SIP/2.0 100 \r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\n"
			       "Call-ID: r1\r\nCSeq: 5 INVITE\r\n\r\n"),
			 0);
	assert_int_equal(msg.reason.len, 0);
	assert_int_equal(parse("SIP/2.0 100\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\n"
			       "Call-ID: r1\r\nCSeq: 5 INVITE\r\n\r\n"),
			 0);
}

#define RESP_TAIL                                                                                 \
	"Via: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: r1\r\nCSeq: 5 INVITE\r\n\r\n"

static void test_response_bad_code(void **state)
{
	static const char *const bad[] = {
		"SIP/2.0 4294967301 better not break the receiver\r\n",
		"SIP/2.0 099 Low\r\n", "SIP/2.0 700 High\r\n", "SIP/2.0 20 Short\r\n",
		"SIP/2.0 2000 Long\r\n", "SIP/2.0 2x0 Alpha\r\n", "SIP/2.0 200OK\r\n",
		"SIP/2.0\r\n",
	};
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s", bad[i], RESP_TAIL);
		assert_int_equal(parse(buf), -EBADMSG);
		assert_int_equal(perr.status, 400);
	}
	assert_int_equal(parse("SIP/2.0 699 Top\r\n" RESP_TAIL), 0);
	assert_int_equal(parse("SIP/2.0 100 Bottom\r\n" RESP_TAIL), 0);
}

static void test_version(void **state)
{
	(void)state;
	assert_int_equal(parse("OPTIONS sip:a@example.com SIP/7.0\r\n"
			       "Via: SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n"
			       "From: A. Bell <sip:a.g.bell@example.com>;tag=qweoiqpe\r\n"
			       "To: T. Watson <sip:t.watson@example.org>\r\n"
			       "Call-ID: badvers.31417@c.example.com\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n"),
			 -EBADMSG);
	assert_int_equal(perr.status, 505);
	assert_true(perr.can_reply);
	assert_int_equal(parse("OPTIONS sip:a@example.com HTTP/1.1\r\n\r\n"), -EBADMSG);
	assert_int_equal(perr.status, 400);
	/* the version token is case-insensitive */
	assert_int_equal(parse("OPTIONS sip:a@example.com sip/2.0\r\n" "Via: SIP/2.0/UDP h\r\n"
			       "From: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: r1\r\nCSeq: 5 OPTIONS\r\n\r\n"),
			 0);
}

static void test_request_line_bad(void **state)
{
	static const char *const bad[] = {
		"INVITE <sip:a@example.com> SIP/2.0\r\n", "INVITE sip:a@example.com; lr SIP/2.0\r\n",
		"INVITE  sip:a@example.com SIP/2.0\r\n",  "INVITE sip:a@example.com SIP/2.0 \r\n",
		"INVITE sip:a@example.com\r\n",           "INV(TE sip:a@example.com SIP/2.0\r\n",
		" INVITE sip:a@example.com SIP/2.0\r\n",  "INVITE sip: SIP/2.0\r\n",
		"INVITE sip:a@example.com SIP/2.0\rX\r\n",
	};
	char buf[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%sVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\n"
			 "Call-ID: r1\r\nCSeq: 5 INVITE\r\n\r\n", bad[i]);
		assert_int_equal(parse(buf), -EBADMSG);
		assert_int_equal(perr.status, 400);
	}
	assert_int_equal(parse("INVITE <sip:a@example.com> SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
			       "From: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: r1\r\nCSeq: 5 INVITE\r\n\r\n"),
			 -EBADMSG);
	assert_string_equal(perr.reason, "Malformed Request-URI");
	assert_true(perr.can_reply);
}

static void test_unknown_scheme_and_method(void **state)
{
	(void)state;
	assert_int_equal(parse("OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\r\n"
			       "Via: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\n"
			       "Call-ID: r1\r\nCSeq: 5 OPTIONS\r\n\r\n"),
			 0);
	assert_false(msg.ruri.is_sip);
	assert_true(eq(msg.ruri.scheme, "nobodyKnowsThisScheme"));
	assert_int_equal(parse("RE%47IST%45R sip:registrar.example.com SIP/2.0\r\n"
			       "Via: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\n"
			       "Call-ID: r1\r\nCSeq: 5 RE%47IST%45R\r\n\r\n"),
			 0);
	assert_int_equal(msg.method, SIP_METHOD_UNKNOWN);
	/* methods are case-sensitive (RFC 3261 §7.1) */
	assert_int_equal(parse("register sip:e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\n"
			       "To: <sip:a@e>\r\nCall-ID: r1\r\nCSeq: 5 register\r\n\r\n"),
			 0);
	assert_int_equal(msg.method, SIP_METHOD_UNKNOWN);
}

static void test_compact_forms(void **state)
{
	(void)state;
	assert_int_equal(parse("INVITE sip:a@example.com SIP/2.0\r\n"
			       "v: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:b@e>;tag=9\r\nt: <sip:a@e>\r\n"
			       "i: c1\r\nCSeq: 5 INVITE\r\nm: <sip:b@h>\r\nc: application/sdp\r\n"
			       "k: path\r\ns: hello\r\ne: gzip\r\no: presence\r\nr: <sip:x@e>\r\n"
			       "u: dialog\r\nz: unknown-compact\r\nl: 4\r\n\r\nbody"),
			 0);
	assert_int_equal(msg.hdrs[0].id, SIP_HDR_VIA);
	assert_int_equal(msg.hdrs[1].id, SIP_HDR_FROM);
	assert_int_equal(msg.hdrs[2].id, SIP_HDR_TO);
	assert_int_equal(msg.hdrs[3].id, SIP_HDR_CALL_ID);
	assert_int_equal(msg.hdrs[5].id, SIP_HDR_CONTACT);
	assert_int_equal(msg.hdrs[6].id, SIP_HDR_CONTENT_TYPE);
	assert_int_equal(msg.hdrs[7].id, SIP_HDR_SUPPORTED);
	for (int i = 8; i <= 13; i++)
		assert_int_equal(msg.hdrs[i].id, SIP_HDR_OTHER);
	assert_int_equal(msg.hdrs[14].id, SIP_HDR_CONTENT_LENGTH);
	assert_true(eq(msg.body, "body"));
	assert_true(eq(sip_msg_hdr_by_name(&msg, "Subject")->value, "hello"));
	assert_true(eq(sip_msg_hdr_by_name(&msg, "event")->value, "presence"));
	assert_true(eq(sip_msg_hdr_by_name(&msg, "z")->value, "unknown-compact"));
	assert_true(eq(sip_msg_hdr_by_name(&msg, "Content-Length")->value, "4"));
	assert_null(sip_msg_hdr_by_name(&msg, "Date"));

	assert_int_equal(sip_hdr_id_from(slice_cstr("WWW-AUTHENTICATE")), SIP_HDR_WWW_AUTHENTICATE);
	assert_int_equal(sip_hdr_id_from(slice_cstr("p-asserted-identity")), SIP_HDR_P_ASSERTED_IDENTITY);
	assert_int_equal(sip_hdr_id_from(slice_cstr("C%6Fntact")), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_from(slice_cstr("q")), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_from(slice_cstr("")), SIP_HDR_OTHER);
}

/* Every known header name, long and compact, in three casings, resolves to
 * its id (or, for names without one, finds the header in its other form);
 * near misses of each (one letter changed, one dropped, one added) do not. */
static const struct {
	const char *name, *compact;
	enum sip_hdr_id id;
} known_hdrs[] = {
	{ "Via", "v", SIP_HDR_VIA },
	{ "From", "f", SIP_HDR_FROM },
	{ "To", "t", SIP_HDR_TO },
	{ "Call-ID", "i", SIP_HDR_CALL_ID },
	{ "CSeq", NULL, SIP_HDR_CSEQ },
	{ "Contact", "m", SIP_HDR_CONTACT },
	{ "Max-Forwards", NULL, SIP_HDR_MAX_FORWARDS },
	{ "Expires", NULL, SIP_HDR_EXPIRES },
	{ "Min-Expires", NULL, SIP_HDR_MIN_EXPIRES },
	{ "Content-Length", "l", SIP_HDR_CONTENT_LENGTH },
	{ "Content-Type", "c", SIP_HDR_CONTENT_TYPE },
	{ "Authorization", NULL, SIP_HDR_AUTHORIZATION },
	{ "Proxy-Authorization", NULL, SIP_HDR_PROXY_AUTHORIZATION },
	{ "WWW-Authenticate", NULL, SIP_HDR_WWW_AUTHENTICATE },
	{ "Proxy-Authenticate", NULL, SIP_HDR_PROXY_AUTHENTICATE },
	{ "Authentication-Info", NULL, SIP_HDR_AUTHENTICATION_INFO },
	{ "Route", NULL, SIP_HDR_ROUTE },
	{ "Record-Route", NULL, SIP_HDR_RECORD_ROUTE },
	{ "Require", NULL, SIP_HDR_REQUIRE },
	{ "Proxy-Require", NULL, SIP_HDR_PROXY_REQUIRE },
	{ "Supported", "k", SIP_HDR_SUPPORTED },
	{ "User-Agent", NULL, SIP_HDR_USER_AGENT },
	{ "Privacy", NULL, SIP_HDR_PRIVACY },
	{ "P-Asserted-Identity", NULL, SIP_HDR_P_ASSERTED_IDENTITY },
	{ "Subject", "s", SIP_HDR_OTHER },
	{ "Content-Encoding", "e", SIP_HDR_OTHER },
	{ "Event", "o", SIP_HDR_OTHER },
	{ "Refer-To", "r", SIP_HDR_OTHER },
	{ "Allow-Events", "u", SIP_HDR_OTHER },
	{ "Referred-By", "b", SIP_HDR_OTHER },
	{ "Session-Expires", "x", SIP_HDR_OTHER },
	{ "Identity", "y", SIP_HDR_OTHER },
	{ "Accept-Contact", "a", SIP_HDR_OTHER },
	{ "Reject-Contact", "j", SIP_HDR_OTHER },
	{ "Request-Disposition", "d", SIP_HDR_OTHER },
	{ "Identity-Info", "n", SIP_HDR_OTHER },
};

/* s in the given casing: 0 as is, 1 lower, 2 upper. */
static const char *cased(const char *s, int how, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < size; i++) {
		char c = s[i];
		if (how == 1 && c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		else if (how == 2 && c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		buf[i] = c;
	}
	buf[i] = '\0';
	return buf;
}

/* Parse a request carrying one extra header "name: value". */
static void parse_with(const char *name, const char *value)
{
	char req[512];

	snprintf(req, sizeof(req),
		 "OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
		 "From: <sip:b@e>;tag=9\r\nTo: <sip:a@e>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
		 "%s: %s\r\n\r\n", name, value);
	assert_int_equal(parse(req), 0);
}

/* The header a lookup of name finds, when the message carries only the
 * mandatory headers and one "Other: val" (Other = the known header's other form). */
static void assert_same_header(const char *other, const char *name, bool found)
{
	const struct sip_hdr *h;

	parse_with(other, "val");
	h = sip_msg_hdr_by_name(&msg, name);
	if (!found) {
		assert_null(h);
		return;
	}
	assert_non_null(h);
	assert_true(eq(h->value, "val"));
}

static void test_hdr_names_all(void **state)
{
	char a[64], b[64];

	(void)state;
	for (size_t i = 0; i < sizeof(known_hdrs) / sizeof(known_hdrs[0]); i++) {
		const char *name = known_hdrs[i].name, *compact = known_hdrs[i].compact;
		enum sip_hdr_id id = known_hdrs[i].id;
		size_t n = strlen(name);

		for (int how = 0; how < 3; how++) {
			const char *nm = cased(name, how, a, sizeof(a));
			assert_int_equal(sip_hdr_id_from(slice_cstr(nm)), id);
			if (!compact)
				continue;
			const char *cp = cased(compact, how, b, sizeof(b));
			assert_int_equal(sip_hdr_id_from(slice_cstr(cp)), id);
			if (id != SIP_HDR_OTHER)
				continue;
			/* no id: the long name finds a compact header and the other way round */
			assert_same_header(cp, nm, true);
			assert_same_header(nm, cp, true);
		}

		/* near misses: each letter changed in turn, the last dropped, one added */
		for (size_t k = 0; k < n; k++) {
			cased(name, 0, a, sizeof(a));
			a[k] = a[k] == 'x' || a[k] == 'X' ? 'q' : 'x';
			assert_int_equal(sip_hdr_id_from(slice_cstr(a)), SIP_HDR_OTHER);
			if (compact && id == SIP_HDR_OTHER)
				assert_same_header(compact, a, false);
		}
		if (n > 2) { /* "T" is the compact form of "To" */
			cased(name, 0, a, sizeof(a));
			a[n - 1] = '\0';
			assert_int_equal(sip_hdr_id_from(slice_cstr(a)), SIP_HDR_OTHER);
			if (compact && id == SIP_HDR_OTHER)
				assert_same_header(compact, a, false);
		}
		snprintf(a, sizeof(a), "%ss", name);
		assert_int_equal(sip_hdr_id_from(slice_cstr(a)), SIP_HDR_OTHER);
		if (compact && id == SIP_HDR_OTHER)
			assert_same_header(compact, a, false);

		/* names are compared a word at a time: a non-letter with its 0x20 bit
		 * flipped ('-' and CR) is no case variant, and an exact-size copy of
		 * every name (no byte after it) is read within its bounds */
		for (size_t k = 0; k < n; k++) {
			if ((name[k] | 0x20) >= 'a' && (name[k] | 0x20) <= 'z')
				continue;
			cased(name, 0, a, sizeof(a));
			a[k] = (char)(a[k] ^ 0x20);
			assert_int_equal(sip_hdr_id_from(slice_cstr(a)), SIP_HDR_OTHER);
		}
		for (int how = 0; how < 3; how++) {
			char *exact = malloc(n);
			assert_non_null(exact);
			memcpy(exact, cased(name, how, a, sizeof(a)), n);
			assert_int_equal(sip_hdr_id_from(slice_from(exact, n)), id);
			free(exact);
		}
	}
	/* letters that are no compact form, and non-letters next to them */
	for (const char *c = "ghpqwzGHPQWZ@[`{0-"; *c; c++) {
		char one[2] = { *c, '\0' };
		assert_int_equal(sip_hdr_id_from(slice_cstr(one)), SIP_HDR_OTHER);
	}
	/* a name made of known parts that is not itself known */
	assert_int_equal(sip_hdr_id_from(slice_cstr("Call-Contact")), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_from(slice_cstr("Proxy-Authorizatio")), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_from(slice_from("Contact\0", 8)), SIP_HDR_OTHER);
}

static void test_methods(void **state)
{
	(void)state;
	for (int m = SIP_INVITE; m <= SIP_PUBLISH; m++)
		assert_int_equal(sip_method_from(slice_cstr(sip_method_name((enum sip_method)m))), m);
	assert_string_equal(sip_method_name(SIP_METHOD_UNKNOWN), "");
	assert_string_equal(sip_method_name((enum sip_method)99), "");
	assert_int_equal(sip_method_from(slice_cstr("INVITEX")), SIP_METHOD_UNKNOWN);
	assert_int_equal(sip_method_from(SLICE_NULL), SIP_METHOD_UNKNOWN);
	/* near misses of every method: one byte changed (case too), one short, one long */
	for (int m = SIP_INVITE; m <= SIP_PUBLISH; m++) {
		const char *name = sip_method_name((enum sip_method)m);
		size_t n = strlen(name);
		char b[16];

		for (size_t i = 0; i < n; i++) {
			memcpy(b, name, n);
			b[i] = (char)(b[i] | 0x20);
			assert_int_equal(sip_method_from(slice_from(b, n)), SIP_METHOD_UNKNOWN);
			b[i] = 'X';
			assert_int_equal(sip_method_from(slice_from(b, n)), SIP_METHOD_UNKNOWN);
		}
		memcpy(b, name, n);
		b[n] = 'S';
		assert_int_equal(sip_method_from(slice_from(b, n - 1)), SIP_METHOD_UNKNOWN);
		assert_int_equal(sip_method_from(slice_from(b, n + 1)), SIP_METHOD_UNKNOWN);
	}
	assert_int_equal(sip_method_from(slice_from("INFO\0", 5)), SIP_METHOD_UNKNOWN);
	assert_int_equal(sip_method_from(slice_cstr("I")), SIP_METHOD_UNKNOWN);
}

static void test_hdr_next(void **state)
{
	const struct sip_hdr *h;
	int n = 0;

	(void)state;
	assert_int_equal(parse(REG_HEAD "Contact: <sip:b2@h>\r\nX-A: 1\r\nm: <sip:b3@h>\r\nX-B: 2\r\n"
					"x-a: 3\r\n\r\n"),
			 0);
	for (h = sip_msg_hdr(&msg, SIP_HDR_CONTACT); h; h = sip_msg_hdr_next(&msg, h))
		n++;
	assert_int_equal(n, 3);
	h = sip_msg_hdr_by_name(&msg, "X-A");
	assert_true(eq(h->value, "1"));
	h = sip_msg_hdr_next(&msg, h);
	assert_true(eq(h->value, "3"));
	assert_null(sip_msg_hdr_next(&msg, h));
	assert_null(sip_msg_hdr_next(&msg, NULL));
}

/* Repeated headers of several ids interleaved with each other and with
 * unknown ones: each id's chain visits its headers in message order. */
static void test_hdr_next_interleaved(void **state)
{
	static const char *const order[] = { "1", "2", "3", "4" };
	const struct sip_hdr *h;
	int n;

	(void)state;
	assert_int_equal(parse("OPTIONS sip:a@example.com SIP/2.0\r\n"
			       "Via: SIP/2.0/UDP h1;branch=z9hG4bK1\r\n"
			       "Route: <sip:r1;lr>\r\nX-Y: 1\r\n"
			       "v: SIP/2.0/UDP h2;branch=z9hG4bK2\r\n"
			       "From: <sip:b@example.com>;tag=1\r\nRoute: <sip:r2;lr>\r\n"
			       "To: <sip:a@example.com>\r\nX-Z: z\r\nVIA: SIP/2.0/UDP h3, SIP/2.0/UDP h4\r\n"
			       "Call-ID: il\r\nx-y: 2\r\nCSeq: 1 OPTIONS\r\nRoute: <sip:r3;lr>\r\n"
			       "X-Y : 3\r\n\r\n"),
			 0);
	n = 0;
	for (h = sip_msg_hdr(&msg, SIP_HDR_VIA); h; h = sip_msg_hdr_next(&msg, h))
		n++;
	assert_int_equal(n, 3);
	assert_true(eq(msg.via1.host, "h1"));
	n = 0;
	for (h = sip_msg_hdr(&msg, SIP_HDR_ROUTE); h; h = sip_msg_hdr_next(&msg, h)) {
		char want[16];
		snprintf(want, sizeof(want), "<sip:r%s;lr>", order[n]);
		assert_true(eq(h->value, want));
		n++;
	}
	assert_int_equal(n, 3);
	n = 0;
	for (h = sip_msg_hdr_by_name(&msg, "x-Y"); h; h = sip_msg_hdr_next(&msg, h))
		assert_true(eq(h->value, order[n++]));
	assert_int_equal(n, 3);
	/* the first unknown header, whatever its name */
	h = sip_msg_hdr(&msg, SIP_HDR_OTHER);
	assert_non_null(h);
	assert_true(eq(h->name, "X-Y"));
	assert_null(sip_msg_hdr(&msg, SIP_HDR_CONTACT));
	/* a pointer that is not one of this message's headers */
	assert_null(sip_msg_hdr_next(&msg, &msg.hdrs[msg.nhdrs]));
	/* a second parse into the same struct starts the chains afresh */
	assert_int_equal(parse(OPT_HEAD "\r\n"), 0);
	assert_null(sip_msg_hdr(&msg, SIP_HDR_ROUTE));
	assert_null(sip_msg_hdr_next(&msg, sip_msg_hdr(&msg, SIP_HDR_VIA)));
	assert_int_equal(msg.nhdrs, OPT_NHDRS);
}

static void test_folding(void **state)
{
	static const char m[] = "INVITE sip:a@example.com SIP/2.0\r\n"
				"Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n"
				"TO :\r\n sip:vivekg@example.com ;   tag    = 1918181833n\r\n"
				"from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n"
				"  tag = 98asjd8\r\n"
				"Call-ID: f1\r\ncseq: 0009\r\n\tINVITE\r\n"
				"Subject: a\r\n\tb\r\n  c\r\n\r\n";
	const struct sip_hdr *h;

	(void)state;
	assert_int_equal(parse(m), 0);
	assert_int_equal(msg.nhdrs, 6);
	assert_true(eq(msg.via1.host, "192.0.2.2"));
	assert_true(eq(msg.via1.transport, "UDP"));
	assert_true(eq(msg.to.tag, "1918181833n"));
	assert_true(eq(msg.to.uri_str, "sip:vivekg@example.com"));
	assert_true(eq(msg.from.tag, "98asjd8"));
	assert_true(eq(msg.from.display, "J Rosenberg \\\\\\\""));
	assert_int_equal(msg.cseq, 9);
	h = sip_msg_hdr_by_name(&msg, "subject");
	assert_true(eq(h->value, "a  \tb    c"));
	/* the folding CRLFs were overwritten in place, nothing else changed */
	assert_int_equal(msg.len, sizeof(m) - 1);
	for (size_t i = 0; i < msg.len; i++) {
		if (wire[i] != m[i]) {
			assert_true(m[i] == '\r' || m[i] == '\n');
			assert_int_equal(wire[i], ' ');
			assert_true(m[i] == '\r' ? m[i + 2] == ' ' || m[i + 2] == '\t'
						 : m[i + 1] == ' ' || m[i + 1] == '\t');
		}
	}
}

static void test_bare_lf_and_leading_crlf(void **state)
{
	(void)state;
	assert_int_equal(parse("\r\n\r\nOPTIONS sip:a@e SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:b@e>\n"
			       "To: <sip:a@e>\nCall-ID: x\nCSeq: 1\n OPTIONS\nContent-Length: 2\n\nhi"),
			 0);
	assert_true(eq(msg.body, "hi"));
	assert_int_equal(msg.cseq, 1);
	assert_int_equal(parse("\r\n\r\n"), -EBADMSG);
	assert_string_equal(perr.reason, "Empty message");
	assert_false(perr.can_reply);
	assert_int_equal(parse_n("", 0), -EBADMSG);
	assert_int_equal(sip_msg_parse(&msg, NULL, 0, NULL), -EBADMSG);
}

static void test_truncated(void **state)
{
	static const char full[] = OPT_HEAD "Content-Length: 3\r\n\r\nabc";
	size_t n = sizeof(full) - 1;

	(void)state;
	/* every proper prefix is rejected, never read past */
	for (size_t i = 0; i < n; i++)
		assert_int_equal(parse_n(full, i), -EBADMSG);
	assert_int_equal(parse_n(full, n), 0);
	assert_int_equal(parse(OPT_HEAD), -EBADMSG);
	assert_string_equal(perr.reason, "Truncated message");
	assert_true(perr.can_reply);
	assert_int_equal(parse("OPTIONS sip:a@e SIP/2.0"), -EBADMSG);
	assert_string_equal(perr.reason, "Truncated message");
}

static void test_missing(void **state)
{
	static const struct {
		const char *m, *reason;
	} cases[] = {
		{ "OPTIONS sip:a@e SIP/2.0\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: x\r\n"
		  "CSeq: 1 OPTIONS\r\n\r\n", "Missing Via" },
		{ "OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@e>\r\nCall-ID: x\r\n"
		  "CSeq: 1 OPTIONS\r\n\r\n", "Missing From" },
		{ "OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nCall-ID: x\r\n"
		  "CSeq: 1 OPTIONS\r\n\r\n", "Missing To" },
		{ "OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\n"
		  "CSeq: 1 OPTIONS\r\n\r\n", "Missing Call-ID" },
		{ "OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\n"
		  "Call-ID: x\r\n\r\n", "Missing CSeq" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].m), -EBADMSG);
		assert_string_equal(perr.reason, cases[i].reason);
		assert_false(perr.can_reply);
		assert_int_equal(perr.status, 400);
	}
}

static void test_duplicates(void **state)
{
	static const struct {
		const char *extra, *reason;
	} cases[] = {
		{ "Content-Length: 0\r\nl: 1\r\n", "Bad Content-Length" },
		{ "Call-ID: other\r\n", "Duplicate Call-ID" },
		{ "CSeq: 2 OPTIONS\r\n", "Duplicate CSeq" },
		{ "From: <sip:c@example.com>;tag=1\r\n", "Duplicate From" },
		{ "t: <sip:other@example.com>\r\n", "Duplicate To" },
		{ "Max-Forwards: 70\r\nMax-Forwards: 69\r\n", "Duplicate Max-Forwards" },
		{ "Expires: 1\r\nExpires: 2\r\n", "Duplicate Expires" },
	};
	char buf[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), OPT_HEAD "%s\r\n", cases[i].extra);
		assert_int_equal(parse(buf), -EBADMSG);
		assert_string_equal(perr.reason, cases[i].reason);
	}
	/* identical repeats carry no conflict */
	assert_int_equal(parse(OPT_HEAD "Call-ID: lim1\r\nl: 0\r\nContent-Length: 0\r\n\r\n"), 0);
}

static void test_cseq(void **state)
{
	(void)state;
	assert_int_equal(parse("OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\n"
			       "To: <sip:a@e>\r\nCall-ID: x\r\nCSeq: 8 INVITE\r\n\r\n"),
			 -EBADMSG);
	assert_string_equal(perr.reason, "CSeq method mismatch");
	assert_true(perr.can_reply);
	assert_int_equal(parse("OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\n"
			       "To: <sip:a@e>\r\nCall-ID: x\r\nCSeq: 4294967295 OPTIONS\r\n\r\n"),
			 0);
	assert_int_equal(msg.cseq, 4294967295u);
	static const char *const bad[] = { "4294967296 OPTIONS", "36893488147419103232 OPTIONS", "OPTIONS",
					   "1OPTIONS", "-1 OPTIONS", "1 OPTIONS x", "1 ", "" };
	char buf[512];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"
			 "From: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: x\r\nCSeq: %s\r\n\r\n", bad[i]);
		assert_int_equal(parse(buf), -EBADMSG);
		assert_string_equal(perr.reason, "Malformed CSeq");
		assert_false(perr.can_reply);
	}
}

static void test_call_id(void **state)
{
	(void)state;
	assert_int_equal(parse(OPT_HEAD "\r\n"), 0);
	assert_int_equal(parse("OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\n"
			       "To: <sip:a@e>\r\nCall-ID: a b\r\nCSeq: 1 OPTIONS\r\n\r\n"),
			 -EBADMSG);
	assert_string_equal(perr.reason, "Malformed Call-ID");
	assert_int_equal(parse("OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\n"
			       "To: <sip:a@e>\r\nCall-ID:\r\nCSeq: 1 OPTIONS\r\n\r\n"),
			 -EBADMSG);
	assert_string_equal(perr.reason, "Malformed Call-ID");
}

static void test_scalars(void **state)
{
	(void)state;
	assert_int_equal(parse(OPT_HEAD "Max-Forwards: 0068\r\n\r\n"), 0);
	assert_int_equal(msg.max_forwards, 68);
	assert_int_equal(parse(OPT_HEAD "Max-Forwards: 255\r\n\r\n"), 0);
	assert_int_equal(msg.max_forwards, 255);
	assert_int_equal(parse(OPT_HEAD "Max-Forwards: 256\r\n\r\n"), 0);
	assert_int_equal(msg.max_forwards, -1);
	assert_int_equal(parse(OPT_HEAD "\r\n"), 0);
	assert_int_equal(msg.max_forwards, -1);
	assert_int_equal(msg.expires, -1);
	assert_int_equal(msg.content_length, -1);
	assert_int_equal(parse(OPT_HEAD "Max-Forwards: seventy\r\n\r\n"), -EBADMSG);
	assert_string_equal(perr.reason, "Malformed Max-Forwards");

	assert_int_equal(parse(OPT_HEAD "Expires: 0\r\n\r\n"), 0);
	assert_int_equal(msg.expires, 0);
	assert_int_equal(parse(OPT_HEAD "Expires: 99999999999999999999999\r\n\r\n"), 0);
	assert_int_equal(msg.expires, 4294967295);
	/* a date-form Expires is ignored outside REGISTER ... */
	assert_int_equal(parse(OPT_HEAD "Expires: Thu, 01 Dec 1994 16:00:00 GMT\r\n\r\n"), 0);
	assert_int_equal(msg.expires, -1);
	/* ... and an error in it */
	assert_int_equal(parse(REG_HEAD "Expires: Thu, 01 Dec 1994 16:00:00 GMT\r\n\r\n"), -EBADMSG);
	assert_string_equal(perr.reason, "Malformed Expires");
	assert_true(perr.can_reply);
	assert_int_equal(parse(REG_HEAD "Expires: -1\r\n\r\n"), -EBADMSG);
	assert_string_equal(perr.reason, "Malformed Expires");
}

static void test_content_length(void **state)
{
	(void)state;
	/* datagram: bytes past Content-Length are cut off (RFC 3261 §18.3) */
	assert_int_equal(parse(OPT_HEAD "Content-Length: 3\r\n\r\nabcTRAILING"), 0);
	assert_true(eq(msg.body, "abc"));
	assert_int_equal(msg.len, strlen(OPT_HEAD "Content-Length: 3\r\n\r\nabc"));
	/* without Content-Length the body runs to the end */
	assert_int_equal(parse(OPT_HEAD "\r\nxyz\r\n"), 0);
	assert_true(eq(msg.body, "xyz\r\n"));
	assert_int_equal(parse(OPT_HEAD "Content-Length: 4\r\n\r\nabc"), -EBADMSG);
	assert_string_equal(perr.reason, "Truncated body");
	assert_true(perr.can_reply);
	assert_int_equal(parse(OPT_HEAD "Content-Length: -999\r\n\r\nabc"), -EBADMSG);
	assert_string_equal(perr.reason, "Bad Content-Length");
	assert_int_equal(parse(OPT_HEAD "Content-Length: 65536\r\n\r\nabc"), -EBADMSG);
	assert_string_equal(perr.reason, "Bad Content-Length");
	assert_int_equal(parse(OPT_HEAD "Content-Length: 99999999999999999999999\r\n\r\n"), -EBADMSG);
	assert_int_equal(parse(OPT_HEAD "Content-Length: 1 2\r\n\r\n12"), -EBADMSG);
}

static void test_header_syntax(void **state)
{
	static const char *const bad[] = {
		"NoColon\r\n", "Bad Name: x\r\n", ": empty\r\n", "X-A: bare\rcr\r\n", "X-(: x\r\n",
	};
	char buf[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), OPT_HEAD "%s\r\n", bad[i]);
		assert_int_equal(parse(buf), -EBADMSG);
		assert_string_equal(perr.reason, "Malformed header");
	}
	/* a continuation line without a header before it */
	assert_int_equal(parse("OPTIONS sip:a@e SIP/2.0\r\n Via: SIP/2.0/UDP h\r\n\r\n"), -EBADMSG);
	assert_string_equal(perr.reason, "Malformed header");
	/* empty values, NUL bytes inside a quoted-pair and UTF-8 are all fine */
#define ODD OPT_HEAD "Subject:\r\nX-U: \xe2\x82\xac\r\nX-N: \"a\\\0b\"\r\n\r\n"
	assert_int_equal(parse_n(ODD, sizeof(ODD) - 1), 0);
#undef ODD
	assert_int_equal(sip_msg_hdr_by_name(&msg, "X-N")->value.len, 6);
	assert_int_equal(sip_msg_hdr_by_name(&msg, "Subject")->value.len, 0);
}

static void test_via_parse(void **state)
{
	struct sip_via v;
	struct slice rest;

	(void)state;
	assert_int_equal(sip_via_parse(&v, slice_cstr("SIP/2.0/TCP [2001:db8::9:1]:5061;branch=z9hG4bKas;"
						     "received=[2001:db8::9:255];rport=5062"), &rest), 0);
	assert_true(eq(v.host, "[2001:db8::9:1]"));
	assert_int_equal(v.port, 5061);
	assert_true(eq(v.transport, "TCP"));
	assert_true(eq(v.protocol, "SIP/2.0"));
	assert_true(eq(v.received, "[2001:db8::9:255]"));
	assert_true(v.rport);
	assert_true(eq(v.rport_val, "5062"));
	assert_int_equal(rest.len, 0);

	assert_int_equal(sip_via_parse(&v, slice_cstr("  SIP  / 2.0  / TCP     spindle.example.com   ;  "
						     "branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  "
						     "192.168.255.111   ; branch= z9hG4bK30239"), &rest), 0);
	assert_true(eq(v.host, "spindle.example.com"));
	assert_true(eq(v.branch, "z9hG4bK9ikj8"));
	assert_int_equal(v.port, 0);
	assert_true(eq(v.protocol, "SIP  / 2.0"));
	assert_true(eq(v.params, ";  branch  =   z9hG4bK9ikj8"));
	assert_true(eq(v.text, "SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8"));
	assert_int_equal(sip_via_parse(&v, rest, &rest), 0);
	assert_true(eq(v.host, "192.168.255.111"));
	assert_true(eq(v.branch, "z9hG4bK30239"));
	assert_int_equal(rest.len, 0);

	assert_int_equal(sip_via_parse(&v, slice_cstr("SIP/2.0/UDP h : 5070 ; rport ;maddr=224.2.0.1"),
				       &rest), 0);
	assert_int_equal(v.port, 5070);
	assert_true(v.rport);
	assert_int_equal(v.rport_val.len, 0);
	assert_int_equal(v.branch.len, 0);

	static const char *const bad[] = {
		"", "SIP/2.0/UDP", "SIP/2.0 UDP h", "SIP/2.0/UDPh", "SIP/2.0/UDP 192.0.2.15;;,;,,",
		"SIP/2.0/UDP h;", "SIP/2.0/UDP h,", "SIP/2.0/UDP h, ", "SIP/2.0/UDP h:99999",
		"SIP/2.0/UDP h:", "SIP/2.0/UDP [::1", "SIP/2.0/UDP h junk", "SIP/2.0/UDP h;rport=x",
		"SIP/2.0/UDP h;branch=\"open", "SIP//2.0/UDP h", "SIP/2.0/UDP [zz::1]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sip_via_parse(&v, slice_cstr(bad[i]), &rest), -EINVAL);
}

static void test_via_in_msg(void **state)
{
	(void)state;
	assert_int_equal(parse("OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.15;;,;,,\r\n"
			       "From: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"),
			 -EBADMSG);
	assert_string_equal(perr.reason, "Malformed Via");
	assert_false(perr.can_reply);
	/* a bad lower Via still fails the message, but a reply remains possible */
	assert_int_equal(parse("OPTIONS sip:a@e SIP/2.0\r\nVia: SIP/2.0/UDP a, SIP/2.0/UDP b\r\n"
			       "Via: nonsense\r\n"
			       "From: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"),
			 -EBADMSG);
	assert_string_equal(perr.reason, "Malformed Via");
	assert_true(perr.can_reply);
	assert_true(eq(msg.via1.host, "a"));
}

/* Limits: each exactly at the bound passes, one past fails. */

static char big[SW_MAX_MSG_SIZE + 64];

static void test_limit_headers(void **state)
{
	size_t n;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(big, sizeof(big), "%s", OPT_HEAD);
		for (int i = OPT_NHDRS; i < SW_MAX_HEADERS + extra; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, "X-H%d: %d\r\n", i, i);
		n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
		if (!extra) {
			assert_int_equal(parse_n(big, n), 0);
			assert_int_equal(msg.nhdrs, SW_MAX_HEADERS);
		} else {
			assert_int_equal(parse_n(big, n), -EBADMSG);
			assert_string_equal(perr.reason, "Too many headers");
			assert_true(perr.can_reply);
		}
	}
}

static void test_limit_header_len(void **state)
{
	size_t n, h;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(big, sizeof(big), "%s", OPT_HEAD);
		h = n;
		/* folded: the continuation CRLFs count towards the field's length */
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-Long: a\r\n b\r\n\tc");
		while (n - h < (size_t)SW_MAX_HEADER_LEN + (size_t)extra)
			big[n++] = 'x';
		n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n\r\n");
		if (!extra) {
			assert_int_equal(parse_n(big, n), 0);
			assert_int_equal(msg.hdrs[OPT_NHDRS].value.len,
					 SW_MAX_HEADER_LEN - strlen("X-Long: "));
		} else {
			assert_int_equal(parse_n(big, n), -EBADMSG);
			assert_string_equal(perr.reason, "Header too long");
		}
	}
	/* the limit does not depend on the line ending */
	n = (size_t)snprintf(big, sizeof(big), "%s", OPT_HEAD);
	h = n;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "X-Long: ");
	while (n - h < (size_t)SW_MAX_HEADER_LEN + 1)
		big[n++] = 'x';
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\n\n");
	assert_int_equal(parse_n(big, n), -EBADMSG);
	assert_string_equal(perr.reason, "Header too long");
}

static void test_limit_start_line(void **state)
{
	static const char tail[] = "Via: SIP/2.0/UDP h\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\nCall-ID: x\r\n"
				   "CSeq: 1 OPTIONS\r\n\r\n";
	size_t n;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(big, sizeof(big), "OPTIONS sip:a@e;p=");
		while (n < (size_t)SW_MAX_START_LINE + (size_t)extra - strlen(" SIP/2.0"))
			big[n++] = 'p';
		n += (size_t)snprintf(big + n, sizeof(big) - n, " SIP/2.0\r\n%s", tail);
		if (!extra) {
			assert_int_equal(parse_n(big, n), 0);
			assert_int_equal(msg.ruri_str.len + strlen("OPTIONS  SIP/2.0"), SW_MAX_START_LINE);
		} else {
			assert_int_equal(parse_n(big, n), -EBADMSG);
			assert_string_equal(perr.reason, "Start line too long");
			assert_false(perr.can_reply);
		}
	}
}

static void test_limit_vias(void **state)
{
	size_t n;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		n = (size_t)snprintf(big, sizeof(big), "OPTIONS sip:a@e SIP/2.0\r\n");
		/* half as separate headers, half comma-joined: both count */
		for (int i = 0; i < SW_MAX_VIAS / 2; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n,
					      "Via: SIP/2.0/UDP h%d;branch=z9hG4bK%d\r\n", i, i);
		n += (size_t)snprintf(big + n, sizeof(big) - n, "v: SIP/2.0/UDP j0");
		for (int i = 1; i < SW_MAX_VIAS - SW_MAX_VIAS / 2 + extra; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, ", SIP/2.0/UDP j%d", i);
		n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\nFrom: <sip:b@e>\r\nTo: <sip:a@e>\r\n"
						"Call-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n");
		if (!extra) {
			assert_int_equal(parse_n(big, n), 0);
		} else {
			assert_int_equal(parse_n(big, n), -EBADMSG);
			assert_string_equal(perr.reason, "Too many Via headers");
			assert_true(perr.can_reply);
		}
	}
}

static void test_limit_msg_size(void **state)
{
	size_t n, body;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		/* Content-Length is always 5 digits here, so the arithmetic is exact */
		n = strlen(OPT_HEAD "Content-Length: 00000\r\n\r\n");
		body = (size_t)SW_MAX_MSG_SIZE + (size_t)extra - n;
		n = (size_t)snprintf(big, sizeof(big), OPT_HEAD "Content-Length: %05zu\r\n\r\n", body);
		memset(big + n, 'b', body);
		n += body;
		assert_int_equal(n, (size_t)SW_MAX_MSG_SIZE + (size_t)extra);
		if (!extra) {
			assert_int_equal(parse_n(big, n), 0);
			assert_int_equal(msg.body.len, body);
		} else {
			assert_int_equal(parse_n(big, n), -EBADMSG);
			assert_false(perr.can_reply);
		}
	}
}

/* RFC 4475 torture messages: what the parser must make of each (from the
 * manifest's kind/accept): OK must parse, BAD must be rejected, ANY is free
 * (a liberal parser may accept it) but must not crash. */
enum expect { OK, BAD, ANY };

static const struct {
	const char *name;
	enum expect want;
} torture[] = {
	{ "wsinv", OK },	{ "intmeth", OK },    { "esc01", OK },	    { "escnull", OK },
	{ "esc02", OK },	{ "lwsdisp", OK },    { "longreq", OK },    { "dblreq", OK },
	{ "semiuri", OK },	{ "transports", OK }, { "mpart01", OK },    { "unreason", OK },
	{ "noreason", OK },	{ "badinv01", BAD },  { "clerr", BAD },	    { "ncl", BAD },
	{ "scalar02", BAD },	{ "scalarlg", BAD },  { "quotbal", BAD },   { "ltgtruri", BAD },
	{ "lwsruri", BAD },	{ "lwsstart", ANY },  { "trws", ANY },	    { "escruri", ANY },
	{ "baddate", ANY },	{ "regbadct", ANY },  { "badaspec", ANY },  { "baddn", ANY },
	{ "badvers", BAD },	{ "mismatch01", BAD }, { "mismatch02", BAD }, { "bigcode", BAD },
	{ "badbranch", OK },	{ "insuf", BAD },     { "unkscm", OK },	    { "novelsc", OK },
	{ "unksm2", OK },	{ "bext01", OK },     { "invut", OK },	    { "regaut01", OK },
	{ "multi01", BAD },	{ "mcl01", BAD },     { "bcast", OK },	    { "zeromf", OK },
	{ "cparam01", OK },	{ "cparam02", OK },   { "regescrt", OK },   { "sdp01", OK },
	{ "inv2543", OK },
};

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* SW_RFC4475_DIR, else ../shared/rfc4475/messages from the repository root:
 * tried as given (tests run from the root) and next to build/<mode>/tests/. */
static bool torture_dir(char *out, size_t cap)
{
	const char *env = getenv("SW_RFC4475_DIR");
	char exe[PATH_MAX - 64];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return is_dir(out);
	}
	snprintf(out, cap, "../shared/rfc4475/messages");
	if (is_dir(out))
		return true;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	snprintf(out, cap, "%s/../../../../shared/rfc4475/messages", exe);
	return is_dir(out);
}

static size_t read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	long sz;
	char *b;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	assert_true(sz > 0 && sz <= SW_MAX_MSG_SIZE);
	rewind(f);
	b = malloc((size_t)sz);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*out = b;
	return (size_t)sz;
}

/* What the server does with a parsed message: walk everything it would use. */
static void exercise(const struct sip_msg *m)
{
	const struct sip_hdr *h;
	struct sip_addr a;
	struct sip_digest_cred cred;
	char out[4096];
	struct sip_buf b;
	struct sip_src src = { "198.51.100.7", 5062 };

	for (h = sip_msg_hdr(m, SIP_HDR_CONTACT); h; h = sip_msg_hdr_next(m, h)) {
		struct slice cur = h->value;
		while (sip_addr_list_next(&cur, &a) == 1)
			;
	}
	h = sip_msg_hdr(m, SIP_HDR_AUTHORIZATION);
	if (h)
		(void)sip_digest_cred_parse(&cred, h->value);
	sip_buf_init(&b, out, sizeof(out));
	(void)sip_reply_build(&b, m, 400, NULL, "t1", &src, NULL);
}

static void test_rfc4475(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	size_t ntab = sizeof(torture) / sizeof(torture[0]);
	int seen = 0;
	DIR *d;
	struct dirent *de;

	(void)state;
	if (!torture_dir(dir, sizeof(dir))) {
		print_message("RFC 4475 messages not found (set SW_RFC4475_DIR); skipped\n");
		skip();
	}
	for (size_t i = 0; i < ntab; i++) {
		char *b;
		size_t n;
		int rc;

		snprintf(path, sizeof(path), "%s/%s.dat", dir, torture[i].name);
		n = read_file(path, &b);
		rc = sip_msg_parse(&msg, b, n, &perr);
		if (torture[i].want == OK && rc != 0)
			fail_msg("%s: rejected (%s)", torture[i].name, perr.reason);
		if (torture[i].want == BAD && rc != -EBADMSG)
			fail_msg("%s: accepted", torture[i].name);
		assert_true(msg.len <= n);
		assert_true(msg.body.len <= msg.len);
		if (rc == 0 || perr.can_reply)
			exercise(&msg);
		if (!strcmp(torture[i].name, "badvers"))
			assert_int_equal(perr.status, 505);
		if (!strcmp(torture[i].name, "dblreq")) {
			assert_int_equal(msg.method, SIP_REGISTER);
			assert_true(msg.len < n); /* the trailing INVITE is discarded */
		}
		free(b);
		seen++;
	}
	/* any other file in the directory must at least not upset the parser */
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		char *b;
		size_t n;
		if (l < 5 || strcmp(de->d_name + l - 4, ".dat"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = read_file(path, &b);
		if (sip_msg_parse(&msg, b, n, &perr) == 0 || perr.can_reply)
			exercise(&msg);
		free(b);
	}
	closedir(d);
	assert_int_equal(seen, (int)ntab);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_register_ok, teardown),
		cmocka_unit_test_teardown(test_response_ok, teardown),
		cmocka_unit_test_teardown(test_response_bad_code, teardown),
		cmocka_unit_test_teardown(test_version, teardown),
		cmocka_unit_test_teardown(test_request_line_bad, teardown),
		cmocka_unit_test_teardown(test_unknown_scheme_and_method, teardown),
		cmocka_unit_test_teardown(test_compact_forms, teardown),
		cmocka_unit_test_teardown(test_hdr_names_all, teardown),
		cmocka_unit_test(test_methods),
		cmocka_unit_test_teardown(test_hdr_next, teardown),
		cmocka_unit_test_teardown(test_hdr_next_interleaved, teardown),
		cmocka_unit_test_teardown(test_folding, teardown),
		cmocka_unit_test_teardown(test_bare_lf_and_leading_crlf, teardown),
		cmocka_unit_test_teardown(test_truncated, teardown),
		cmocka_unit_test_teardown(test_missing, teardown),
		cmocka_unit_test_teardown(test_duplicates, teardown),
		cmocka_unit_test_teardown(test_cseq, teardown),
		cmocka_unit_test_teardown(test_call_id, teardown),
		cmocka_unit_test_teardown(test_scalars, teardown),
		cmocka_unit_test_teardown(test_content_length, teardown),
		cmocka_unit_test_teardown(test_header_syntax, teardown),
		cmocka_unit_test(test_via_parse),
		cmocka_unit_test_teardown(test_via_in_msg, teardown),
		cmocka_unit_test_teardown(test_limit_headers, teardown),
		cmocka_unit_test_teardown(test_limit_header_len, teardown),
		cmocka_unit_test_teardown(test_limit_start_line, teardown),
		cmocka_unit_test_teardown(test_limit_vias, teardown),
		cmocka_unit_test_teardown(test_limit_msg_size, teardown),
		cmocka_unit_test(test_rfc4475),
	};

	return cmocka_run_group_tests_name("sip_msg", tests, NULL, NULL);
}
