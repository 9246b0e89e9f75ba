/* Outbound stream connections: a non-blocking connect toward a peer within
 * the per-worker limit, a share of it of their own (SW_OUTBOUND_CONNS_DIV)
 * and the per-IP limit counted per destination apart from accepted
 * connections (a request cannot use up what a client may open), a bounded
 * queue of bytes sent before the connection (and its TLS handshake) is up,
 * and writing on a connection. Once connected, an outbound connection is read,
 * framed and timed out like an accepted one (tcp.c). */
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

/* Log a connect refused by a limit, at most once per SW_CONN_LIMIT_LOG_S per
 * worker thread; the lines in between are counted into the next one. */
static __thread uint64_t limit_logged_ms;
static __thread unsigned limit_unlogged;

static void log_refused(const struct tp_dest *d, const char *which, unsigned limit)
{
	uint64_t now = base_mono_ms();

	if (limit_logged_ms && now - limit_logged_ms < SW_CONN_LIMIT_LOG_S * 1000u) {
		limit_unlogged++;
		return;
	}
	LOG_WARN("%s limit (%u) reached: no outbound %s connection (%u more refused in the last %u s)", which,
		 limit, tp_proto_name(d->proto), limit_unlogged, SW_CONN_LIMIT_LOG_S);
	limit_logged_ms = now;
	limit_unlogged = 0;
}

struct tp_conn *tp_conn_connect(struct tp_worker *w, const struct tp_dest *d, const struct tp_listen *lst, int *err)
{
	const struct tp_server_cfg *cfg = w->srv->cfg;
	unsigned max = cfg->max_tcp_conns ? cfg->max_tcp_conns : SW_MAX_TCP_CONNS;
	unsigned max_out = max / SW_OUTBOUND_CONNS_DIV ? max / SW_OUTBOUND_CONNS_DIV : 1;
	unsigned per_ip = cfg->max_conns_per_ip ? cfg->max_conns_per_ip : SW_DEFAULT_MAX_CONNS_PER_IP;
	socklen_t alen = d->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	unsigned bucket;
	int one = 1;

	if (w->nconns >= max) {
		log_refused(d, "connection (per worker)", max);
		*err = -EMFILE;
		return NULL;
	}
	if (w->noutbound >= max_out) {
		log_refused(d, "outbound connection (per worker)", max_out);
		*err = -EMFILE;
		return NULL;
	}
	*err = tp_conn_ip_take(w->srv, &d->addr, true, &bucket);
	if (*err) {
		log_refused(d, "connection per destination IP", per_ip);
		return NULL;
	}
	int fd = socket(d->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = -errno;
		goto fail_bucket;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int rc = connect(fd, (const struct sockaddr *)&d->addr, alen);
	if (rc < 0 && errno != EINPROGRESS) {
		*err = -errno;
		goto fail_fd;
	}
	struct tp_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		*err = -ENOMEM;
		goto fail_fd;
	}
	if (tp_conn_by_fd_put(w, fd, c)) {
		free(c);
		*err = -ENOMEM;
		goto fail_fd;
	}
	c->ev = (struct tp_ev){ .kind = TP_EV_CONN, .fd = fd, .lst = lst };
	c->ops = &tp_tcp_ops;
	c->peer = d->addr;
	c->peerlen = alen;
	c->gen = ++w->next_gen;
	c->ip_bucket = bucket;
	c->widx = w->index;
	c->outbound = true;
	c->connecting = rc < 0;
	c->last_active_ms = c->accepted_ms = base_mono_ms();
	if (d->proto == TP_TLS && (*err = tp_tls_client_start(w, c, d->name)) != 0) {
		w->by_fd[fd] = NULL;
		free(c);
		goto fail_fd;
	}
	/* Writable means connected (or failed); a TLS handshake starts by writing. */
	bool out = c->connecting || d->proto == TP_TLS;
	struct epoll_event ee = { .events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
		*err = -errno;
		if (c->ops->fini)
			c->ops->fini(c);
		w->by_fd[fd] = NULL;
		free(c);
		goto fail_fd;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	w->noutbound++;
	tp_connidx_add(w->srv, c);
	return c;
fail_fd:
	close(fd);
fail_bucket:
	tp_conn_ip_put(w->srv, true, bucket);
	return NULL;
}

int tp_conn_connected(struct tp_worker *w, struct tp_conn *c)
{
	int soerr = 0;
	socklen_t slen = sizeof(soerr);

	if (getsockopt(c->ev.fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0)
		return -errno;
	if (soerr == EINPROGRESS || soerr == EALREADY)
		return 0;
	if (soerr)
		return -soerr;
	/* A spurious wake-up before the connect finished reads ENOTCONN here. */
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(c->ev.fd, (struct sockaddr *)&ss, &sl) < 0)
		return errno == ENOTCONN ? 0 : -errno;
	c->connecting = false;
	c->last_active_ms = base_mono_ms();
	if (c->handshaking)
		return 0; /* TLS: the handshake runs from the read path, writable wanted */
	tp_conn_want(w, c, false);
	return c->pending_len ? tp_conn_flush(w, c) : 0;
}

int tp_conn_flush(struct tp_worker *w, struct tp_conn *c)
{
	int err = tp_stream_hold_flush(w, c);

	if (!err)
		err = c->ops->write(w, c, c->pending, c->pending_len);
	if (err)
		return err; /* kept: the caller closes c, which reports the failure */
	free(c->pending);
	c->pending = NULL;
	c->pending_len = 0;
	c->last_active_ms = base_mono_ms();
	return 0;
}

int tp_conn_send(struct tp_worker *w, struct tp_conn *c, const void *buf, size_t len)
{
	if (!c->outbound && c->handshaking)
		return -ENOTCONN; /* an accepted TLS connection not usable yet: left alone */
	if (c->outbound && (c->connecting || c->handshaking)) {
		if (c->pending_len + len > SW_CONN_PENDING_MAX)
			return -ENOBUFS;
		char *p = realloc(c->pending, c->pending_len + len);
		if (!p)
			return -ENOMEM;
		memcpy(p + c->pending_len, buf, len);
		c->pending = p;
		c->pending_len += len;
		return 0;
	}
	/* replies held for c go first: a request never overtakes them */
	int err = tp_stream_hold_flush(w, c);

	if (!err)
		err = c->ops->write(w, c, buf, len);
	if (err) {
		/* A peer that does not read is not waited for. */
		tp_conn_close(w, c);
		return err;
	}
	c->last_active_ms = base_mono_ms();
	return 0;
}
