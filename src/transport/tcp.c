/* Stream connections (TCP, and TLS through tls.c's ops): accepting on the
 * worker's own listener within the per-worker and per-source-IP limits,
 * reading into a bounded per-connection buffer, framing messages, cutting
 * idle, slow (slowloris), stuck-connect and stuck-handshake connections,
 * the queueing delay of each message (for overload shedding), and replies on
 * the connection a request arrived on. Outbound connections (connect.c) share
 * all of this once connected. */
#include "transport/tp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/overload.h"
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

int tp_conn_by_fd_put(struct tp_worker *w, int fd, struct tp_conn *c)
{
	return by_fd_put(w, fd, c);
}

/* Queueing delay of stream messages. With SO_TIMESTAMPNS on, a TCP recvmsg
 * carries the kernel receive time of the last socket buffer it copied from,
 * and in-order segments merged into one buffer keep the newest segment's
 * time: every byte a read returns arrived at or before that time. A message
 * is handed over right after the read that brought its last byte, so "now
 * minus that read's time" is a lower bound of how long the complete message
 * waited (in the socket's receive queue, then behind earlier messages of the
 * same read): never more, so nothing is shed for a delay it did not have.
 * It understates older messages that one read sweeps up together with newer
 * ones, hence reads of at most SW_STREAM_READ_CHUNK bytes: each then returns
 * bytes from the head of the queue, whose time is close to theirs. A read
 * without a timestamp makes the delay unknown (0), never stale. */
static int64_t rx_time_ns(struct msghdr *h)
{
	if (h->msg_flags & MSG_CTRUNC)
		return 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		struct timespec ts;
		memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	return 0;
}

ssize_t tp_conn_recv(struct tp_conn *c, void *buf, size_t len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct timespec)) + 32];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len < SW_STREAM_READ_CHUNK ? len : SW_STREAM_READ_CHUNK };

	for (;;) {
		struct msghdr h = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(c->ev.fd, &h, MSG_DONTWAIT);
		if (n > 0)
			c->rx_ns = rx_time_ns(&h);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static ssize_t tcp_read(struct tp_worker *w, struct tp_conn *c, void *buf, size_t len)
{
	(void)w;
	return tp_conn_recv(c, buf, len);
}

static int tcp_write(struct tp_worker *w, struct tp_conn *c, const void *buf, size_t len)
{
	const char *p = buf;

	(void)w;
	while (len) {
		ssize_t n = send(c->ev.fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

const struct tp_stream_ops tp_tcp_ops = {
	.name = "tcp",
	.read = tcp_read,
	.write = tcp_write,
	.fini = NULL,
};

/* Bucket of the shared per-IP counters for a peer (address only, not port). */
static unsigned ip_bucket(const struct sockaddr_storage *ss)
{
	const unsigned char *p;
	size_t n;
	uint32_t h = 2166136261u;

	if (ss->ss_family == AF_INET6) {
		p = (const unsigned char *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		n = 16;
	} else {
		p = (const unsigned char *)&((const struct sockaddr_in *)ss)->sin_addr;
		n = 4;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % SW_CONN_IP_BUCKETS;
}

int tp_conn_ip_take(struct tp_server *srv, const struct sockaddr_storage *peer, bool outbound, unsigned *bucket)
{
	const struct tp_server_cfg *cfg = srv->cfg;
	unsigned per_ip = cfg->max_conns_per_ip ? cfg->max_conns_per_ip : SW_DEFAULT_MAX_CONNS_PER_IP;
	atomic_uint *counts = outbound ? srv->out_per_ip : srv->conns_per_ip;

	*bucket = ip_bucket(peer);
	if (atomic_fetch_add(&counts[*bucket], 1) >= per_ip) {
		atomic_fetch_sub(&counts[*bucket], 1);
		return -EMFILE;
	}
	return 0;
}

void tp_conn_ip_put(struct tp_server *srv, bool outbound, unsigned bucket)
{
	atomic_fetch_sub(&(outbound ? srv->out_per_ip : srv->conns_per_ip)[bucket], 1);
}

void tp_conn_want(struct tp_worker *w, struct tp_conn *c, bool out)
{
	struct epoll_event ee = { .events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->ev.fd, &ee);
}

/* Out of file descriptors (EMFILE, ENFILE), a pending connection can be
 * neither taken nor refused, and the level-triggered listener would wake the
 * worker forever. Each worker thread keeps one spare descriptor: on
 * exhaustion it is closed, the connection taken and closed at once (the
 * client sees it refused rather than hanging), and the spare reopened. One
 * line is logged when an incident starts and one when descriptors come back,
 * at most once per SW_FD_EXHAUSTED_LOG_S (a limit that flaps adds up its
 * refusals into the next pair). A thread-exit destructor closes the spare. */
static __thread int accept_spare = -1;
static __thread bool fd_incident, fd_incident_logged;
static __thread unsigned fd_refused;
static __thread uint64_t fd_logged_ms;
static pthread_key_t spare_key;
static pthread_once_t spare_key_once = PTHREAD_ONCE_INIT;

static void spare_close_at_exit(void *v)
{
	(void)v;
	if (accept_spare >= 0)
		close(accept_spare);
	accept_spare = -1;
}

static void spare_key_init(void)
{
	pthread_key_create(&spare_key, spare_close_at_exit);
}

static void spare_open(void)
{
	if (accept_spare >= 0)
		return;
	accept_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (accept_spare >= 0) {
		pthread_once(&spare_key_once, spare_key_init);
		pthread_setspecific(spare_key, &accept_spare); /* any non-NULL value arms it */
	}
}

/* Refuse one pending connection by spending the spare; false when there was
 * none to spend (nothing could be done about this one). */
static bool refuse_without_fds(struct tp_worker *w, struct tp_ev *ev, int err)
{
	if (!fd_incident) {
		fd_incident = true;
		uint64_t now = base_mono_ms();
		if (!fd_logged_ms || now - fd_logged_ms >= SW_FD_EXHAUSTED_LOG_S * 1000u) {
			fd_logged_ms = now;
			fd_incident_logged = true;
			LOG_WARN("worker %u: out of file descriptors (%s) on %s; refusing new connections until some close",
				 w->index, strerror(err), ev->lst->text);
		}
	}
	if (accept_spare < 0)
		return false;
	close(accept_spare);
	accept_spare = -1;
	int fd = accept4(ev->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		fd_refused++;
	}
	spare_open();
	return fd >= 0;
}

void tp_tcp_accept(struct tp_worker *w, struct tp_ev *ev)
{
	const struct tp_server_cfg *cfg = w->srv->cfg;
	unsigned max = cfg->max_tcp_conns ? cfg->max_tcp_conns : SW_MAX_TCP_CONNS;
	unsigned per_ip = cfg->max_conns_per_ip ? cfg->max_conns_per_ip : SW_DEFAULT_MAX_CONNS_PER_IP;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		spare_open(); /* before it is needed; a no-op while it is there */
		int fd = accept4(ev->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (err == EMFILE || err == ENFILE) {
				if (refuse_without_fds(w, ev, err))
					continue;
				return;
			}
			if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED)
				LOG_WARN("accept on %s: %s", ev->lst->text, strerror(err));
			return;
		}
		if (fd_incident) {
			fd_incident = false;
			if (fd_incident_logged) {
				fd_incident_logged = false;
				LOG_INFO("worker %u: file descriptors available again on %s (%u connections refused)",
					 w->index, ev->lst->text, fd_refused);
				fd_refused = 0;
			}
		}
		if (w->nconns >= max) {
			static __thread struct log_rate rate_worker;
			unsigned missed;
			if (log_rate_allow(&rate_worker, SW_CONN_LIMIT_LOG_S * 1000u, &missed))
				LOG_WARN("connection limit (%u per worker) reached on %s; refusing (%u more refused "
					 "before, not logged)", max, ev->lst->text, missed);
			close(fd);
			continue;
		}
		unsigned bucket = ip_bucket(&peer);
		if (atomic_fetch_add(&w->srv->conns_per_ip[bucket], 1) >= per_ip) {
			atomic_fetch_sub(&w->srv->conns_per_ip[bucket], 1);
			static __thread struct log_rate rate_ip;
			unsigned missed;
			if (log_rate_allow(&rate_ip, SW_CONN_LIMIT_LOG_S * 1000u, &missed)) {
				char ip[64];
				uint16_t port;
				tp_addr_text(&peer, ip, sizeof(ip), &port);
				LOG_WARN("connection limit (%u per IP) reached for %s on %s; refusing (%u more "
					 "refused before, not logged)", per_ip, ip, ev->lst->text, missed);
			}
			close(fd);
			continue;
		}
		struct tp_conn *c = calloc(1, sizeof(*c));
		if (!c || by_fd_put(w, fd, c)) {
			atomic_fetch_sub(&w->srv->conns_per_ip[bucket], 1);
			free(c);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->ev = (struct tp_ev){ .kind = TP_EV_CONN, .fd = fd, .lst = ev->lst };
		c->ops = &tp_tcp_ops;
		c->peer = peer;
		c->peerlen = plen;
		c->gen = ++w->next_gen;
		c->ip_bucket = bucket;
		c->widx = w->index;
		c->last_active_ms = c->accepted_ms = base_mono_ms();
		struct epoll_event ee = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
		if ((ev->lst->proto == TP_TLS && tp_tls_conn_start(w, c)) ||
		    epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			if (c->ops->fini)
				c->ops->fini(c);
			atomic_fetch_sub(&w->srv->conns_per_ip[bucket], 1);
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
		tp_connidx_add(w->srv, c);
	}
}

void tp_conn_close(struct tp_worker *w, struct tp_conn *c)
{
	/* An outbound connection that never carried its queued bytes failed. */
	bool failed = c->outbound && (c->connecting || c->handshaking || c->pending_len);
	enum tp_proto proto = c->ev.lst->proto;
	struct sockaddr_storage peer = c->peer;

	tp_connidx_del(w->srv, c);
	tp_stream_hold_drop(w, c);
	if (c->ops->fini)
		c->ops->fini(c);
	tp_conn_ip_put(w->srv, c->outbound, c->ip_bucket);
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
	if (c->outbound)
		w->noutbound--;
	free(c->pending);
	free(c->buf);
	free(c);
	const struct tp_server_cfg *cfg = w->srv->cfg;
	if (failed && cfg->on_conn_fail && !w->srv->stopping)
		cfg->on_conn_fail(w, proto, &peer, cfg->arg);
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
		/* RFC 5626 §3.5.1 pong; a peer that cannot take 2 bytes is gone
		 * (tp_stream_reply closed c). */
		if (f == TP_FRAME_PING && tp_stream_reply(w, c, "\r\n", 2))
			return -1;
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
				.peer_identity = c->peer_identity[0] ? c->peer_identity : NULL,
			};
			if (c->rx_ns) {
				struct timespec now; /* per message: earlier ones take time */
				clock_gettime(CLOCK_REALTIME, &now);
				src.queued_ms = overload_queued_ms(c->rx_ns, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
			}
			memcpy(&src.peer, &c->peer, sizeof(src.peer));
			char saved = c->buf[skip + mlen];
			c->buf[skip + mlen] = '\0';
			cfg->on_msg(&src, c->buf + skip, mlen, cfg->arg);
			/* The handler may have closed c through a failed reply. */
			if ((unsigned)src.fd >= w->by_fd_cap || w->by_fd[src.fd] != c || c->gen != src.conn_gen)
				return -1;
			c->buf[skip + mlen] = saved;
			skip += mlen;
			/* Whatever follows is the start of the next message. */
			c->msg_start_ms = base_mono_ms();
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
		/* Receive timestamps for the queueing delay (tp_conn_recv), set
		 * before the first read on accepted and outbound connections alike;
		 * without them the delay reads 0. */
		int one = 1;
		setsockopt(c->ev.fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	}
	if (c->connecting) {
		int err = tp_conn_connected(w, c);
		if (err) {
			static __thread struct log_rate rate_connect;
			unsigned missed;
			if (log_rate_allow(&rate_connect, SW_CONN_LIMIT_LOG_S * 1000u, &missed)) {
				char ip[64];
				uint16_t port;
				tp_addr_text(&c->peer, ip, sizeof(ip), &port);
				LOG_INFO("%s connection to %s:%u failed: %s (%u more failed before, not logged)",
					 c->ops->name, ip, port, strerror(-err), missed);
			}
			tp_conn_close(w, c);
			return;
		}
		if (c->connecting)
			return;
	}
	for (;;) {
		if (c->len >= SW_MAX_MSG_SIZE) {
			LOG_INFO("closing %s connection: message larger than %d bytes", c->ev.lst->text,
				 SW_MAX_MSG_SIZE);
			tp_conn_close(w, c);
			return;
		}
		size_t room = SW_MAX_MSG_SIZE - c->len;
		ssize_t n = c->ops->read(w, c, c->buf + c->len, room);
		if ((n > 0 || n == -EAGAIN) && c->pending_len && !c->handshaking && tp_conn_flush(w, c)) {
			/* The TLS handshake just finished: what waited for it goes now. */
			tp_conn_close(w, c);
			return;
		}
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			tp_conn_close(w, c);
			return;
		}
		if (c->len == 0)
			c->msg_start_ms = base_mono_ms();
		c->len += (size_t)n;
		c->last_active_ms = base_mono_ms();
		/* the replies to this read's messages leave together */
		tp_stream_hold_begin(w, c);
		if (drain(w, c) < 0 || tp_stream_hold_end(w, c) < 0)
			return;
		if (c->len == 0)
			c->msg_start_ms = 0;
		/* A plain TCP read that did not fill what it asked for emptied the
		 * socket: epoll (level-triggered) reports the next bytes, so no read
		 * just to learn EAGAIN. TLS keeps reading: decrypted bytes can wait
		 * inside the TLS layer where epoll does not see them. */
		if (c->ops == &tp_tcp_ops && (size_t)n < (room < SW_STREAM_READ_CHUNK ? room : SW_STREAM_READ_CHUNK))
			return;
	}
}

/* Why c must be cut at now_ms, or NULL to keep it. */
static const char *expired(const struct tp_server_cfg *cfg, const struct tp_conn *c, uint64_t now_ms)
{
	uint64_t idle = cfg->tcp_idle_timeout_s ? cfg->tcp_idle_timeout_s : SW_TCP_IDLE_TIMEOUT_S;
	uint64_t msg = cfg->tcp_message_timeout_s ? cfg->tcp_message_timeout_s : SW_TCP_MESSAGE_TIMEOUT_S;
	uint64_t hs = cfg->tls && cfg->tls->handshake_timeout_s ? cfg->tls->handshake_timeout_s
								 : SW_TLS_HANDSHAKE_TIMEOUT_S;

	if (c->connecting && now_ms - c->accepted_ms > SW_TCP_CONNECT_TIMEOUT_S * 1000u)
		return "connect timeout";
	if (c->handshaking && now_ms - c->accepted_ms > hs * 1000u)
		return "TLS handshake timeout";
	if (c->len && c->msg_start_ms && now_ms - c->msg_start_ms > msg * 1000u)
		return "incomplete message timeout";
	if (now_ms - c->last_active_ms > idle * 1000u)
		return "idle";
	return NULL;
}

void tp_conn_sweep_idle(struct tp_worker *w, uint64_t now_ms)
{
	struct tp_conn *c = w->conns;

	while (c) {
		struct tp_conn *next = c->next;
		const char *why = expired(w->srv->cfg, c, now_ms);
		if (why) {
			char ip[64];
			uint16_t port;
			tp_addr_text(&c->peer, ip, sizeof(ip), &port);
			LOG_DBG("closing %s connection from %s:%u: %s", c->ev.lst->text, ip, port, why);
			tp_conn_close(w, c);
		}
		c = next;
	}
}

int tp_send_reply(const struct tp_src *src, const void *buf, size_t len)
{
	if (src->proto == TP_UDP)
		return tp_udp_send_reply(src, buf, len);
	struct tp_worker *w = src->worker;
	if ((unsigned)src->fd >= w->by_fd_cap)
		return -ENOTCONN;
	struct tp_conn *c = w->by_fd[src->fd];
	if (!c || c->gen != src->conn_gen)
		return -ENOTCONN;
	return tp_stream_reply(w, c, buf, len);
}
