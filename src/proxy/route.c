/* Routing helpers (RFC 3261 §16.4, §16.5, §16.3 step 4): is a URI or a Via
 * this server (any listen address of any transport, IPv4 or IPv6, a missing
 * port meaning 5060, or 5061 for TLS; the loop check itself is loop.c), and
 * where an IP-literal URI points.
 * Host names of foreign domains are looked up in dns.c (RFC 3263). */
#include "proxy/proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
		return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
	}
	const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
	return !memcmp(&x->sin6_addr, &y->sin6_addr, 16) && x->sin6_port == y->sin6_port;
}

/* Is a (IP and port) one of our listen addresses, of any transport? */
static bool addr_is_listen(struct proxy_worker *pw, const struct sockaddr_storage *a)
{
	if (pw->p->listens) {
		for (unsigned i = 0; i < pw->p->nlistens; i++)
			if (same_addr(&pw->p->listens[i].addr, a))
				return true;
		return false;
	}
	static const enum tp_proto protos[] = { TP_UDP, TP_TCP, TP_TLS };
	for (unsigned i = 0; i < 3; i++) {
		const struct tp_listen *l = tp_worker_listen(pw->w, protos[i], a->ss_family);
		if (l && same_addr(&l->addr, a))
			return true;
	}
	return false;
}

/* Does host:port (port already defaulted) name one of our listen addresses? */
static bool is_listen(struct proxy_worker *pw, struct slice host, uint16_t port)
{
	struct sockaddr_storage a;
	socklen_t alen;

	if (tp_addr_from_text(host.p, host.len, port, &a, &alen))
		return false;
	return addr_is_listen(pw, &a);
}

uint16_t proxy_uri_default_port(const struct sip_uri *uri)
{
	struct slice tr;

	if (uri->port)
		return uri->port;
	/* RFC 3261 §19.1.2: 5061 for sips: and for SIP over TLS. */
	if (uri->is_sips || (sip_param_find(uri->params, "transport", &tr) == 0 && slice_caseeq_cstr(tr, "tls")))
		return 5061;
	return 5060;
}

bool proxy_uri_is_me(struct proxy_worker *pw, const struct sip_uri *uri)
{
	/* Only our own addresses: that is what our Record-Route carries. A
	 * domain name is not taken as "us" (it may be served by others too). */
	return uri->is_sip && is_listen(pw, uri->host, proxy_uri_default_port(uri));
}

bool proxy_hostport_is_me(struct proxy_worker *pw, struct slice host, uint16_t port)
{
	return is_listen(pw, host, port ? port : 5060);
}

static bool is_me_cb(void *arg, struct slice host, uint16_t port)
{
	return is_listen(arg, host, port);
}

bool proxy_loop_detected(struct proxy_worker *pw, const struct sip_msg *msg)
{
	return proxy_loop_found(msg, is_me_cb, pw);
}

int proxy_uri_addr(const struct sip_uri *uri, struct sockaddr_storage *out)
{
	socklen_t len;
	struct slice maddr;

	if (!uri->is_sip || uri->host.len == 0)
		return -EINVAL;
	/* RFC 3261 §19.1.1: maddr overrides the host. */
	if (sip_param_find(uri->params, "maddr", &maddr) == 0 && maddr.len)
		return tp_addr_from_text(maddr.p, maddr.len, uri->port ? uri->port : 5060, out, &len);
	return tp_addr_from_text(uri->host.p, uri->host.len, uri->port ? uri->port : 5060, out, &len);
}

bool proxy_ip_is_private(struct slice host)
{
	struct sockaddr_storage a;
	socklen_t len;

	if (tp_addr_from_text(host.p, host.len, 0, &a, &len))
		return false;
	if (a.ss_family == AF_INET6) {
		const uint8_t *b = ((const struct sockaddr_in6 *)&a)->sin6_addr.s6_addr;
		return (b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80); /* ULA, link-local */
	}
	uint32_t ip = ntohl(((const struct sockaddr_in *)&a)->sin_addr.s_addr);
	return (ip >> 24) == 10 || (ip >> 20) == (172u << 4 | 1) || (ip >> 16) == (192u << 8 | 168) ||
	       (ip >> 22) == (100u << 2 | 1) || (ip >> 16) == (169u << 8 | 254);
}
