/* DNS wire format for RFC 3263 lookups (proxy/dns_wire.c): queries as RFC 1035
 * §4.1 lays them out, answers with SRV/A/AAAA/CNAME records and compressed
 * names, and the malformed ones refused (wrong id, not a response, truncated,
 * compression loops, forward pointers, names past their record); then which
 * records answer the question (proxy/dns_answer.c): owner names, CNAME
 * chains, SRV from the answer section only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proxy/dns.h"

static struct proxy_dns_answer ans;

static void test_query_layout(void **state)
{
	(void)state;
	uint8_t b[64];
	static const uint8_t want[] = { 0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 2, 'b', 'c', 0, 0, 33, 0, 1 };
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 0xabcd, "a.bc", PROXY_DNS_SRV), (int)sizeof(want));
	assert_memory_equal(b, want, sizeof(want));
	/* A trailing dot is the same name. */
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 0xabcd, "a.bc.", PROXY_DNS_SRV), (int)sizeof(want));
	assert_memory_equal(b, want, sizeof(want));
	/* Empty labels, 64-byte labels, too small a buffer. */
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 1, "a..bc", PROXY_DNS_A), -EINVAL);
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 1, "", PROXY_DNS_A), -EINVAL);
	char label[80];
	memset(label, 'x', 64);
	strcpy(label + 64, ".com");
	uint8_t big[128];
	assert_int_equal(proxy_dns_query_build(big, sizeof(big), 1, label, PROXY_DNS_A), -EINVAL);
	assert_int_equal(proxy_dns_query_build(b, 16, 1, "a.bc", PROXY_DNS_A), -EINVAL);
	/* bytes no answer's name may hold (read back as another name) */
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 1, "a b.bc", PROXY_DNS_A), -EINVAL);
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 1, "a\x01.bc", PROXY_DNS_A), -EINVAL);
	assert_int_equal(proxy_dns_query_build(b, sizeof(b), 1, "\xc3\xa9.bc", PROXY_DNS_A), -EINVAL);
}

/* Response to 0x1234 for _sip._udp.Far.Example SRV: 10 5 5070 sip1.far.example
 * (target written with a pointer into the question), additional A 192.0.2.7. */
static const uint8_t srv_resp[] = {
	0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 1,
	/* 12: question */
	4, '_', 's', 'i', 'p', 4, '_', 'u', 'd', 'p', 3, 'F', 'a', 'r', 7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 33, 0, 1,
	/* answer: owner = pointer to 12 */
	0xc0, 0x0c, 0, 33, 0, 1, 0, 0, 0, 60, 0, 13, 0, 10, 0, 5, 0x13, 0xce,
	4, 's', 'i', 'p', '1', 0xc0, 0x16, /* "sip1" + pointer to "Far.Example" (offset 22) */
	/* additional: sip1.far.example (pointer into the answer's target) A */
	0xc0, 0x39, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 7,
};

static void test_srv_with_additional(void **state)
{
	(void)state;
	assert_int_equal(proxy_dns_parse(srv_resp, sizeof(srv_resp), 0x1234, &ans), 0);
	assert_int_equal(ans.rcode, 0);
	assert_int_equal(ans.n, 2);
	assert_int_equal(ans.rr[0].type, PROXY_DNS_SRV);
	assert_string_equal(ans.rr[0].name, "_sip._udp.far.example");
	assert_int_equal(ans.rr[0].prio, 10);
	assert_int_equal(ans.rr[0].weight, 5);
	assert_int_equal(ans.rr[0].port, 5070);
	assert_int_equal(ans.rr[0].ttl, 60);
	assert_string_equal(ans.rr[0].target, "sip1.far.example");
	assert_false(ans.rr[0].additional);
	assert_int_equal(ans.rr[1].type, PROXY_DNS_A);
	assert_true(ans.rr[1].additional);
	assert_string_equal(ans.rr[1].name, "sip1.far.example");
	assert_int_equal(ans.rr[1].addr[0], 192);
	assert_int_equal(ans.rr[1].addr[3], 7);
}

static void test_malformed_answers_refused(void **state)
{
	(void)state;
	uint8_t m[sizeof(srv_resp)];
	/* another query's id */
	assert_int_equal(proxy_dns_parse(srv_resp, sizeof(srv_resp), 0x1235, &ans), -EBADMSG);
	/* a query, not a response */
	memcpy(m, srv_resp, sizeof(m));
	m[2] &= 0x7f;
	assert_int_equal(proxy_dns_parse(m, sizeof(m), 0x1234, &ans), -EBADMSG);
	/* cut anywhere inside the records */
	for (size_t n = 12; n < sizeof(srv_resp); n++)
		assert_int_equal(proxy_dns_parse(srv_resp, n, 0x1234, &ans), -EBADMSG);
	/* a name pointing at itself */
	static const uint8_t loop[] = { 0, 3, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1 };
	assert_int_equal(proxy_dns_parse(loop, sizeof(loop), 3, &ans), -EBADMSG);
}

static void test_nxdomain_rcode(void **state)
{
	(void)state;
	static const uint8_t nx[] = { 0, 9, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 0, 1, 0, 1 };
	assert_int_equal(proxy_dns_parse(nx, sizeof(nx), 9, &ans), 0);
	assert_int_equal(ans.rcode, PROXY_DNS_NXDOMAIN);
	assert_int_equal(ans.n, 0);
}

/* An answer must repeat our one question: same name (any case), type, class IN. */
static void test_question_must_match(void **state)
{
	(void)state;
	uint8_t b[128];
	int n = proxy_dns_query_build(b, sizeof(b), 7, "Sip.Example.COM", PROXY_DNS_SRV);
	assert_true(n > 0);
	assert_true(proxy_dns_question_is(b, (size_t)n, "sip.example.com", PROXY_DNS_SRV));
	assert_true(proxy_dns_question_is(b, (size_t)n, "sip.example.com.", PROXY_DNS_SRV));
	assert_false(proxy_dns_question_is(b, (size_t)n, "sip.example.co", PROXY_DNS_SRV));
	assert_false(proxy_dns_question_is(b, (size_t)n, "evil.example.com", PROXY_DNS_SRV));
	assert_false(proxy_dns_question_is(b, (size_t)n, "sip.example.com", PROXY_DNS_A));
	b[n - 1] = 3; /* class CH instead of IN */
	assert_false(proxy_dns_question_is(b, (size_t)n, "sip.example.com", PROXY_DNS_SRV));
	b[n - 1] = 1;
	b[5] = 2; /* two questions */
	assert_false(proxy_dns_question_is(b, (size_t)n, "sip.example.com", PROXY_DNS_SRV));
	b[5] = 1;
	assert_false(proxy_dns_question_is(b, (size_t)n - 1, "sip.example.com", PROXY_DNS_SRV)); /* cut short */
	assert_false(proxy_dns_question_is(b, 11, "sip.example.com", PROXY_DNS_SRV));
}

/* ---- a small builder of crafted answers ---- */

struct msg {
	uint8_t b[1024];
	size_t n;
};

static void m_put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void m_16(struct msg *m, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	m_put(m, b, 2);
}

static void m_32(struct msg *m, uint32_t v)
{
	m_16(m, (uint16_t)(v >> 16));
	m_16(m, (uint16_t)v);
}

/* Header: id, flags (QR|RD|RA = 0x8180 plus TC 0x0200, rcode), counts. */
static void m_head(struct msg *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar)
{
	m->n = 0;
	m_16(m, id);
	m_16(m, flags);
	m_16(m, qd);
	m_16(m, an);
	m_16(m, ns);
	m_16(m, ar);
}

/* A name without compression. */
static void m_name(struct msg *m, const char *dotted)
{
	const char *p = dotted;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		uint8_t lb = (uint8_t)l;
		m_put(m, &lb, 1);
		m_put(m, p, l);
		p += l + (dot ? 1 : 0);
	}
	m_put(m, "", 1);
}

static void m_question(struct msg *m, const char *name, uint16_t qtype)
{
	m_name(m, name);
	m_16(m, qtype);
	m_16(m, 1);
}

static void m_rr_head(struct msg *m, const char *owner, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	m_name(m, owner);
	m_16(m, type);
	m_16(m, 1);
	m_32(m, ttl);
	m_16(m, rdlen);
}

static void m_a(struct msg *m, const char *owner, uint32_t ttl, uint8_t last)
{
	uint8_t ip[4] = { 192, 0, 2, last };
	m_rr_head(m, owner, PROXY_DNS_A, ttl, 4);
	m_put(m, ip, 4);
}

static size_t wire_len(const char *dotted)
{
	return dotted[0] ? strlen(dotted) + 2 : 1; /* "": the root, one zero byte */
}

static void m_cname(struct msg *m, const char *owner, uint32_t ttl, const char *target)
{
	m_rr_head(m, owner, PROXY_DNS_CNAME, ttl, (uint16_t)wire_len(target));
	m_name(m, target);
}

static void m_srv(struct msg *m, const char *owner, uint16_t prio, uint16_t weight, uint16_t port, const char *target)
{
	m_rr_head(m, owner, PROXY_DNS_SRV, 60, (uint16_t)(6 + wire_len(target)));
	m_16(m, prio);
	m_16(m, weight);
	m_16(m, port);
	m_name(m, target);
}

static void parse_ok(const struct msg *m, uint16_t id)
{
	assert_int_equal(proxy_dns_parse(m->b, m->n, id, &ans), 0);
}

/* ---- owner names, CNAME chains (RFC 1034 §3.6.2) ---- */

/* An A answer whose records are owned by another name gives no address for
 * the name asked, even with a record for it in the additional section. */
static void test_wrong_owner_ignored(void **state)
{
	(void)state;
	struct msg m;
	char canon[PROXY_DNS_MAX_NAME + 2];
	uint32_t ttl = 3600;
	unsigned n;

	m_head(&m, 5, 0x8180, 1, 2, 0, 1);
	m_question(&m, "victim.example", PROXY_DNS_A);
	m_a(&m, "evil.example", 60, 66);
	m_a(&m, "victim.example.evil.example", 60, 67);
	m_a(&m, "victim.example", 60, 68); /* additional: not an answer */
	parse_ok(&m, 5);
	assert_int_equal(ans.n, 3);
	assert_int_equal(proxy_dns_cname_chain(&ans, "victim.example", PROXY_DNS_MAX_CNAME, canon, sizeof(canon), &ttl, &n),
			 0);
	assert_string_equal(canon, "victim.example");
	assert_int_equal(n, 0);
	assert_null(proxy_dns_find(&ans, canon, PROXY_DNS_A, false));

	/* The right owner after a wrong one (any case, trailing dot asked). */
	m_head(&m, 5, 0x8180, 1, 2, 0, 0);
	m_question(&m, "victim.example", PROXY_DNS_A);
	m_a(&m, "evil.example", 60, 66);
	m_a(&m, "Victim.Example", 60, 9);
	parse_ok(&m, 5);
	const struct proxy_dns_rr *rr = proxy_dns_find(&ans, "victim.example.", PROXY_DNS_A, false);
	assert_non_null(rr);
	assert_int_equal(rr->addr[3], 9);
	/* an A record does not answer an AAAA question */
	assert_null(proxy_dns_find(&ans, "victim.example", PROXY_DNS_AAAA, false));
}

/* www -> a -> b, b's address in the answer: b's A is the answer, the TTL the
 * chain's lowest, and an address owned by the alias itself is not used. */
static void test_cname_followed(void **state)
{
	(void)state;
	struct msg m;
	char canon[PROXY_DNS_MAX_NAME + 2];
	uint32_t ttl = 3600;
	unsigned n;

	m_head(&m, 6, 0x8180, 1, 4, 0, 0);
	m_question(&m, "www.far.example", PROXY_DNS_A);
	m_a(&m, "www.far.example", 60, 66); /* beside a CNAME: not valid data */
	m_cname(&m, "www.far.example", 300, "a.far.example");
	m_cname(&m, "a.far.example", 40, "b.far.example");
	m_a(&m, "b.far.example", 500, 7);
	parse_ok(&m, 6);
	assert_int_equal(ans.rr[1].type, PROXY_DNS_CNAME);
	assert_string_equal(ans.rr[1].target, "a.far.example");
	assert_int_equal(proxy_dns_cname_chain(&ans, "WWW.far.example", PROXY_DNS_MAX_CNAME, canon, sizeof(canon), &ttl,
					       &n),
			 0);
	assert_string_equal(canon, "b.far.example");
	assert_int_equal(n, 2);
	assert_int_equal(ttl, 40);
	const struct proxy_dns_rr *rr = proxy_dns_find(&ans, canon, PROXY_DNS_A, false);
	assert_non_null(rr);
	assert_int_equal(rr->addr[3], 7);

	/* Only the alias: the chain ends at a name with no address here
	 * (dns.c then asks for that name). */
	m_head(&m, 6, 0x8180, 1, 1, 0, 0);
	m_question(&m, "www.far.example", PROXY_DNS_A);
	m_cname(&m, "www.far.example", 300, "elsewhere.example");
	parse_ok(&m, 6);
	ttl = 3600;
	assert_int_equal(proxy_dns_cname_chain(&ans, "www.far.example", PROXY_DNS_MAX_CNAME, canon, sizeof(canon), &ttl,
					       &n),
			 0);
	assert_string_equal(canon, "elsewhere.example");
	assert_int_equal(n, 1);
	assert_null(proxy_dns_find(&ans, canon, PROXY_DNS_A, false));
}

/* a -> b -> a never ends on its own: the bound does. So does a chain one
 * longer than allowed; one exactly as long is followed. */
static void test_cname_loop_bounded(void **state)
{
	(void)state;
	struct msg m;
	char canon[PROXY_DNS_MAX_NAME + 2], owner[32], target[32];
	uint32_t ttl = 3600;
	unsigned n;

	m_head(&m, 7, 0x8180, 1, 2, 0, 0);
	m_question(&m, "a.example", PROXY_DNS_A);
	m_cname(&m, "a.example", 60, "b.example");
	m_cname(&m, "b.example", 60, "a.example");
	parse_ok(&m, 7);
	assert_int_equal(proxy_dns_cname_chain(&ans, "a.example", PROXY_DNS_MAX_CNAME, canon, sizeof(canon), &ttl, &n),
			 -ELOOP);
	/* a CNAME to itself */
	m_head(&m, 7, 0x8180, 1, 1, 0, 0);
	m_question(&m, "a.example", PROXY_DNS_A);
	m_cname(&m, "a.example", 60, "a.example");
	parse_ok(&m, 7);
	assert_int_equal(proxy_dns_cname_chain(&ans, "a.example", PROXY_DNS_MAX_CNAME, canon, sizeof(canon), &ttl, &n),
			 -ELOOP);

	for (unsigned len = PROXY_DNS_MAX_CNAME; len <= PROXY_DNS_MAX_CNAME + 1; len++) {
		m_head(&m, 7, 0x8180, 1, (uint16_t)(len + 1), 0, 0);
		m_question(&m, "c0.example", PROXY_DNS_A);
		for (unsigned i = 0; i < len; i++) {
			snprintf(owner, sizeof(owner), "c%u.example", i);
			snprintf(target, sizeof(target), "c%u.example", i + 1);
			m_cname(&m, owner, 60, target);
		}
		m_a(&m, target, 60, 1);
		parse_ok(&m, 7);
		int e = proxy_dns_cname_chain(&ans, "c0.example", PROXY_DNS_MAX_CNAME, canon, sizeof(canon), &ttl, &n);
		if (len == PROXY_DNS_MAX_CNAME) {
			assert_int_equal(e, 0);
			assert_string_equal(canon, target);
			assert_int_equal(n, PROXY_DNS_MAX_CNAME);
		} else {
			assert_int_equal(e, -ELOOP);
		}
	}
	/* the budget left after CNAMEs followed in earlier answers */
	assert_int_equal(proxy_dns_cname_chain(&ans, "c8.example", 0, canon, sizeof(canon), &ttl, &n), -ELOOP);
	assert_int_equal(proxy_dns_cname_chain(&ans, "c9.example", 0, canon, sizeof(canon), &ttl, &n), 0);
}

/* ---- TC, SRV selection (RFC 2782) ---- */

static void test_truncated_flag(void **state)
{
	(void)state;
	struct msg m;

	m_head(&m, 8, 0x8380, 1, 1, 0, 0); /* TC */
	m_question(&m, "t.example", PROXY_DNS_A);
	m_a(&m, "t.example", 60, 1);
	parse_ok(&m, 8);
	assert_true(ans.truncated);
	assert_int_equal(ans.n, 1);
	m.b[2] = 0x81;
	parse_ok(&m, 8);
	assert_false(ans.truncated);
	/* more records counted than sent: malformed, unless truncated (TC),
	 * when the whole records are read and the rest is left */
	m.b[7] = 2;
	assert_int_equal(proxy_dns_parse(m.b, m.n, 8, &ans), -EBADMSG);
	m.b[2] = 0x83;
	parse_ok(&m, 8);
	assert_true(ans.truncated);
	assert_int_equal(ans.n, 1);
}

/* A truncated answer cut anywhere past its question is still an answer to
 * the question (the caller asks again over TCP); cut in its header or
 * question, or with another id, it is not. */
static void test_truncated_cut_anywhere(void **state)
{
	(void)state;
	struct msg m;
	const char *q = "_sip._udp.cut.example";

	m_head(&m, 11, 0x8380, 1, 3, 0, 3);
	m_question(&m, q, PROXY_DNS_SRV);
	size_t qend = m.n;
	m_srv(&m, q, 10, 0, 5060, "a.cut.example");
	m_srv(&m, q, 10, 0, 5060, "b.cut.example");
	m_srv(&m, q, 10, 0, 5060, "c.cut.example");
	m_a(&m, "a.cut.example", 60, 1);
	m_a(&m, "b.cut.example", 60, 2);
	m_a(&m, "c.cut.example", 60, 3);
	for (size_t n = qend; n <= m.n; n++) {
		assert_int_equal(proxy_dns_parse(m.b, n, 11, &ans), 0);
		assert_true(ans.truncated);
		assert_true(ans.n <= 6);
		for (unsigned i = 0; i < ans.n; i++)
			assert_true(ans.rr[i].type == PROXY_DNS_SRV || ans.rr[i].type == PROXY_DNS_A);
		assert_true(proxy_dns_question_is(m.b, n, q, PROXY_DNS_SRV));
		assert_int_equal(proxy_dns_parse(m.b, n, 12, &ans), -EBADMSG);
	}
	assert_int_equal(proxy_dns_parse(m.b, m.n, 11, &ans), 0);
	assert_int_equal(ans.n, 6);
	for (size_t n = 0; n < qend; n++)
		assert_int_equal(proxy_dns_parse(m.b, n, 11, &ans), -EBADMSG);
	/* the same cuts without TC are malformed */
	m.b[2] = 0x81;
	for (size_t n = qend; n < m.n; n++)
		assert_int_equal(proxy_dns_parse(m.b, n, 11, &ans), -EBADMSG);
	parse_ok(&m, 11);
	assert_false(ans.truncated);
}

/* A SRV record of the additional section, or owned by another name, is no
 * candidate however heavy or preferred it is. */
static void test_additional_srv_not_counted(void **state)
{
	(void)state;
	struct msg m;
	const char *q = "_sip._udp.far.example";

	m_head(&m, 9, 0x8180, 1, 2, 0, 2);
	m_question(&m, q, PROXY_DNS_SRV);
	m_srv(&m, q, 10, 0, 5070, "good.far.example");
	m_srv(&m, "_sip._udp.evil.example", 0, 100, 5060, "evil.example");
	m_srv(&m, q, 10, 65535, 5060, "evil.example");
	m_srv(&m, q, 0, 65535, 5060, "evil.example");
	parse_ok(&m, 9);
	assert_int_equal(ans.n, 4);
	assert_true(ans.rr[2].additional);
	for (uint32_t r = 0; r < 70000; r += 7) {
		const struct proxy_dns_rr *s = proxy_dns_pick_srv(&ans, q, r);
		assert_non_null(s);
		assert_string_equal(s->target, "good.far.example");
	}
	assert_null(proxy_dns_pick_srv(&ans, "_sip._tcp.far.example", 1));
}

/* Weighted pick: running sums with weight 0 first; [0, total] inclusive. */
static void test_srv_weights(void **state)
{
	(void)state;
	struct msg m;
	const char *q = "_sip._udp.w.example";

	m_head(&m, 10, 0x8180, 1, 4, 0, 0);
	m_question(&m, q, PROXY_DNS_SRV);
	m_srv(&m, q, 20, 50, 1, "low.example"); /* worse priority: never */
	m_srv(&m, q, 10, 3, 2, "three.example");
	m_srv(&m, q, 10, 1, 3, "one.example");
	m_srv(&m, q, 10, 0, 4, "zero.example");
	parse_ok(&m, 10);
	/* order: zero (sum 0), three (3), one (4) */
	static const char *const want[] = { "zero.example", "three.example", "three.example", "three.example",
					    "one.example" };
	for (uint32_t r = 0; r < 5 * 3; r++)
		assert_string_equal(proxy_dns_pick_srv(&ans, q, r)->target, want[r % 5]);
}

/* A SRV record with port 0 or target "." names no server: never picked,
 * whatever its priority or weight; with only such records, none. */
static void test_srv_without_server_skipped(void **state)
{
	(void)state;
	struct msg m;
	const char *q = "_sip._udp.z.example";

	m_head(&m, 13, 0x8180, 1, 4, 0, 0);
	m_question(&m, q, PROXY_DNS_SRV);
	m_srv(&m, q, 0, 65535, 0, "zero.example");
	m_srv(&m, q, 0, 65535, 5060, "");
	m_srv(&m, q, 10, 0, 0, "zero2.example");
	m_srv(&m, q, 20, 1, 5070, "good.example");
	parse_ok(&m, 13);
	assert_int_equal(ans.n, 4);
	assert_string_equal(ans.rr[1].target, "");
	for (uint32_t r = 0; r < 70000; r += 7)
		assert_string_equal(proxy_dns_pick_srv(&ans, q, r)->target, "good.example");
	ans.rr[3].port = 0;
	assert_null(proxy_dns_pick_srv(&ans, q, 1));
	ans.rr[3].port = 5070;
	ans.rr[3].target[0] = '\0';
	assert_null(proxy_dns_pick_srv(&ans, q, 1));
}

/* ---- malformed names ---- */

static void test_pointers_backward_only(void **state)
{
	(void)state;
	/* question name: a pointer forward to a later name */
	static const uint8_t fwd[] = { 0, 4, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x12, 0, 1, 0, 1,
				       1, 'a', 0 };
	assert_int_equal(proxy_dns_parse(fwd, sizeof(fwd), 4, &ans), -EBADMSG);
	/* into the header */
	static const uint8_t hdr[] = { 0, 4, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x04, 0, 1, 0, 1 };
	assert_int_equal(proxy_dns_parse(hdr, sizeof(hdr), 4, &ans), -EBADMSG);
	/* two labels then a pointer back to the first of them: a loop */
	static const uint8_t lp[] = { 0, 4, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 1, 'b', 0xc0, 0x0c, 0, 1, 0, 1 };
	assert_int_equal(proxy_dns_parse(lp, sizeof(lp), 4, &ans), -EBADMSG);
	/* two names pointing at each other: 12 -> "x" + ptr 18, 18 -> "y" + ptr 12 */
	static const uint8_t two[] = { 0, 4, 0x81, 0x80, 0, 2, 0, 0, 0, 0, 0, 0,
				       1, 'x', 0xc0, 18, 0, 1, /* 18: */ 1, 'y', 0xc0, 12, 0, 1, 0, 1 };
	assert_int_equal(proxy_dns_parse(two, sizeof(two), 4, &ans), -EBADMSG);
	assert_false(proxy_dns_question_is(two, sizeof(two), "x.y", PROXY_DNS_A));
	/* and an ordinary backward pointer is fine */
	assert_int_equal(proxy_dns_parse(srv_resp, sizeof(srv_resp), 0x1234, &ans), 0);
}

/* A SRV or CNAME target must end where its record data ends. */
static void test_target_within_rdata(void **state)
{
	(void)state;
	struct msg m;

	m_head(&m, 11, 0x8180, 1, 1, 0, 0);
	m_question(&m, "c.example", PROXY_DNS_A);
	m_cname(&m, "c.example", 60, "t.example");
	parse_ok(&m, 11);
	size_t rdlen_at = m.n - wire_len("t.example") - 2;
	/* rdlength one short: the name runs past its record */
	m.b[rdlen_at + 1]--;
	assert_int_equal(proxy_dns_parse(m.b, m.n, 11, &ans), -EBADMSG);
	/* one long: the data has a byte after the name */
	m.b[rdlen_at + 1] += 2;
	m_put(&m, "", 1);
	assert_int_equal(proxy_dns_parse(m.b, m.n, 11, &ans), -EBADMSG);

	/* a SRV record too short to hold its name */
	static const uint8_t srv[] = { 0, 12, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0,
				       1, 's', 0, 0, 33, 0, 1, 0, 0, 0, 60, 0, 6, 0, 1, 0, 2, 0, 3 };
	assert_int_equal(proxy_dns_parse(srv, sizeof(srv), 12, &ans), -EBADMSG);
}

/* A label holding a dot or NUL would make "a.b" of one label read like two,
 * or hide a suffix: such records are skipped, the rest is read. */
static void test_odd_label_bytes_skip_record(void **state)
{
	(void)state;
	struct msg m;

	m_head(&m, 13, 0x8180, 1, 3, 0, 0);
	m_question(&m, "victim.example", PROXY_DNS_A);
	static const uint8_t dotted[] = { 14, 'v', 'i', 'c', 't', 'i', 'm', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0 };
	m_put(&m, dotted, sizeof(dotted));
	m_16(&m, PROXY_DNS_A);
	m_16(&m, 1);
	m_32(&m, 60);
	m_16(&m, 4);
	m_put(&m, "\x01\x02\x03\x04", 4);
	static const uint8_t nul[] = { 6, 'v', 'i', 'c', 't', 'i', 'm', 9, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 'x', 0 };
	m_put(&m, nul, sizeof(nul));
	m_16(&m, PROXY_DNS_A);
	m_16(&m, 1);
	m_32(&m, 60);
	m_16(&m, 4);
	m_put(&m, "\x05\x06\x07\x08", 4);
	m_a(&m, "ok.example", 60, 9);
	parse_ok(&m, 13);
	assert_int_equal(ans.n, 1);
	assert_string_equal(ans.rr[0].name, "ok.example");
	assert_null(proxy_dns_find(&ans, "victim.example", PROXY_DNS_A, false));
}

/* RFC 2181 §8: a TTL with the top bit set is zero; opcode must be QUERY. */
static void test_ttl_and_opcode(void **state)
{
	(void)state;
	struct msg m;

	m_head(&m, 14, 0x8180, 1, 1, 0, 0);
	m_question(&m, "t.example", PROXY_DNS_A);
	m_a(&m, "t.example", 0x80000001u, 1);
	parse_ok(&m, 14);
	assert_int_equal(ans.rr[0].ttl, 0);
	m.b[2] = 0x81 | (2 << 3); /* opcode STATUS */
	assert_int_equal(proxy_dns_parse(m.b, m.n, 14, &ans), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_layout),
		cmocka_unit_test(test_srv_with_additional),
		cmocka_unit_test(test_malformed_answers_refused),
		cmocka_unit_test(test_nxdomain_rcode),
		cmocka_unit_test(test_question_must_match),
		cmocka_unit_test(test_wrong_owner_ignored),
		cmocka_unit_test(test_cname_followed),
		cmocka_unit_test(test_cname_loop_bounded),
		cmocka_unit_test(test_truncated_flag),
		cmocka_unit_test(test_truncated_cut_anywhere),
		cmocka_unit_test(test_additional_srv_not_counted),
		cmocka_unit_test(test_srv_weights),
		cmocka_unit_test(test_srv_without_server_skipped),
		cmocka_unit_test(test_pointers_backward_only),
		cmocka_unit_test(test_target_within_rdata),
		cmocka_unit_test(test_odd_label_bytes_skip_record),
		cmocka_unit_test(test_ttl_and_opcode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
