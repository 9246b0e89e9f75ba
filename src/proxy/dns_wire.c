/* DNS messages for the RFC 3263 lookups (RFC 1035 §4, RFC 2782 SRV, RFC 3596
 * AAAA): one question out, the answer and additional records in (A, AAAA,
 * SRV and CNAME; others skipped). Names are read with compression pointers
 * followed (backwards only, a bounded number of jumps) and kept in lower
 * case. No allocation. */
#include "proxy/dns.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int proxy_dns_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype)
{
	size_t n = strlen(name), o = 12;

	if (n == 0 || n > PROXY_DNS_MAX_NAME || cap < 12 + n + 2 + 4)
		return -EINVAL;
	memset(buf, 0, 12);
	put16(buf, id);
	buf[2] = 0x01; /* RD */
	put16(buf + 4, 1);
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		if (l == 0 || l > 63) {
			if (l == 0 && !dot[1])
				break; /* trailing dot */
			return -EINVAL;
		}
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
				return -EINVAL; /* an answer would not be read back (read_name) */
		buf[o++] = (uint8_t)l;
		memcpy(buf + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	buf[o++] = 0;
	put16(buf + o, qtype);
	put16(buf + o + 2, 1); /* IN */
	return (int)(o + 4);
}

/* Read the name at *off into out (lower case, dotted, no trailing dot);
 * *off moves past it in its original position, which must end by lim (the
 * end of the record data holding it, or of the message). Compression
 * pointers (RFC 1035 §4.1.4) must point back past the header and before the
 * start of the labels being read, so every jump goes strictly lower and no
 * loop is possible; the number of jumps is bounded as well. 0, -EBADMSG
 * (malformed: the message cannot be read further), or -EILSEQ (well formed,
 * *off moved, but a label holds a byte no host name has, such as a dot, a
 * NUL or a space, which would make two different names read the same). */
static int read_name(const uint8_t *m, size_t len, size_t lim, size_t *off, char *out, size_t cap)
{
	size_t o = *off, seg = *off, w = 0;
	bool jumped = false, odd = false;
	int hops = 0;

	if (lim > len)
		lim = len;
	/* Each pass reads a label or a pointer: at most 128 labels (each adds 2
	 * bytes to a name of at most 255) and 32 jumps. */
	for (int step = 0; step < 128 + 32; step++) {
		size_t end = jumped ? len : lim;
		if (o >= end)
			return -EBADMSG;
		uint8_t l = m[o];
		if (l == 0) {
			if (!jumped)
				*off = o + 1;
			out[w] = '\0';
			return odd ? -EILSEQ : 0;
		}
		if ((l & 0xc0) == 0xc0) {
			if (o + 1 >= end || ++hops > 32)
				return -EBADMSG;
			size_t to = (size_t)(l & 0x3f) << 8 | m[o + 1];
			if (to < 12 || to >= seg)
				return -EBADMSG; /* into the header, forward, or a loop */
			if (!jumped)
				*off = o + 2;
			jumped = true;
			o = seg = to;
			continue;
		}
		/* 0x40 and 0x80: extended and binary labels (obsolete), refused */
		if (l > 63 || o + 1 + l > end || w + l + 2 > cap || w + l + (w ? 1 : 0) > PROXY_DNS_MAX_NAME)
			return -EBADMSG;
		if (w)
			out[w++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = m[o + 1 + i];
			if (c <= ' ' || c >= 0x7f || c == '.')
				odd = true;
			out[w++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
		}
		o += 1 + l;
	}
	return -EBADMSG;
}

bool proxy_dns_name_eq(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	if (na && a[na - 1] == '.')
		na--;
	if (nb && b[nb - 1] == '.')
		nb--;
	return na == nb && strncasecmp(a, b, na) == 0;
}

bool proxy_dns_question_is(const uint8_t *m, size_t len, const char *name, uint16_t qtype)
{
	char got[PROXY_DNS_MAX_NAME + 2];
	size_t o = 12;

	if (len < 12 || get16(m + 4) != 1 || read_name(m, len, len, &o, got, sizeof(got)) || o + 4 > len)
		return false;
	if (!proxy_dns_name_eq(got, name))
		return false;
	return get16(m + o) == qtype && get16(m + o + 2) == 1;
}

/* RFC 2181 §8: a TTL with the top bit set is read as zero. */
static uint32_t get_ttl(const uint8_t *p)
{
	uint32_t t = (uint32_t)get16(p) << 16 | get16(p + 2);
	return t > 0x7fffffffu ? 0 : t;
}

int proxy_dns_parse(const uint8_t *m, size_t len, uint16_t id, struct proxy_dns_answer *out)
{
	char name[PROXY_DNS_MAX_NAME + 2];
	size_t o = 12;

	memset(out, 0, sizeof(*out));
	/* a response (QR) to a standard query (opcode 0) with our id */
	if (len < 12 || get16(m) != id || !(m[2] & 0x80) || (m[2] & 0x78))
		return -EBADMSG;
	out->truncated = (m[2] & 0x02) != 0;
	out->rcode = m[3] & 0x0f;
	/* Every record takes at least 11 bytes and every question 5, so these
	 * loops are bounded by the message length as well as by the counts.
	 * The header and the question must be whole; past them, a truncated
	 * answer (TC) is read as far as its records are whole, since a server
	 * may cut it anywhere (even leaving the counts of what it would have
	 * sent): the caller, seeing TC, asks again over TCP. */
	unsigned qd = get16(m + 4), an = get16(m + 6), ns = get16(m + 8), ar = get16(m + 10);
	int cut = out->truncated ? 0 : -EBADMSG; /* a record that does not read */
	for (unsigned i = 0; i < qd; i++) {
		int e = read_name(m, len, len, &o, name, sizeof(name));
		if ((e && e != -EILSEQ) || o + 4 > len)
			return -EBADMSG;
		o += 4;
	}
	for (unsigned i = 0; i < an + ns + ar; i++) {
		struct proxy_dns_rr rr;
		memset(&rr, 0, sizeof(rr));
		int bad = read_name(m, len, len, &o, rr.name, sizeof(rr.name));
		if ((bad && bad != -EILSEQ) || o + 10 > len)
			return cut;
		rr.type = get16(m + o);
		uint16_t cls = get16(m + o + 2);
		rr.ttl = get_ttl(m + o + 4);
		uint16_t rdlen = get16(m + o + 8);
		o += 10;
		if (o + rdlen > len)
			return cut;
		size_t rd = o, rd_end = o + rdlen;
		o = rd_end;
		if (i >= an && i < an + ns)
			continue; /* authority records are not used */
		if (cls != 1)
			continue;
		if (rr.type == PROXY_DNS_A && rdlen == 4) {
			memcpy(rr.addr, m + rd, 4);
		} else if (rr.type == PROXY_DNS_AAAA && rdlen == 16) {
			memcpy(rr.addr, m + rd, 16);
		} else if (rr.type == PROXY_DNS_SRV || rr.type == PROXY_DNS_CNAME) {
			/* the target name must fill the record data exactly */
			size_t t = rd;
			if (rr.type == PROXY_DNS_SRV) {
				if (rdlen < 7)
					return cut;
				rr.prio = get16(m + rd);
				rr.weight = get16(m + rd + 2);
				rr.port = get16(m + rd + 4);
				t += 6;
			}
			int e = read_name(m, len, rd_end, &t, rr.target, sizeof(rr.target));
			if ((e && e != -EILSEQ) || t != rd_end)
				return cut;
			bad = bad ? bad : e;
		} else {
			continue;
		}
		/* a name no host has cannot be what was asked: the record is skipped */
		if (bad || out->n == PROXY_DNS_MAX_RR)
			continue;
		rr.additional = i >= an;
		out->rr[out->n++] = rr;
	}
	return 0;
}
