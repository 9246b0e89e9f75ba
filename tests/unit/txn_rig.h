/* Test rig of the transaction unit tests: a "server" UDP socket, a peer socket
 * on loopback, the peer as a tp_src, and a worker whose one UDP socket is the
 * server's (for client transactions). Include after cmocka.h. */
#ifndef SW_TEST_TXN_RIG_H
#define SW_TEST_TXN_RIG_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "transport/tp_int.h"

struct rig {
	int srv, peer;
	struct sockaddr_storage peer_addr;
	struct tp_listen lst;
	struct tp_ev sock;
	struct tp_worker w;
	struct tp_src src; /**< the peer as the source of requests to the server */
};

static inline void rig_open(struct rig *r)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct timeval tv = { 2, 0 };

	memset(r, 0, sizeof(*r));
	r->srv = socket(AF_INET, SOCK_DGRAM, 0);
	r->peer = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(r->srv >= 0 && r->peer >= 0);
	assert_int_equal(bind(r->srv, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(bind(r->peer, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(r->peer, (struct sockaddr *)&a, &alen), 0);
	assert_int_equal(setsockopt(r->peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	memcpy(&r->peer_addr, &a, sizeof(a));
	r->lst.proto = TP_UDP;
	r->lst.addr.ss_family = AF_INET;
	r->sock.kind = TP_EV_UDP;
	r->sock.fd = r->srv;
	r->sock.lst = &r->lst;
	r->w.socks = &r->sock;
	r->w.nsocks = 1;
	r->src.proto = TP_UDP;
	r->src.fd = r->srv;
	memcpy(&r->src.peer, &a, sizeof(a));
	r->src.peerlen = sizeof(a);
}

static inline void rig_close(struct rig *r)
{
	close(r->srv);
	close(r->peer);
}

/* The next datagram the peer got, NUL-terminated; fails the test when none
 * comes within 2 s. */
static inline size_t rig_recv(struct rig *r, char *buf, size_t cap)
{
	ssize_t n = recv(r->peer, buf, cap - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	return (size_t)n;
}

/* The datagram the peer already has (NUL-terminated), or 0 when none is queued. */
static inline size_t rig_try_recv(struct rig *r, char *buf, size_t cap)
{
	ssize_t n = recv(r->peer, buf, cap - 1, MSG_DONTWAIT);
	if (n < 0) {
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return 0;
	}
	buf[n] = '\0';
	return (size_t)n;
}

#endif
