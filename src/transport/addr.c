/* Listen specifications ("udp:IP:PORT", "tcp:...", "tls:..."), TLS SNI entries
 * ("name:cert:key") and socket address <-> text. Pure parsing, no OpenSSL. */
#include "transport/tp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tp_proto_name(enum tp_proto p)
{
	switch (p) {
	case TP_UDP:
		return "udp";
	case TP_TCP:
		return "tcp";
	case TP_TLS:
		return "tls";
	}
	return "?";
}

int tp_addr_from_text(const char *ip, size_t iplen, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	char tmp[64];

	if (iplen >= 2 && ip[0] == '[' && ip[iplen - 1] == ']') {
		ip++;
		iplen -= 2;
	}
	if (iplen == 0 || iplen >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, ip, iplen);
	tmp[iplen] = '\0';
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, tmp, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof(*v6);
		return 0;
	}
	return -EINVAL;
}

/* Dotted quad, written directly (glibc's inet_ntop formats IPv4 through
 * sprintf, on every received message). False when ipcap is too small. */
static bool ipv4_text(const struct in_addr *a, char *ip, size_t ipcap)
{
	const uint8_t *b = (const uint8_t *)&a->s_addr;
	char t[INET_ADDRSTRLEN];
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = b[i];

		if (i)
			t[n++] = '.';
		if (v >= 100)
			t[n++] = (char)('0' + v / 100);
		if (v >= 10)
			t[n++] = (char)('0' + v / 10 % 10);
		t[n++] = (char)('0' + v % 10);
	}
	if (n >= ipcap)
		return false;
	memcpy(ip, t, n);
	ip[n] = '\0';
	return true;
}

void tp_addr_text(const struct sockaddr_storage *ss, char *ip, size_t ipcap, uint16_t *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
		if (!inet_ntop(AF_INET6, &v6->sin6_addr, ip, (socklen_t)ipcap))
			snprintf(ip, ipcap, "?");
		*port = ntohs(v6->sin6_port);
	} else {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
		if (!ipv4_text(&v4->sin_addr, ip, ipcap))
			snprintf(ip, ipcap, "?");
		*port = ntohs(v4->sin_port);
	}
}

int tp_listen_parse(struct tp_listen *out, const char *spec)
{
	const char *rest, *host, *colon;
	size_t hostlen;
	unsigned long port = 5060;

	memset(out, 0, sizeof(*out));
	if (strncmp(spec, "udp:", 4) == 0) {
		out->proto = TP_UDP;
	} else if (strncmp(spec, "tcp:", 4) == 0) {
		out->proto = TP_TCP;
	} else if (strncmp(spec, "tls:", 4) == 0) {
		out->proto = TP_TLS;
		port = 5061; /* RFC 3261 §26.2: sips default port */
	} else {
		return -EINVAL;
	}
	rest = spec + 4;
	host = rest;
	if (*rest == '[') {
		const char *close = strchr(rest, ']');
		if (!close)
			return -EINVAL;
		hostlen = (size_t)(close - rest) + 1;
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close[1] != '\0')
			return -EINVAL;
	} else {
		colon = strrchr(rest, ':');
		if (colon && strchr(rest, ':') != colon)
			return -EINVAL; /* bare IPv6 must be bracketed */
		hostlen = colon ? (size_t)(colon - rest) : strlen(rest);
	}
	if (colon) {
		char *end;
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end != '\0' || colon[1] == '\0' || port == 0 || port > 65535)
			return -EINVAL;
	}
	if (tp_addr_from_text(host, hostlen, (uint16_t)port, &out->addr, &out->addrlen))
		return -EINVAL;
	char ip[64];
	uint16_t p;
	tp_addr_text(&out->addr, ip, sizeof(ip), &p);
	snprintf(out->text, sizeof(out->text), out->addr.ss_family == AF_INET6 ? "%s:[%s]:%u" : "%s:%s:%u",
		 tp_proto_name(out->proto), ip, p);
	return 0;
}

int tp_tls_sni_parse(struct tp_tls_sni *out, const char *spec)
{
	const char *c1 = strchr(spec, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

	memset(out, 0, sizeof(*out));
	if (!c1 || !c2 || strchr(c2 + 1, ':'))
		return -EINVAL;
	size_t nlen = (size_t)(c1 - spec), clen = (size_t)(c2 - c1 - 1), klen = strlen(c2 + 1);
	if (nlen == 0 || nlen > SW_MAX_DOMAIN || clen == 0 || clen >= SW_MAX_PATH || klen == 0 ||
	    klen >= SW_MAX_PATH)
		return -EINVAL;
	memcpy(out->name, spec, nlen);
	memcpy(out->cert, c1 + 1, clen);
	memcpy(out->key, c2 + 1, klen);
	return 0;
}
