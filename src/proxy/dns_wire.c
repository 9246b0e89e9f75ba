/* DNS messages for the RFC 3263 lookups (RFC 1035 §4, RFC 2782 SRV, RFC 3596
 * AAAA): one question out, the answer and additional records in. Names are
 * read with compression pointers followed (a bounded number of jumps) and
 * kept in lower case. No allocation. */
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
 * *off moves past it in the original position. 0 or -EBADMSG. */
static int read_name(const uint8_t *m, size_t len, size_t *off, char *out, size_t cap)
{
	size_t o = *off, w = 0;
	bool jumped = false;

	for (int hops = 0; hops < 32; hops++) {
		if (o >= len)
			return -EBADMSG;
		uint8_t l = m[o];
		if (l == 0) {
			if (!jumped)
				*off = o + 1;
			out[w] = '\0';
			return 0;
		}
		if ((l & 0xc0) == 0xc0) {
			if (o + 1 >= len)
				return -EBADMSG;
			if (!jumped)
				*off = o + 2;
			jumped = true;
			o = (size_t)(l & 0x3f) << 8 | m[o + 1];
			continue;
		}
		if (l > 63 || o + 1 + l > len || w + l + 2 > cap)
			return -EBADMSG;
		if (w)
			out[w++] = '.';
		for (size_t i = 0; i < l; i++) {
			char c = (char)m[o + 1 + i];
			out[w++] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
		}
		o += 1 + l;
		hops--; /* only pointer jumps are bounded by hops; labels by len */
		if (w > PROXY_DNS_MAX_NAME)
			return -EBADMSG;
	}
	return -EBADMSG;
}

bool proxy_dns_question_is(const uint8_t *m, size_t len, const char *name, uint16_t qtype)
{
	char got[PROXY_DNS_MAX_NAME + 2];
	size_t o = 12, n = strlen(name);

	if (len < 12 || get16(m + 4) != 1 || read_name(m, len, &o, got, sizeof(got)) || o + 4 > len)
		return false;
	if (n && name[n - 1] == '.')
		n--;
	if (strlen(got) != n || strncasecmp(got, name, n) != 0)
		return false;
	return get16(m + o) == qtype && get16(m + o + 2) == 1;
}

int proxy_dns_parse(const uint8_t *m, size_t len, uint16_t id, struct proxy_dns_answer *out)
{
	char name[PROXY_DNS_MAX_NAME + 2];
	size_t o = 12;

	memset(out, 0, sizeof(*out));
	if (len < 12 || get16(m) != id || !(m[2] & 0x80))
		return -EBADMSG;
	out->rcode = m[3] & 0x0f;
	unsigned qd = get16(m + 4), an = get16(m + 6), ns = get16(m + 8), ar = get16(m + 10);
	for (unsigned i = 0; i < qd; i++) {
		if (read_name(m, len, &o, name, sizeof(name)) || o + 4 > len)
			return -EBADMSG;
		o += 4;
	}
	for (unsigned i = 0; i < an + ns + ar; i++) {
		struct proxy_dns_rr rr;
		memset(&rr, 0, sizeof(rr));
		if (read_name(m, len, &o, rr.name, sizeof(rr.name)) || o + 10 > len)
			return -EBADMSG;
		rr.type = get16(m + o);
		uint16_t cls = get16(m + o + 2);
		rr.ttl = (uint32_t)get16(m + o + 4) << 16 | get16(m + o + 6);
		uint16_t rdlen = get16(m + o + 8);
		o += 10;
		if (o + rdlen > len)
			return -EBADMSG;
		size_t rd = o;
		o += rdlen;
		if (i >= an && i < an + ns)
			continue; /* authority records are not used */
		if (cls != 1 || out->n == PROXY_DNS_MAX_RR)
			continue;
		if (rr.type == PROXY_DNS_A && rdlen == 4) {
			memcpy(rr.addr, m + rd, 4);
		} else if (rr.type == PROXY_DNS_AAAA && rdlen == 16) {
			memcpy(rr.addr, m + rd, 16);
		} else if (rr.type == PROXY_DNS_SRV && rdlen > 6) {
			size_t t = rd + 6;
			rr.prio = get16(m + rd);
			rr.weight = get16(m + rd + 2);
			rr.port = get16(m + rd + 4);
			if (read_name(m, len, &t, rr.target, sizeof(rr.target)))
				return -EBADMSG;
		} else {
			continue;
		}
		rr.additional = i >= an;
		out->rr[out->n++] = rr;
	}
	return 0;
}
