/* Which transport and address a request leaves on: from a URI (RFC 3261
 * §18.1.1 / RFC 3263 §4.1 without DNS: sips: means TLS, else ;transport=,
 * else UDP), and for a registered contact from where its REGISTER came: a
 * contact registered over TCP or TLS is reached only over that connection
 * (RFC 3261 §18, RFC 5626 §5.3: a phone behind NAT takes nothing else), one
 * registered over UDP at its own address unless that is private or a name.
 * Pure functions: no sockets. */
#include "proxy/proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

int proxy_uri_dest(const struct sip_uri *uri, struct tp_dest *out)
{
	struct slice tr;

	memset(out, 0, sizeof(*out));
	out->proto = TP_UDP;
	if (uri->is_sips) {
		out->proto = TP_TLS;
	} else if (sip_param_find(uri->params, "transport", &tr) == 0) {
		if (slice_caseeq_cstr(tr, "tcp"))
			out->proto = TP_TCP;
		else if (slice_caseeq_cstr(tr, "tls"))
			out->proto = TP_TLS;
		else if (!slice_caseeq_cstr(tr, "udp"))
			return -EPROTONOSUPPORT; /* sctp, ws, wss: not spoken here */
	}
	if (proxy_uri_addr(uri, &out->addr))
		return -EINVAL;
	if (!uri->port && out->proto == TP_TLS) {
		/* RFC 3261 §19.1.2: sips (and TLS) default to 5061. */
		struct sockaddr_in *v4 = (struct sockaddr_in *)&out->addr;
		struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->addr;
		if (out->addr.ss_family == AF_INET6)
			v6->sin6_port = htons(5061);
		else
			v4->sin_port = htons(5061);
	}
	return 0;
}

/* A received source in the location service's IPv4 form, read without the
 * general listen-address parser (registrar_received_pack); false for anything
 * else (IPv6, names), which goes there. */
static bool received_ipv4(struct slice t, struct tp_listen *l)
{
	static const enum tp_proto proto_of[4] = { TP_UDP, TP_UDP, TP_TCP, TP_TLS };
	uint8_t u[7];

	if (!registrar_received_pack(t, u))
		return false;
	memset(l, 0, sizeof(*l));
	l->proto = proto_of[u[0] & 3];
	struct sockaddr_in *v4 = (struct sockaddr_in *)&l->addr;
	v4->sin_family = AF_INET;
	memcpy(&v4->sin_port, u + 5, 2); /* already big endian */
	memcpy(&v4->sin_addr, u + 1, 4);
	l->addrlen = sizeof(*v4);
	return true;
}

int proxy_contact_dest(const struct sip_uri *contact, struct slice received, struct tp_dest *out)
{
	struct tp_listen l;
	char rcv[128];
	bool have_rcv = received_ipv4(received, &l);

	if (!have_rcv && received.len > 4 && received.len < sizeof(rcv)) {
		memcpy(rcv, received.p, received.len);
		rcv[received.len] = '\0';
		have_rcv = tp_listen_parse(&l, rcv) == 0;
	}
	if (have_rcv && l.proto != TP_UDP) {
		memset(out, 0, sizeof(*out));
		out->proto = l.proto;
		out->flags = TP_DEST_REUSE_ONLY;
		out->addr = l.addr;
		return 0;
	}
	int err = proxy_uri_dest(contact, out);
	if (err == -EPROTONOSUPPORT)
		return err;
	if (have_rcv && (err || proxy_ip_is_private(contact->host))) {
		/* Behind NAT (or a name we do not resolve): where the REGISTER came from. */
		memset(out, 0, sizeof(*out));
		out->proto = TP_UDP;
		out->addr = l.addr;
		return 0;
	}
	return err;
}
