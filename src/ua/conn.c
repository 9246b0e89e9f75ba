/* The UA's one connection to its server: a connected UDP socket (so ICMP
 * errors surface and only the server's datagrams arrive) or one TCP stream
 * framed by Content-Length (RFC 3261 §18.3). Opened lazily, non-blocking. */
#include "ua/ua_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "transport/tp.h"

static int resolve(struct sw_ua *ua)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	char port[8];
	int rc;

	hints.ai_socktype = ua->transport == SW_UA_TCP ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", ua->server_port);
	rc = getaddrinfo(ua->server_host, port, &hints, &res);
	if (rc != 0 || !res)
		return -EHOSTUNREACH;
	memcpy(&ua->peer, res->ai_addr, res->ai_addrlen);
	ua->peerlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Bounded connect: the transaction timeout also bounds connection set-up. */
static int connect_wait(struct sw_ua *ua)
{
	struct pollfd p = { .fd = ua->fd, .events = POLLOUT };
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (connect(ua->fd, (struct sockaddr *)&ua->peer, ua->peerlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	if (poll(&p, 1, (int)ua->timeout_ms) <= 0)
		return -ETIMEDOUT;
	if (getsockopt(ua->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		return -errno;
	return soerr ? -soerr : 0;
}

int ua_conn_open(struct sw_ua *ua)
{
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	int err;

	if (ua->fd >= 0)
		return 0;
	err = resolve(ua);
	if (err)
		return err;
	ua->fd = socket(ua->peer.ss_family, (ua->transport == SW_UA_TCP ? SOCK_STREAM : SOCK_DGRAM) |
						   SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ua->fd < 0)
		return -errno;
	if (ua->transport == SW_UA_TCP) {
		int one = 1;

		setsockopt(ua->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	err = connect_wait(ua);
	if (!err && getsockname(ua->fd, (struct sockaddr *)&local, &ll) != 0)
		err = -errno;
	if (err) {
		ua_conn_close(ua);
		return err;
	}
	tp_addr_text(&local, ua->local_ip, sizeof(ua->local_ip), &ua->local_port);
	ua->rlen = 0;
	return 0;
}

void ua_conn_close(struct sw_ua *ua)
{
	if (ua->fd >= 0)
		close(ua->fd);
	ua->fd = -1;
	ua->rlen = 0;
	ua->rconsumed = 0;
}

int ua_conn_send(struct sw_ua *ua, const char *buf, size_t len)
{
	size_t off = 0;
	int err = ua_conn_open(ua);

	if (err)
		return err;
	ua_trace(ua, true, buf, len);
	while (off < len) {
		ssize_t n = send(ua->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && ua->transport == SW_UA_TCP) {
			struct pollfd p = { .fd = ua->fd, .events = POLLOUT };

			if (poll(&p, 1, (int)ua->timeout_ms) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return -errno;
		off += (size_t)n;
		if (ua->transport == SW_UA_UDP)
			break;
	}
	return 0;
}

static int take_frame(struct sw_ua *ua, char **buf, size_t *len)
{
	size_t skip = 0, mlen = 0;
	enum tp_frame f;

	for (;;) {
		f = tp_frame_scan(ua->rbuf, ua->rlen, SW_MAX_MSG_SIZE, &skip, &mlen);
		if (f == TP_FRAME_BAD)
			return -EBADMSG;
		if (f == TP_FRAME_PING) {
			memmove(ua->rbuf, ua->rbuf + skip + mlen, ua->rlen - skip - mlen);
			ua->rlen -= skip + mlen;
			continue;
		}
		if (f == TP_FRAME_MORE)
			return 0;
		*buf = ua->rbuf + skip;
		*len = mlen;
		ua->rconsumed = skip + mlen; /* dropped on the next call */
		return 1;
	}
}

int ua_conn_recv(struct sw_ua *ua, char **buf, size_t *len)
{
	ssize_t n;

	if (ua->fd < 0)
		return 0;
	if (ua->transport == SW_UA_UDP) {
		n = recv(ua->fd, ua->rbuf, SW_MAX_MSG_SIZE, 0);
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
		*buf = ua->rbuf;
		*len = (size_t)n;
		return 1;
	}
	if (ua->rconsumed) {
		memmove(ua->rbuf, ua->rbuf + ua->rconsumed, ua->rlen - ua->rconsumed);
		ua->rlen -= ua->rconsumed;
		ua->rconsumed = 0;
	}
	for (;;) {
		int r = take_frame(ua, buf, len);

		if (r != 0)
			return r;
		if (ua->rlen >= SW_MAX_MSG_SIZE)
			return -EMSGSIZE;
		n = recv(ua->fd, ua->rbuf + ua->rlen, SW_MAX_MSG_SIZE - ua->rlen, 0);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
		ua->rlen += (size_t)n;
	}
}
