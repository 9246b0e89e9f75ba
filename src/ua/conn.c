/* The UA's one connection to its server: a connected UDP socket (so ICMP
 * errors surface and only the server's datagrams arrive) or one TCP stream,
 * plain or with TLS on it (tls.c), framed by Content-Length (RFC 3261
 * §18.3). Opened lazily, non-blocking; set-up is bounded by the timeout. */
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

/* Bounded connect: the transaction timeout also bounds connection set-up. */
static int connect_wait(int fd, const struct addrinfo *ai, uint64_t deadline_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	uint64_t now = base_mono_ms();
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	if (now >= deadline_ms || poll(&p, 1, (int)(deadline_ms - now)) <= 0)
		return -ETIMEDOUT;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
		return -errno;
	return soerr ? -soerr : 0;
}

/* Connect to the first address of the server that answers (a name such as
 * "localhost" may give ::1 before 127.0.0.1); UDP takes the first address. */
static int connect_any(struct sw_ua *ua, uint64_t deadline_ms)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	int type = ua_stream(ua) ? SOCK_STREAM : SOCK_DGRAM;
	char port[8];
	int err = -EHOSTUNREACH;

	hints.ai_socktype = type;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", ua->server_port);
	if (getaddrinfo(ua->server_host, port, &hints, &res) != 0 || !res)
		return -EHOSTUNREACH;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		ua->fd = socket(ai->ai_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (ua->fd < 0) {
			err = -errno;
			continue;
		}
		if (type == SOCK_STREAM) {
			int one = 1;

			setsockopt(ua->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		err = connect_wait(ua->fd, ai, deadline_ms);
		if (err == 0) {
			memcpy(&ua->peer, ai->ai_addr, ai->ai_addrlen);
			ua->peerlen = ai->ai_addrlen;
			break;
		}
		close(ua->fd);
		ua->fd = -1;
		if (type != SOCK_STREAM || err == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return err;
}

int ua_conn_open(struct sw_ua *ua)
{
	struct sockaddr_storage local;
	socklen_t ll = sizeof(local);
	uint64_t deadline = base_mono_ms() + ua->timeout_ms;
	int err;

	if (ua->fd >= 0)
		return 0;
	ua->conn_err[0] = '\0';
	err = connect_any(ua, deadline);
	if (err)
		return err;
	if (getsockname(ua->fd, (struct sockaddr *)&local, &ll) != 0)
		err = -errno;
	if (!err && ua->transport == SW_UA_TLS)
		err = ua_tls_connect(ua, deadline);
	if (err) {
		ua_conn_close(ua);
		return err;
	}
	tp_addr_text(&local, ua->local_ip, sizeof(ua->local_ip), &ua->local_port);
	ua->rlen = 0;
	return 0;
}

void ua_conn_why(const struct sw_ua *ua, int err, char *out, size_t cap)
{
	if (ua->conn_err[0])
		snprintf(out, cap, "%s", ua->conn_err);
	else
		snprintf(out, cap, "transport error: %s", strerror(-err));
}

void ua_conn_close(struct sw_ua *ua)
{
	ua_tls_close(ua);
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
	if (ua->transport == SW_UA_TLS)
		return ua_tls_send(ua, buf, len);
	while (off < len) {
		ssize_t n = send(ua->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && ua_stream(ua)) {
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
		if (ua->transport == SW_UA_TLS)
			n = ua_tls_recv(ua, ua->rbuf + ua->rlen, SW_MAX_MSG_SIZE - ua->rlen);
		else
			n = recv(ua->fd, ua->rbuf + ua->rlen, SW_MAX_MSG_SIZE - ua->rlen, 0);
		if (ua->transport == SW_UA_TLS && n <= 0)
			return (int)n; /* 0: nothing more now; closed is -ECONNRESET */
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
		ua->rlen += (size_t)n;
	}
}
