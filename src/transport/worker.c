/* Worker threads: each owns an epoll loop, its own SO_REUSEPORT socket per
 * listen address (so a client's retransmissions land on the same worker), and
 * the TCP connections it accepted. A once-per-second tick drives timers. */
#include "transport/tp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

static int open_socket(const struct tp_listen *l)
{
	int type = l->proto == TP_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd = socket(l->addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (l->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (l->proto == TP_UDP) {
		int sz = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		/* Kernel receive timestamps give each datagram's queueing delay
		 * (tp_src.queued_ms); without them the delay reads 0. */
		setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	}
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0)
		goto fail;
	if (l->proto != TP_UDP && listen(fd, 1024) < 0)
		goto fail;
	return fd;
fail: {
	int err = -errno;
	close(fd);
	return err;
}
}

static int worker_init(struct tp_server *srv, struct tp_worker *w, unsigned index)
{
	const struct tp_server_cfg *cfg = srv->cfg;
	struct epoll_event ee;

	w->srv = srv;
	w->index = index;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->epfd < 0 || w->wakefd < 0)
		return -errno;
	w->wake_ev = (struct tp_ev){ .kind = TP_EV_WAKE, .fd = w->wakefd };
	ee = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->wake_ev };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ee) < 0)
		return -errno;
	w->socks = calloc(cfg->nlistens, sizeof(*w->socks));
	if (!w->socks)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->nlistens; i++) {
		const struct tp_listen *l = &cfg->listens[i];
		int fd = open_socket(l);
		if (fd < 0) {
			LOG_ERR("cannot listen on %s: %s", l->text, strerror(-fd));
			return fd;
		}
		w->socks[i] = (struct tp_ev){ .kind = l->proto == TP_UDP ? TP_EV_UDP : TP_EV_TCP_LISTEN, .fd = fd, .lst = l };
		w->nsocks++;
		ee = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->socks[i] };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ee) < 0)
			return -errno;
	}
	return 0;
}

/* Workers bound in index order, so worker i's socket is index i of each
 * listen address's SO_REUSEPORT group, the index the program returns: a
 * response's by its branch, a request's by its Call-ID (steer.c). */
static void steer_datagrams(struct tp_server *srv)
{
	const struct tp_server_cfg *cfg = srv->cfg;

	if (!cfg->udp_steer_prefix || srv->nworkers < 2)
		return;
	for (unsigned i = 0; i < cfg->nlistens; i++) {
		if (cfg->listens[i].proto != TP_UDP)
			continue;
		size_t scan = 0, req = 0;
		unsigned nsock = cfg->udp_by_call_id ? srv->nworkers : 0;
		int err = tp_steer_attach(srv->workers[0].socks[i].fd, cfg->udp_steer_prefix, nsock, &scan, &req);
		if (err) {
			LOG_WARN("%s: responses are not steered to their worker (%s); they are handed over instead,"
				 " and each sender's requests stay on one worker",
				 cfg->listens[i].text, strerror(-err));
			continue;
		}
		for (unsigned k = 0; k < srv->nworkers; k++) {
			srv->workers[k].socks[i].steered = true;
			srv->workers[k].socks[i].by_call_id = req != 0;
		}
		if (nsock && !req)
			LOG_WARN("%s: each sender's requests stay on one worker (the kernel took the response"
				 " program only)", cfg->listens[i].text);
		LOG_DBG("%s: responses steered by a branch in their first %zu bytes, requests by a Call-ID in"
			" their first %zu", cfg->listens[i].text, scan + 8, req ? req + 16 : 0);
	}
}

static void worker_fini(struct tp_worker *w)
{
	while (w->conns)
		tp_conn_close(w, w->conns);
	for (unsigned i = 0; i < w->nsocks; i++)
		close(w->socks[i].fd);
	free(w->socks);
	free(w->by_fd);
	free(w->hold_buf);
	if (w->wakefd >= 0)
		close(w->wakefd);
	if (w->epfd >= 0)
		close(w->epfd);
}

static void *worker_main(void *arg)
{
	struct tp_worker *w = arg;
	struct tp_server *srv = w->srv;
	const struct tp_server_cfg *cfg = srv->cfg;
	struct epoll_event evs[64];
	uint64_t next_tick = base_mono_ms() + 1000;

	if (cfg->on_thread && cfg->on_thread(w, w->index, true, cfg->arg) != 0) {
		LOG_ERR("worker %u failed to start", w->index);
		return NULL;
	}
	while (!srv->stopping) {
		uint64_t now = base_mono_ms();
		int timeout = now >= next_tick ? 0 : (int)(next_tick - now);
		if (w->loop_fn) {
			int due = w->loop_fn(w, now, w->loop_arg);
			if (due >= 0 && due < timeout)
				timeout = due;
		}
		if (cfg->on_idle)
			cfg->on_idle(w, cfg->arg);
		if (tp_worker_going_to_sleep(w))
			timeout = 0;
		int n = epoll_wait(w->epfd, evs, 64, timeout);
		atomic_store_explicit(&w->asleep, false, memory_order_relaxed);
		if (n < 0 && errno != EINTR) {
			LOG_ERR("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct tp_ev *ev = evs[i].data.ptr;
			switch (ev->kind) {
			case TP_EV_UDP:
				tp_udp_readable(w, ev);
				break;
			case TP_EV_TCP_LISTEN:
				tp_tcp_accept(w, ev);
				break;
			case TP_EV_CONN:
				tp_conn_readable(w, (struct tp_conn *)ev);
				break;
			case TP_EV_WAKE:
				tp_worker_drain_posts(w);
				break;
			}
		}
		/* Items posted while this worker was awake (no eventfd write). */
		if (atomic_load_explicit(&w->posts, memory_order_acquire))
			tp_worker_run_posts(w);
		now = base_mono_ms();
		if (now >= next_tick) {
			next_tick = now + 1000;
			tp_conn_sweep_idle(w, now);
			if (cfg->on_tick)
				cfg->on_tick(w, cfg->arg);
		}
	}
	tp_worker_drain_posts(w); /* items posted during shutdown are freed by their fn */
	if (cfg->on_thread)
		cfg->on_thread(w, w->index, false, cfg->arg);
	tp_udp_thread_exit();
	return NULL;
}

int tp_server_start(struct tp_server **out, const struct tp_server_cfg *cfg)
{
	struct tp_server *srv = calloc(1, sizeof(*srv));
	int err = 0;

	if (!srv)
		return -ENOMEM;
	srv->cfg = cfg;
	tp_connidx_init(srv);
	for (unsigned i = 0; i < cfg->nlistens && !srv->tls; i++) {
		if (cfg->listens[i].proto != TP_TLS)
			continue;
		err = tp_tls_new(&srv->tls, cfg->tls);
		if (err) {
			tp_connidx_fini(srv);
			free(srv);
			return err;
		}
	}
	srv->nworkers = cfg->nworkers ? cfg->nworkers : 1;
	srv->workers = calloc(srv->nworkers, sizeof(*srv->workers));
	if (!srv->workers) {
		tp_tls_free(srv->tls);
		tp_connidx_fini(srv);
		free(srv);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < srv->nworkers; i++) {
		srv->workers[i].epfd = -1;
		srv->workers[i].wakefd = -1;
	}
	for (unsigned i = 0; i < srv->nworkers && !err; i++)
		err = worker_init(srv, &srv->workers[i], i);
	if (!err)
		steer_datagrams(srv);
	unsigned started = 0;
	for (unsigned i = 0; i < srv->nworkers && !err; i++) {
		err = -pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]);
		if (!err)
			started++;
	}
	if (err) {
		srv->stopping = 1;
		for (unsigned i = 0; i < started; i++) {
			uint64_t one = 1;
			ssize_t wr = write(srv->workers[i].wakefd, &one, sizeof(one));
			(void)wr;
			pthread_join(srv->workers[i].thread, NULL);
		}
		for (unsigned i = 0; i < srv->nworkers; i++)
			worker_fini(&srv->workers[i]);
		free(srv->workers);
		tp_tls_free(srv->tls);
		tp_connidx_fini(srv);
		free(srv);
		return err;
	}
	for (unsigned i = 0; i < cfg->nlistens; i++)
		LOG_INFO("listening on %s", cfg->listens[i].text);
	*out = srv;
	return 0;
}

void tp_server_stop(struct tp_server *srv)
{
	if (!srv)
		return;
	srv->stopping = 1;
	for (unsigned i = 0; i < srv->nworkers; i++) {
		uint64_t one = 1;
		ssize_t wr = write(srv->workers[i].wakefd, &one, sizeof(one));
		(void)wr;
	}
	for (unsigned i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i].thread, NULL);
	/* A worker may have posted to another after that one's last drain:
	 * every item is run (and so freed) once all threads are gone. */
	for (unsigned i = 0; i < srv->nworkers; i++)
		tp_worker_drain_posts(&srv->workers[i]);
	for (unsigned i = 0; i < srv->nworkers; i++)
		worker_fini(&srv->workers[i]);
	free(srv->workers);
	tp_tls_free(srv->tls);
	tp_connidx_fini(srv);
	free(srv);
}

void tp_worker_set_data(struct tp_worker *w, void *data)
{
	w->data = data;
}

void *tp_worker_data(const struct tp_worker *w)
{
	return w->data;
}
