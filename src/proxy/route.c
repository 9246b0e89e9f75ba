/* Routing helpers (RFC 3261 §16.4, §16.5, §16.3 step 4): is a URI this
 * server (the loop check itself is loop.c), and where an IP-literal URI points.
 * Host names of foreign domains are looked up in dns.c (RFC 3263). */
#include "proxy/proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Does host:port name one of our listen addresses? */
static bool is_listen(struct proxy_worker *pw, struct slice host, uint16_t port)
{
	const struct tp_listen *ls[2] = { tp_worker_udp_listen(pw->w, AF_INET), tp_worker_udp_listen(pw->w, AF_INET6) };
	struct sockaddr_storage a;
	socklen_t alen;

	if (tp_addr_from_text(host.p, host.len, port ? port : 5060, &a, &alen))
		return false;
	for (int i = 0; i < 2; i++) {
		const struct tp_listen *l = ls[i];
		if (!l || l->addr.ss_family != a.ss_family)
			continue;
		if (a.ss_family == AF_INET) {
			const struct sockaddr_in *x = (const struct sockaddr_in *)&a, *y = (const struct sockaddr_in *)&l->addr;
			if (x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port)
				return true;
		} else {
			const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a,
						  *y = (const struct sockaddr_in6 *)&l->addr;
			if (!memcmp(&x->sin6_addr, &y->sin6_addr, 16) && x->sin6_port == y->sin6_port)
				return true;
		}
	}
	return false;
}

bool proxy_uri_is_me(struct proxy_worker *pw, const struct sip_uri *uri)
{
	/* Only our own addresses: that is what our Record-Route carries. A
	 * domain name is not taken as "us" (it may be served by others too). */
	return uri->is_sip && is_listen(pw, uri->host, uri->port);
}

bool proxy_hostport_is_me(struct proxy_worker *pw, struct slice host, uint16_t port)
{
	return is_listen(pw, host, port);
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
