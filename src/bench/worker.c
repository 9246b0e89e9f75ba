/* sipwarden-bench: one load thread's sockets and loop. Its own UDP socket (or
 * TCP connections), an open-loop start schedule (global flow k starts at
 * start + k/rate; thread i owns k = i, i+T, ...), batched sends (sendmmsg, one
 * write per TCP connection) and batched receives (recvmmsg; on UDP once per
 * tick, with kernel receive timestamps, or on every datagram). The flows
 * themselves are flow.c's. Nothing allocates or locks after the start. */
#include "bench/worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

static volatile sig_atomic_t stop_requested;

void bench_request_stop(void)
{
	stop_requested = 1;
}

/* ---------------------------------------------------------------- sending */

static int udp_flush(struct worker *w)
{
	unsigned done = 0;
	uint64_t t = bench_now_ns();

	/* a transaction's clock starts when its datagram leaves, not when the
	 * request was queued earlier in this round */
	for (unsigned i = 0; i < w->ntx; i++) {
		struct flow *f = &w->flows[w->txslot[i]];

		if (w->txgen[i] && f->active && f->gen == w->txgen[i] - 1 && t > f->t_sent)
			f->t_sent = t;
	}

	while (done < w->ntx) {
		int n = sendmmsg(w->conns[0].fd, w->txm + done, w->ntx - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS/EAGAIN/ECONNREFUSED: the datagrams are lost, as on a
			 * congested network; retransmission or the timeout handles them */
			done++;
			continue;
		}
		done += (unsigned)n;
	}
	w->ntx = 0;
	return 0;
}

static int tcp_flush(struct worker *w, struct conn *c)
{
	size_t off = 0;

	while (off < c->tx_len && !c->dead) {
		ssize_t n = send(c->fd, c->tx + off, c->tx_len - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			c->dead = true;
			w->st->conn_errors++;
			break;
		}
		off += (size_t)n;
	}
	if (off) {
		memmove(c->tx, c->tx + off, c->tx_len - off);
		c->tx_len -= off;
	}
	return c->dead ? -EPIPE : 0;
}

static void flush_all(struct worker *w)
{
	if (!w->cfg->tcp) {
		if (w->ntx)
			udp_flush(w);
		return;
	}
	for (unsigned i = 0; i < w->nconns; i++)
		if (w->conns[i].tx_len)
			tcp_flush(w, &w->conns[i]);
}

/* Build and queue the flow's current request, or (calls) the ACK of the final
 * answer to INVITE ack_cseq. 0 or -errno (flow cannot go on). */
int bench_send_msg(struct worker *w, uint32_t slot, bool retrans, bool ack, uint32_t ack_cseq, bool ack_2xx)
{
	struct flow *f = &w->flows[slot];
	struct conn *c = &w->conns[f->conn];
	char *buf;
	int len;

	if (w->cfg->tcp) {
		if (c->dead)
			return -EPIPE;
		if (TCP_TX_CAP - c->tx_len < BENCH_MAX_REQ)
			tcp_flush(w, c);
		if (c->dead || TCP_TX_CAP - c->tx_len < BENCH_MAX_REQ)
			return -ENOBUFS;
		buf = c->tx + c->tx_len;
	} else {
		if (w->ntx == UDP_BATCH)
			udp_flush(w);
		buf = w->txbuf + (size_t)w->ntx * BENCH_MAX_REQ;
	}
	if (w->cfg->scenario == BENCH_CALL)
		len = bench_call_build(w->cfg, &c->lo, w->th->index, slot, f->gen, f->user,
				       ack ? BENCH_CALL_ACK : f->cseq == 3 ? BENCH_CALL_BYE : BENCH_CALL_INVITE,
				       ack ? ack_cseq : f->cseq, ack_2xx, &f->chal, &f->dlg, buf, BENCH_MAX_REQ);
	else
		len = bench_req_build(w->cfg, &c->lo, w->th->index, slot, f->gen, f->user, f->cseq, f->nc, &f->chal,
				      buf, BENCH_MAX_REQ);
	if (len < 0)
		return len;
	if (w->cfg->tcp) {
		c->tx_len += (size_t)len;
	} else {
		w->txv[w->ntx].iov_len = (size_t)len;
		w->txslot[w->ntx] = slot;
		w->txgen[w->ntx] = retrans || ack ? 0 : f->gen + 1;
		w->ntx++;
	}
	w->st->sent++;
	if (retrans)
		w->st->retrans++;
	return 0;
}


/* ---------------------------------------------------------------- receiving */

/* Arrival time of a datagram: the kernel's receive timestamp (CLOCK_REALTIME,
 * moved to the monotonic clock) when the socket has SO_TIMESTAMPNS, else now. */
static uint64_t rx_time(struct msghdr *mh, uint64_t now, int64_t real_minus_mono)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			int64_t t;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - real_minus_mono;
			return t > 0 && (uint64_t)t < now ? (uint64_t)t : now;
		}
	}
	return now;
}

static int64_t real_minus_mono(void)
{
	struct timespec r, m;

	clock_gettime(CLOCK_REALTIME, &r);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)r.tv_sec - (int64_t)m.tv_sec) * 1000000000 + (r.tv_nsec - m.tv_nsec);
}

static void udp_read(struct worker *w)
{
	int64_t off = real_minus_mono();

	for (unsigned round = 0; round < 16; round++) {
		int n;

		for (unsigned i = 0; i < UDP_BATCH; i++) {
			w->rxv[i].iov_len = RX_SLOT - 1;
			w->rxm[i].msg_hdr.msg_flags = 0;
			w->rxm[i].msg_hdr.msg_control = w->rxctl[i];
			w->rxm[i].msg_hdr.msg_controllen = sizeof(w->rxctl[i]);
		}
		n = recvmmsg(w->conns[0].fd, w->rxm, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		uint64_t now = bench_now_ns();

		for (int i = 0; i < n; i++)
			bench_on_response(w, w->rxbuf + (size_t)i * RX_SLOT, w->rxm[i].msg_len,
				    rx_time(&w->rxm[i].msg_hdr, now, off), now);
		if ((unsigned)n < UDP_BATCH)
			return;
	}
}

/* Length of the first complete message in buf, 0 if incomplete, -1 if bad. */
static long tcp_frame(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4), *p;
	size_t head, cl = 0;

	if (!end)
		return len > TCP_RX_CAP / 2 ? -1 : 0;
	head = (size_t)(end - buf) + 4;
	p = memmem(buf, (size_t)(end - buf), "\r\n", 2); /* after the status line */
	while (p && p < end) {
		const char *line = p + 2, *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
		size_t n = (size_t)(eol - line);

		if ((n > 15 && !strncasecmp(line, "Content-Length:", 15)) ||
		    (n > 2 && (line[0] == 'l' || line[0] == 'L') && line[1] == ':')) {
			const char *v = line + (line[1] == ':' ? 2 : 15);

			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			while (v < eol && *v >= '0' && *v <= '9' && cl < TCP_RX_CAP)
				cl = cl * 10 + (size_t)(*v++ - '0');
			break;
		}
		p = eol;
	}
	if (cl >= TCP_RX_CAP / 2)
		return -1;
	return head + cl <= len ? (long)(head + cl) : 0;
}

static void tcp_read(struct worker *w, struct conn *c)
{
	for (unsigned round = 0; round < 16 && !c->dead; round++) {
		ssize_t n = recv(c->fd, c->rx + c->rx_len, TCP_RX_CAP - c->rx_len, MSG_DONTWAIT);
		size_t off = 0;
		uint64_t now;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			c->dead = true;
			w->st->conn_errors++;
			return;
		}
		if (n < 0)
			return;
		c->rx_len += (size_t)n;
		now = bench_now_ns();
		for (;;) {
			long m;

			/* CRLF keep-alives between messages (RFC 5626 §3.5.1) */
			while (off < c->rx_len && (c->rx[off] == '\r' || c->rx[off] == '\n'))
				off++;
			m = tcp_frame(c->rx + off, c->rx_len - off);

			if (m < 0) {
				c->dead = true;
				w->st->conn_errors++;
				return;
			}
			if (m == 0)
				break;
			bench_on_response(w, c->rx + off, (size_t)m, now, now);
			off += (size_t)m;
		}
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
		if ((size_t)n < TCP_RX_CAP / 4)
			return;
	}
}

/* ---------------------------------------------------------------- setup */

static int local_of(int fd, struct bench_local *lo)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return -errno;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, lo->ip, sizeof(lo->ip));
		lo->port = ntohs(a->sin6_port);
		lo->v6 = true;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, lo->ip, sizeof(lo->ip));
		lo->port = ntohs(a->sin_port);
		lo->v6 = false;
	}
	return 0;
}

static int open_conn(struct worker *w, struct conn *c)
{
	const struct bench_cfg *cfg = w->cfg;
	int one = 1, buf = 4 << 20;
	int fd = socket(cfg->server.ss_family, (cfg->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	c->fd = fd;
	/* a burst of answers must not overflow the default 200 KB buffers */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (cfg->tcp)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	else if (cfg->tick_us)
		setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (!cfg->tcp && cfg->local_port) {
		/* the same source port in every run: a server that spreads
		 * datagrams over workers by source (SO_REUSEPORT) sends each
		 * thread's flows to the same worker every time, as a phone's */
		struct sockaddr_storage la = { .ss_family = cfg->server.ss_family };
		uint16_t port = htons((uint16_t)(cfg->local_port + w->th->index));

		if (la.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&la)->sin6_port = port;
		else
			((struct sockaddr_in *)&la)->sin_port = port;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&la, cfg->server_len))
			return -errno;
	}
	if (connect(fd, (const struct sockaddr *)&cfg->server, cfg->server_len))
		return -errno;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))
		return -errno;
	return local_of(fd, &c->lo);
}

static int worker_setup(struct worker *w)
{
	const struct bench_cfg *cfg = w->cfg;
	int rc;

	w->flows = calloc(cfg->inflight, sizeof(*w->flows));
	w->free_slots = calloc(cfg->inflight, sizeof(*w->free_slots));
	if (!w->flows || !w->free_slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < cfg->inflight; i++)
		w->free_slots[i] = cfg->inflight - 1 - i;
	w->nfree = cfg->inflight;
	for (unsigned i = 0; i < WHEEL_SIZE; i++)
		w->wheel[i] = -1;
	w->nconns = cfg->tcp ? cfg->conns : 1;
	for (unsigned i = 0; i < w->nconns; i++)
		w->conns[i].fd = -1;
	for (unsigned i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		if (cfg->tcp) {
			c->rx = malloc(TCP_RX_CAP);
			c->tx = malloc(TCP_TX_CAP);
			if (!c->rx || !c->tx)
				return -ENOMEM;
		}
		rc = open_conn(w, c);
		if (rc)
			return rc;
	}
	if (!cfg->tcp) {
		w->txbuf = malloc((size_t)UDP_BATCH * BENCH_MAX_REQ);
		w->rxbuf = malloc((size_t)UDP_BATCH * RX_SLOT);
		if (!w->txbuf || !w->rxbuf)
			return -ENOMEM;
		for (unsigned i = 0; i < UDP_BATCH; i++) {
			w->txv[i].iov_base = w->txbuf + (size_t)i * BENCH_MAX_REQ;
			w->txm[i].msg_hdr.msg_iov = &w->txv[i];
			w->txm[i].msg_hdr.msg_iovlen = 1;
			w->rxv[i].iov_base = w->rxbuf + (size_t)i * RX_SLOT;
			w->rxm[i].msg_hdr.msg_iov = &w->rxv[i];
			w->rxm[i].msg_hdr.msg_iovlen = 1;
		}
	}
	w->steps = cfg->scenario == BENCH_REG_REFRESH ? 2 + cfg->refreshes : cfg->scenario == BENCH_CALL ? 3 : 2;
	return 0;
}

static void worker_free(struct worker *w)
{
	for (unsigned i = 0; i < w->nconns; i++) {
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
		free(w->conns[i].rx);
		free(w->conns[i].tx);
	}
	free(w->flows);
	free(w->free_slots);
	free(w->txbuf);
	free(w->rxbuf);
}

/* ---------------------------------------------------------------- loop */

static void worker_run(struct worker *w)
{
	const struct bench_cfg *cfg = w->cfg;
	const uint64_t T = cfg->threads, idx = w->th->index;
	const double period_ns = 1e9 / cfg->rate;
	const uint64_t total = (uint64_t)(cfg->rate * cfg->duration_s + 0.5);
	const uint64_t mine = total > idx ? (total - idx + T - 1) / T : 0;
	/* after the last start, every flow ends by its last step's timeout */
	const uint64_t drain_ns = ((uint64_t)w->steps * cfg->timeout_ms + 1000u) * 1000000u;
	/* tick mode is for UDP: TCP has no per-message receive timestamps */
	const uint64_t tick_ns = cfg->tcp ? 0 : (uint64_t)cfg->tick_us * 1000u;
	uint64_t j = 0, now = bench_now_ns(), last_start = w->th->start_ns;
	struct pollfd pfd[BENCH_MAX_CONNS];

	w->tick = now / 1000000u;
	for (unsigned i = 0; i < w->nconns; i++) {
		pfd[i].fd = w->conns[i].fd;
		pfd[i].events = POLLIN;
	}
	for (;;) {
		uint64_t next_start = UINT64_MAX;
		unsigned n = 0;

		now = bench_now_ns();
		while (j < mine && !stop_requested && n < STARTS_PER_ROUND) {
			uint64_t k = idx + j * T;
			uint64_t at = w->th->start_ns + (uint64_t)((double)k * period_ns);

			if (at > now) {
				next_start = at;
				break;
			}
			bench_flow_start(w, k, now);
			last_start = now;
			j++;
			n++;
		}
		if (n == STARTS_PER_ROUND)
			next_start = now;
		bench_timers_run(w, now);
		flush_all(w);
		if ((j >= mine || stop_requested) && w->active == 0)
			break;
		if ((j >= mine || stop_requested) && now > last_start + drain_ns)
			break;

		uint64_t wait = next_start == UINT64_MAX ? 100000000u : next_start > now ? next_start - now : 0;
		struct timespec ts;

		if (tick_ns) {
			/* tick mode: sleep to the next tick whatever arrives, then take
			 * every datagram queued meanwhile in one go (their kernel
			 * timestamps keep the latencies exact) */
			uint64_t at = (now / tick_ns + 1) * tick_ns;

			ts.tv_sec = (time_t)(at / 1000000000u);
			ts.tv_nsec = (long)(at % 1000000000u);
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
			udp_read(w);
			flush_all(w);
			continue;
		}

		/* sleep until the next start or the next armed wheel tick, whichever
		 * comes first (at most 100 ms: the drain and stop checks) */
		if (wait > 100000000u)
			wait = 100000000u;
		for (uint64_t t = w->tick + 1; t * 1000000u < now + wait; t++) {
			if (w->wheel[t & WHEEL_MASK] >= 0) {
				wait = t * 1000000u > now ? t * 1000000u - now : 0;
				break;
			}
		}
		for (unsigned i = 0; i < w->nconns; i++)
			pfd[i].events = POLLIN | (cfg->tcp && w->conns[i].tx_len ? POLLOUT : 0);
		ts.tv_sec = 0;
		ts.tv_nsec = (long)wait;
		if (ppoll(pfd, w->nconns, &ts, NULL) <= 0)
			continue;
		for (unsigned i = 0; i < w->nconns; i++) {
			if (w->conns[i].dead)
				pfd[i].fd = -1;
			if (!pfd[i].revents)
				continue;
			if (!cfg->tcp)
				udp_read(w);
			else
				tcp_read(w, &w->conns[i]);
		}
		flush_all(w);
	}
	/* flows still open past the drain time never got their answer */
	w->st->timeouts += w->active;
}

void *bench_thread_main(void *arg)
{
	struct bench_thread *th = arg;
	struct worker *w = calloc(1, sizeof(*w));
	int rc;

	if (!w) {
		th->err = -ENOMEM;
		snprintf(th->errmsg, sizeof(th->errmsg), "out of memory");
		return NULL;
	}
	w->cfg = th->cfg;
	w->th = th;
	w->st = &th->stats;
	rc = worker_setup(w);
	if (rc) {
		th->err = rc;
		snprintf(th->errmsg, sizeof(th->errmsg), "thread %u: socket setup: %s", th->index, strerror(-rc));
	} else {
		worker_run(w);
	}
	worker_free(w);
	free(w);
	return NULL;
}
