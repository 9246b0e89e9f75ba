/* Trusted peers (seed 004: peers known by address, not by password): CIDR
 * networks with an optional name used in logs. Matching is by source address
 * only, never by anything the message itself claims. */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

static uint8_t *addr_bytes(struct sockaddr_storage *ss, unsigned *bits)
{
	if (ss->ss_family == AF_INET6) {
		*bits = 128;
		return ((struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
	}
	*bits = 32;
	return (uint8_t *)&((struct sockaddr_in *)ss)->sin_addr.s_addr;
}

int proxy_trusted_parse(struct proxy_trusted *out, const char *spec)
{
	char addr[80];
	const char *p = spec;
	size_t n;
	socklen_t len;
	unsigned max;

	memset(out, 0, sizeof(*out));
	while (*p == ' ' || *p == '\t')
		p++;
	n = strcspn(p, " \t/");
	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, p, n);
	addr[n] = '\0';
	p += n;
	if (tp_addr_from_text(addr, n, 0, &out->net, &len))
		return -EINVAL;
	uint8_t *bytes = addr_bytes(&out->net, &max);
	out->prefix = max;
	if (*p == '/') {
		char *end;
		unsigned long v = strtoul(p + 1, &end, 10);
		if (end == p + 1 || v > max)
			return -EINVAL;
		out->prefix = (unsigned)v;
		p = end;
	}
	/* Clear host bits so "10.1.2.3/8" means 10.0.0.0/8. */
	for (unsigned i = out->prefix; i < max; i++)
		bytes[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 0;
	if (strncmp(p, "name=", 5) != 0)
		return -EINVAL;
	p += 5;
	n = strcspn(p, " \t");
	if (n == 0 || n > PROXY_MAX_PEER_NAME || p[n + strspn(p + n, " \t")] != '\0')
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
		      strchr("-_.", p[i])))
			return -EINVAL;
	memcpy(out->name, p, n);
	out->name[n] = '\0';
	return 0;
}

const struct proxy_trusted *proxy_trusted_find(const struct proxy_cfg *cfg, const struct sockaddr_storage *addr)
{
	struct sockaddr_storage a = *addr;
	unsigned bits;
	uint8_t *ab = addr_bytes(&a, &bits);

	for (unsigned i = 0; i < cfg->ntrusted; i++) {
		struct sockaddr_storage n = cfg->trusted[i].net;
		unsigned nb;
		if (n.ss_family != a.ss_family)
			continue;
		if (prefix_match(ab, addr_bytes(&n, &nb), cfg->trusted[i].prefix))
			return &cfg->trusted[i];
	}
	return NULL;
}
