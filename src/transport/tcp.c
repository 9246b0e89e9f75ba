/* TCP: accepting connections on the worker's own listener, reading into a
 * bounded per-connection buffer, framing messages, idle timeouts, and replies
 * on the connection a request arrived on. */
#include "transport/tp_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

static int by_fd_put(struct tp_worker *w, int fd, struct tp_conn *c)
{
	if ((unsigned)fd >= w->by_fd_cap) {
		unsigned cap = w->by_fd_cap ? w->by_fd_cap : 256;
		while (cap <= (unsigned)fd)
			cap *= 2;
		struct tp_conn **n = realloc(w->by_fd, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + w->by_fd_cap, 0, (cap - w->by_fd_cap) * sizeof(*n));
		w->by_fd = n;
		w->by_fd_cap = cap;
	}
	w->by_fd[fd] = c;
	return 0;
}

void tp_tcp_accept(struct tp_worker *w, struct tp_ev *ev)
{
	const struct tp_server_cfg *cfg = w->srv->cfg;
	unsigned max = cfg->max_tcp_conns ? cfg->max_tcp_conns : SW_MAX_TCP_CONNS;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(ev->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				LOG_WARN("accept on %s: %s", ev->lst->text, strerror(errno));
			return;
		}
		if (w->nconns >= max) {
			LOG_WARN("connection limit (%u per worker) reached on %s; refusing", max, ev->lst->text);
			close(fd);
			continue;
		}
		struct tp_conn *c = calloc(1, sizeof(*c));
		if (!c || by_fd_put(w, fd, c)) {
			free(c);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->ev = (struct tp_ev){ TP_EV_CONN, fd, ev->lst };
		c->peer = peer;
		c->peerlen = plen;
		c->gen = ++w->next_gen;
		c->last_active_ms = base_mono_ms();
		struct epoll_event ee = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			w->by_fd[fd] = NULL;
			close(fd);
			free(c);
			continue;
		}
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		w->nconns++;
	}
}

void tp_conn_close(struct tp_worker *w, struct tp_conn *c)
{
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->ev.fd, NULL);
	if ((unsigned)c->ev.fd < w->by_fd_cap)
		w->by_fd[c->ev.fd] = NULL;
	close(c->ev.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	free(c->buf);
	free(c);
}

/* Deliver every complete message in the buffer; returns -1 if c was closed. */
static int drain(struct tp_worker *w, struct tp_conn *c)
{
	const struct tp_server_cfg *cfg = w->srv->cfg;

	for (;;) {
		size_t skip, mlen;
		enum tp_frame f = tp_frame_scan(c->buf, c->len, SW_MAX_MSG_SIZE, &skip, &mlen);
		if (f == TP_FRAME_BAD) {
			LOG_INFO("closing %s connection: unframeable input", c->ev.lst->text);
			tp_conn_close(w, c);
			return -1;
		}
		if (f == TP_FRAME_PING) {
			ssize_t wr = write(c->ev.fd, "\r\n", 2);
			(void)wr;
		}
		if (f == TP_FRAME_MORE) {
			if (skip) {
				memmove(c->buf, c->buf + skip, c->len - skip);
				c->len -= skip;
			}
			return 0;
		}
		if (f == TP_FRAME_MSG) {
			struct tp_src src = {
				.proto = c->ev.lst->proto,
				.peerlen = c->peerlen,
				.fd = c->ev.fd,
				.conn_gen = c->gen,
				.lst = c->ev.lst,
				.worker = w,
			};
			memcpy(&src.peer, &c->peer, sizeof(src.peer));
			char saved = c->buf[skip + mlen];
			c->buf[skip + mlen] = '\0';
			cfg->on_msg(&src, c->buf + skip, mlen, cfg->arg);
			/* The handler may have closed c through a failed reply. */
			if ((unsigned)src.fd >= w->by_fd_cap || w->by_fd[src.fd] != c || c->gen != src.conn_gen)
				return -1;
			c->buf[skip + mlen] = saved;
			skip += mlen;
		}
		memmove(c->buf, c->buf + skip, c->len - skip);
		c->len -= skip;
		if (c->len == 0)
			return 0;
	}
}

void tp_conn_readable(struct tp_worker *w, struct tp_conn *c)
{
	if (!c->buf) {
		c->buf = malloc(SW_MAX_MSG_SIZE + 1);
		if (!c->buf) {
			tp_conn_close(w, c);
			return;
		}
	}
	for (;;) {
		if (c->len >= SW_MAX_MSG_SIZE) {
			LOG_INFO("closing %s connection: message larger than %d bytes", c->ev.lst->text,
				 SW_MAX_MSG_SIZE);
			tp_conn_close(w, c);
			return;
		}
		ssize_t n = read(c->ev.fd, c->buf + c->len, SW_MAX_MSG_SIZE - c->len);
		if (n == 0) {
			tp_conn_close(w, c);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			tp_conn_close(w, c);
			return;
		}
		c->len += (size_t)n;
		c->last_active_ms = base_mono_ms();
		if (drain(w, c) < 0)
			return;
	}
}

void tp_conn_sweep_idle(struct tp_worker *w, uint64_t now_ms)
{
	unsigned idle = w->srv->cfg->tcp_idle_timeout_s ? w->srv->cfg->tcp_idle_timeout_s : SW_TCP_IDLE_TIMEOUT_S;
	struct tp_conn *c = w->conns;

	while (c) {
		struct tp_conn *next = c->next;
		if (now_ms - c->last_active_ms > (uint64_t)idle * 1000u)
			tp_conn_close(w, c);
		c = next;
	}
}

int tp_send_reply(const struct tp_src *src, const void *buf, size_t len)
{
	if (src->proto == TP_UDP) {
		ssize_t n = sendto(src->fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&src->peer, src->peerlen);
		return n < 0 ? -errno : 0;
	}
	struct tp_worker *w = src->worker;
	if ((unsigned)src->fd >= w->by_fd_cap)
		return -ENOTCONN;
	struct tp_conn *c = w->by_fd[src->fd];
	if (!c || c->gen != src->conn_gen)
		return -ENOTCONN;
	const char *p = buf;
	while (len) {
		ssize_t n = send(c->ev.fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* A peer that does not read its replies is not waited for. */
			int err = -errno;
			tp_conn_close(w, c);
			return err;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
