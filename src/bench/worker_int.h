/* sipwarden-bench internals shared by the load thread's two halves: the flow
 * state machine (flow.c: starts, timers, responses) and the thread's sockets
 * and loop (worker.c). One struct worker per thread, never shared. */
#ifndef SW_BENCH_WORKER_H
#define SW_BENCH_WORKER_H

#include <sys/socket.h>
#include <time.h>

#include "bench/bench.h"

/* Timer wheel: 4096 buckets of 1 ms; a longer timeout waits whole turns. */
#define WHEEL_BITS 12u
#define WHEEL_SIZE (1u << WHEEL_BITS)
#define WHEEL_MASK (WHEEL_SIZE - 1u)
/* Datagrams per sendmmsg / recvmmsg, and the room for one received answer. */
#define UDP_BATCH 64u
#define RX_SLOT 4096u
/* Per TCP connection: receive buffer (several answers) and pending sends. */
#define TCP_RX_CAP 65536u
#define TCP_TX_CAP (256u * 1024u)
/* Flows started in one round at most, so answers are read in between. */
#define STARTS_PER_ROUND 512u

/* One flow slot. gen changes at every reuse; it is in the Call-ID, so a late
 * answer to an ended flow never matches the slot's next flow. */
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

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* worker.c: queue the flow's current request, or (calls) the ACK of the final
 * answer to INVITE ack_cseq; sent at the end of the round. 0 or -errno. */
int bench_send_msg(struct worker *w, uint32_t slot, bool retrans, bool ack, uint32_t ack_cseq, bool ack_2xx);

/* flow.c */
void bench_flow_start(struct worker *w, uint64_t k, uint64_t now);
void bench_timers_run(struct worker *w, uint64_t now);
/* One response that arrived at `at` (a next request goes out now). */
void bench_on_response(struct worker *w, char *buf, size_t len, uint64_t at, uint64_t now);

#endif
