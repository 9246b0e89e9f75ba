/* The server-wide index of stream connections by (transport, peer address),
 * so a request can go out on a connection that already exists (RFC 3261
 * §18.1.1; a phone behind NAT is reachable only over the connection it
 * registered on), whichever worker accepted or opened it. The index chains
 * the connections themselves (no allocation); it is written when a
 * connection opens or closes and read when a request is sent on a stream,
 * under the mutex of its shard held for a short chain walk. Fields read here are set
 * before a connection is added and never change while it is indexed. */
#include "transport/tp_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
	}
	return false;
}

static unsigned bucket(enum tp_proto proto, const struct sockaddr_storage *ss)
{
	const unsigned char *p;
	size_t n;
	uint32_t h = 2166136261u ^ (uint32_t)proto;
	uint16_t port;

	if (ss->ss_family == AF_INET6) {
		p = (const unsigned char *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		n = 16;
		port = ((const struct sockaddr_in6 *)ss)->sin6_port;
	} else {
		p = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
		n = 4;
		port = ((const struct sockaddr_in *)ss)->sin_port;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	h = (h ^ (port & 0xff)) * 16777619u;
	h = (h ^ (port >> 8)) * 16777619u;
	return h % SW_CONN_IDX_BUCKETS;
}

void tp_connidx_init(struct tp_server *srv)
{
	for (unsigned i = 0; i < TP_CONN_IDX_SHARDS; i++)
		pthread_mutex_init(&srv->idx_lock[i], NULL);
}

void tp_connidx_fini(struct tp_server *srv)
{
	for (unsigned i = 0; i < TP_CONN_IDX_SHARDS; i++)
		pthread_mutex_destroy(&srv->idx_lock[i]);
}

static pthread_mutex_t *lock_of(struct tp_server *srv, unsigned b)
{
	return &srv->idx_lock[b % TP_CONN_IDX_SHARDS];
}

void tp_connidx_add(struct tp_server *srv, struct tp_conn *c)
{
	unsigned b = bucket(c->ev.lst->proto, &c->peer);

	pthread_mutex_lock(lock_of(srv, b));
	c->idx_next = srv->idx[b];
	srv->idx[b] = c;
	c->indexed = true;
	pthread_mutex_unlock(lock_of(srv, b));
}

void tp_connidx_del(struct tp_server *srv, struct tp_conn *c)
{
	if (!c->indexed)
		return;
	unsigned b = bucket(c->ev.lst->proto, &c->peer);

	pthread_mutex_lock(lock_of(srv, b));
	for (struct tp_conn **pp = &srv->idx[b]; *pp; pp = &(*pp)->idx_next) {
		if (*pp == c) {
			*pp = c->idx_next;
			break;
		}
	}
	c->indexed = false;
	c->idx_next = NULL;
	pthread_mutex_unlock(lock_of(srv, b));
}

/* The newest connection wins: an older one to the same peer is on its way out. */
int tp_connidx_find(struct tp_server *srv, enum tp_proto proto, const struct sockaddr_storage *peer, unsigned *widx,
		    int *fd, uint32_t *gen)
{
	unsigned b = bucket(proto, peer);
	int err = -ENOENT;

	pthread_mutex_lock(lock_of(srv, b));
	for (const struct tp_conn *c = srv->idx[b]; c; c = c->idx_next) {
		if (c->ev.lst->proto == proto && same_peer(&c->peer, peer)) {
			*widx = c->widx;
			*fd = c->ev.fd;
			*gen = c->gen;
			err = 0;
			break;
		}
	}
	pthread_mutex_unlock(lock_of(srv, b));
	return err;
}
