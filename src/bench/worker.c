/* sipwarden-bench: one load thread. Its own UDP socket (or TCP connections),
 * a fixed table of flow slots, an open-loop start schedule (global flow k
 * starts at start + k/rate; thread i owns k = i, i+T, ...), a 1 ms timer wheel
 * for UDP retransmissions (T1 doubling to T2) and per-transaction timeouts,
 * batched sends (sendmmsg, one write per TCP connection) and batched receives
 * (recvmmsg; on UDP once per tick, with kernel receive timestamps, or on every
 * datagram). Nothing allocates or locks after the start. */
#include "bench/bench.h"

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

#define WHEEL_BITS 12u
#define WHEEL_SIZE (1u << WHEEL_BITS)
#define WHEEL_MASK (WHEEL_SIZE - 1u)
#define UDP_BATCH 64u
#define RX_SLOT 4096u
#define TCP_RX_CAP 65536u
#define TCP_TX_CAP (256u * 1024u)
#define STARTS_PER_ROUND 512u

static volatile sig_atomic_t stop_requested;

void bench_request_stop(void)
{
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct flow {
	uint64_t t_sent, due, deadline; /* ns */
	uint64_t busy_ns; /* sum of the flow's transaction times so far */
	uint32_t gen, user, nc, rtx_ms, cseq;
	int32_t tnext, tprev;
	uint32_t tbucket;
	uint16_t conn;
	bool active, armed;
	struct bench_chal chal;
	struct bench_dialog dlg; /* scenario 3 only */
};

struct conn {
	int fd;
	bool dead;
	struct bench_local lo;
	size_t rx_len, tx_len;
	char *rx, *tx;
};

struct worker {
	const struct bench_cfg *cfg;
	struct bench_thread *th;
	struct bench_stats *st;
	struct flow *flows;
	uint32_t *free_slots;
	uint32_t nfree, active;
	int32_t wheel[WHEEL_SIZE];
	uint64_t tick; /* last wheel ms processed */
	struct conn conns[BENCH_MAX_CONNS];
	unsigned nconns;
	/* UDP batches */
	char *txbuf, *rxbuf;
	struct mmsghdr txm[UDP_BATCH], rxm[UDP_BATCH];
	struct iovec txv[UDP_BATCH], rxv[UDP_BATCH];
	char rxctl[UDP_BATCH][64] __attribute__((aligned(8))); /* SCM_TIMESTAMPNS */
	uint32_t txslot[UDP_BATCH], txgen[UDP_BATCH]; /* first transmissions; txgen+1, 0 for retransmissions */
	unsigned ntx;
	struct sip_msg msg;
	unsigned steps; /* requests per flow */
};

/* ---------------------------------------------------------------- timers */

static void timer_unlink(struct worker *w, uint32_t slot)
{
	struct flow *f = &w->flows[slot];

	if (!f->armed)
		return;
	if (f->tprev >= 0)
		w->flows[f->tprev].tnext = f->tnext;
	else
		w->wheel[f->tbucket] = f->tnext;
	if (f->tnext >= 0)
		w->flows[f->tnext].tprev = f->tprev;
	f->armed = false;
}

static void timer_arm(struct worker *w, uint32_t slot, uint64_t due)
{
	struct flow *f = &w->flows[slot];
	uint64_t ms = (due + 999999u) / 1000000u; /* the first tick at or after due */
	uint32_t b;

	timer_unlink(w, slot);
	/* never into a bucket already passed: it would wait a whole wheel turn */
	if (ms <= w->tick)
		ms = w->tick + 1;
	f->due = due;
	b = (uint32_t)ms & WHEEL_MASK;
	f->tbucket = b;
	f->tprev = -1;
	f->tnext = w->wheel[b];
	if (f->tnext >= 0)
		w->flows[f->tnext].tprev = (int32_t)slot;
	w->wheel[b] = (int32_t)slot;
	f->armed = true;
}

/* ---------------------------------------------------------------- sending */

static int udp_flush(struct worker *w)
{
	unsigned done = 0;
	uint64_t t = now_ns();

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
static int send_msg(struct worker *w, uint32_t slot, bool retrans, bool ack, uint32_t ack_cseq, bool ack_2xx)
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

static int send_req(struct worker *w, uint32_t slot, bool retrans)
{
	return send_msg(w, slot, retrans, false, 0, false);
}

/* ---------------------------------------------------------------- flows */

static void flow_end(struct worker *w, uint32_t slot)
{
	struct flow *f = &w->flows[slot];

	timer_unlink(w, slot);
	f->active = false;
	f->gen++;
	w->free_slots[w->nfree++] = slot;
	w->active--;
}

static void flow_fail(struct worker *w, uint32_t slot, int status)
{
	if (status >= 100 && status < 700)
		w->st->fail_status[status]++;
	w->st->failed++;
	flow_end(w, slot);
}

/* Send the flow's request for cseq (first transmission) and arm its timer. */
static void flow_step(struct worker *w, uint32_t slot, uint64_t now)
{
	struct flow *f = &w->flows[slot];

	f->t_sent = now;
	f->deadline = now + (uint64_t)w->cfg->timeout_ms * 1000000u;
	f->rtx_ms = BENCH_T1_MS;
	if (send_req(w, slot, false)) {
		w->st->conn_errors++;
		flow_fail(w, slot, 0);
		return;
	}
	if (w->cfg->tcp)
		timer_arm(w, slot, f->deadline);
	else
		timer_arm(w, slot, now + (uint64_t)f->rtx_ms * 1000000u < f->deadline ?
					   now + (uint64_t)f->rtx_ms * 1000000u : f->deadline);
}

static void flow_start(struct worker *w, uint64_t k, uint64_t now)
{
	const struct bench_cfg *cfg = w->cfg;
	uint32_t slot;
	struct flow *f;

	if (w->nfree == 0) {
		w->st->not_started++;
		return;
	}
	slot = w->free_slots[--w->nfree];
	f = &w->flows[slot];
	f->active = true;
	f->user = (uint32_t)(k % cfg->nusers);
	f->cseq = 1;
	f->nc = 0;
	f->dlg.tag_len = 0;
	f->dlg.target_len = 0;
	f->dlg.route_len = 0;
	f->busy_ns = 0;
	f->conn = (uint16_t)((k / cfg->threads) % w->nconns);
	w->active++;
	w->st->started++;
	flow_step(w, slot, now);
}

static void flow_timer(struct worker *w, uint32_t slot, uint64_t now)
{
	struct flow *f = &w->flows[slot];
	uint64_t next;

	f->armed = false;
	if (now >= f->deadline || w->cfg->tcp) {
		w->st->timeouts++;
		flow_end(w, slot);
		return;
	}
	if (send_req(w, slot, true)) {
		w->st->conn_errors++;
		flow_fail(w, slot, 0);
		return;
	}
	f->rtx_ms = f->rtx_ms * 2 < BENCH_T2_MS ? f->rtx_ms * 2 : BENCH_T2_MS;
	next = now + (uint64_t)f->rtx_ms * 1000000u;
	timer_arm(w, slot, next < f->deadline ? next : f->deadline);
}

static void timers_run(struct worker *w, uint64_t now)
{
	uint64_t now_ms = now / 1000000u, from = w->tick + 1;

	if (now_ms < from)
		return;
	if (now_ms - from >= WHEEL_SIZE)
		from = now_ms - WHEEL_SIZE + 1;
	w->tick = now_ms;
	for (uint64_t t = from; t <= now_ms; t++) {
		int32_t i = w->wheel[t & WHEEL_MASK];

		while (i >= 0) {
			int32_t next = w->flows[i].tnext;

			if (w->flows[i].due <= now) {
				timer_unlink(w, (uint32_t)i);
				flow_timer(w, (uint32_t)i, now);
			}
			i = next;
		}
	}
}

/* Scenario 3: a response to one of the call's requests. */
static void on_call_response(struct worker *w, uint32_t slot, const struct bench_resp *r, uint64_t at, uint64_t now)
{
	const struct bench_cfg *cfg = w->cfg;
	struct flow *f = &w->flows[slot];
	bool invite = r->method == SIP_INVITE;

	if (invite && r->cseq < f->cseq && r->cseq <= 2 && r->status >= 200) {
		/* a final answer retransmitted: our ACK was lost, send it again */
		if (send_msg(w, slot, true, true, r->cseq, r->status < 300) == 0)
			w->st->sent--; /* counted as a retransmission only */
		return;
	}
	if (r->cseq != f->cseq || invite != (f->cseq <= 2) || (!invite && r->method != SIP_BYE)) {
		w->st->stray++;
		return;
	}
	if (r->status < 200) {
		/* INVITE: a provisional answer stops the retransmissions (Timer A) */
		if (invite && f->armed)
			timer_arm(w, slot, f->deadline);
		return;
	}
	if (at < f->t_sent)
		at = f->t_sent;
	bench_hist_add(&w->st->txn, (at - f->t_sent) / 1000u);
	f->busy_ns += at - f->t_sent;
	if (f->cseq == 1) {
		if (r->status < 300) {
			/* correctness: a call without credentials must be challenged */
			w->st->early_200++;
			flow_fail(w, slot, r->status);
			return;
		}
		if (bench_dialog_take(&w->msg, false, &f->dlg) || send_msg(w, slot, false, true, 1, false)) {
			flow_fail(w, slot, r->status);
			return;
		}
		if (r->status != 407) {
			flow_fail(w, slot, r->status);
			return;
		}
		if (bench_resp_chal(cfg, &w->msg, SIP_HDR_PROXY_AUTHENTICATE, &f->chal)) {
			w->st->no_challenge++;
			flow_fail(w, slot, 407);
			return;
		}
		f->cseq = 2;
		flow_step(w, slot, now);
		return;
	}
	if (f->cseq == 2) {
		bool ok = r->status < 300;

		/* a 407 (or anything else) to the answered INVITE fails the call */
		if (bench_dialog_take(&w->msg, ok, &f->dlg) || send_msg(w, slot, false, true, 2, ok) || !ok) {
			flow_fail(w, slot, r->status);
			return;
		}
		w->st->auth_ok++;
		f->cseq = 3; /* the BYE, at once (no hold time, as call_uac.xml) */
		flow_step(w, slot, now);
		return;
	}
	if (r->status != 200) {
		flow_fail(w, slot, r->status);
		return;
	}
	bench_hist_add(&w->st->flow, f->busy_ns / 1000u);
	w->st->ok++;
	flow_end(w, slot);
}

/* One response, arrived at `at`: advance, finish or fail its flow (a next
 * request goes out now). */
static void on_response(struct worker *w, char *buf, size_t len, uint64_t at, uint64_t now)
{
	const struct bench_cfg *cfg = w->cfg;
	struct bench_resp r;
	struct flow *f;
	int rc;

	w->st->received++;
	rc = bench_resp_parse(cfg, w->th->index, buf, len, &w->msg, &r);
	if (rc == -EBADMSG) {
		w->st->bad_msg++;
		return;
	}
	if (rc || r.slot >= cfg->inflight) {
		w->st->stray++;
		return;
	}
	f = &w->flows[r.slot];
	if (f->active && f->gen == r.gen && cfg->scenario == BENCH_CALL) {
		on_call_response(w, r.slot, &r, at, now);
		return;
	}
	if (!f->active || f->gen != r.gen || f->cseq != r.cseq || r.method != SIP_REGISTER) {
		w->st->stray++; /* late answer to a retransmission, or to an ended flow */
		return;
	}
	if (r.status < 200)
		return;
	if (at < f->t_sent)
		at = f->t_sent;
	bench_hist_add(&w->st->txn, (at - f->t_sent) / 1000u);
	f->busy_ns += at - f->t_sent;
	if (f->cseq == 1) {
		/* correctness: the first REGISTER has no credentials; only a
		 * challenge is right, a 200 here means no digest was checked */
		if (r.status == 200) {
			w->st->early_200++;
			flow_fail(w, r.slot, 200);
			return;
		}
		if (r.status != 401) {
			flow_fail(w, r.slot, r.status);
			return;
		}
		if (bench_resp_chal(cfg, &w->msg, SIP_HDR_WWW_AUTHENTICATE, &f->chal)) {
			w->st->no_challenge++;
			flow_fail(w, r.slot, 401);
			return;
		}
		f->cseq = 2;
		f->nc = 1;
		flow_step(w, r.slot, now);
		return;
	}
	if (r.status != 200) {
		/* a 401/403 (or anything else) to the digest answer is a failure */
		flow_fail(w, r.slot, r.status);
		return;
	}
	w->st->auth_ok++;
	if (f->cseq - 1 < w->steps - 1) {
		/* scenario 2: refresh on the same Call-ID, same nonce, next nc */
		f->cseq++;
		f->nc++;
		flow_step(w, r.slot, now);
		return;
	}
	/* the generator's own time between an answer and the next request
	 * (up to one tick) is not the server's: left out */
	bench_hist_add(&w->st->flow, f->busy_ns / 1000u);
	w->st->ok++;
	flow_end(w, r.slot);
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
		uint64_t now = now_ns();

		for (int i = 0; i < n; i++)
			on_response(w, w->rxbuf + (size_t)i * RX_SLOT, w->rxm[i].msg_len,
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
		now = now_ns();
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
			on_response(w, c->rx + off, (size_t)m, now, now);
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
	uint64_t j = 0, now = now_ns(), last_start = w->th->start_ns;
	struct pollfd pfd[BENCH_MAX_CONNS];

	w->tick = now / 1000000u;
	for (unsigned i = 0; i < w->nconns; i++) {
		pfd[i].fd = w->conns[i].fd;
		pfd[i].events = POLLIN;
	}
	for (;;) {
		uint64_t next_start = UINT64_MAX;
		unsigned n = 0;

		now = now_ns();
		while (j < mine && !stop_requested && n < STARTS_PER_ROUND) {
			uint64_t k = idx + j * T;
			uint64_t at = w->th->start_ns + (uint64_t)((double)k * period_ns);

			if (at > now) {
				next_start = at;
				break;
			}
			flow_start(w, k, now);
			last_start = now;
			j++;
			n++;
		}
		if (n == STARTS_PER_ROUND)
			next_start = now;
		timers_run(w, now);
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
