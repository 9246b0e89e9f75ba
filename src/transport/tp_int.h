/* Private to src/transport: the worker and connection structures. */
#ifndef SW_TP_INT_H
#define SW_TP_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "transport/tp.h"

/* Lock shards of the shared connection index: senders on different workers
 * rarely meet on one lock. */
#define TP_CONN_IDX_SHARDS 64

/* The shared connection index's locks (connidx.c). */
void tp_connidx_init(struct tp_server *srv);
void tp_connidx_fini(struct tp_server *srv);

/* What an epoll event points at. */
enum tp_ev_kind { TP_EV_UDP, TP_EV_TCP_LISTEN, TP_EV_CONN, TP_EV_WAKE };

struct tp_ev {
	enum tp_ev_kind kind;
	int fd;
	const struct tp_listen *lst;
	bool steered;               /**< UDP: its group runs the response-steering program */
	bool by_call_id;            /**< UDP: ... which also places requests by Call-ID */
};

struct tp_conn;

/* How bytes move on a stream connection: plain TCP or TLS (tls.c). read
 * returns bytes read, 0 at end of stream, -EAGAIN when nothing is ready yet
 * (the ops re-arm epoll as needed), or -errno. write sends everything or
 * fails (-EAGAIN included: a peer that does not read is not waited for). */
struct tp_stream_ops {
	const char *name;
	ssize_t (*read)(struct tp_worker *w, struct tp_conn *c, void *buf, size_t len);
	int (*write)(struct tp_worker *w, struct tp_conn *c, const void *buf, size_t len);
	void (*fini)(struct tp_conn *c);
};

extern const struct tp_stream_ops tp_tcp_ops;
extern const struct tp_stream_ops tp_tls_ops;

struct tp_conn {
	struct tp_ev ev;            /**< first: epoll data points here */
	const struct tp_stream_ops *ops;
	struct tp_conn *next, *prev;/**< worker's connection list */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint32_t gen;
	uint64_t last_active_ms;
	uint64_t accepted_ms;
	uint64_t msg_start_ms;      /**< first byte of the incomplete message; 0 = none */
	int64_t rx_ns;              /**< kernel receive time (CLOCK_REALTIME ns) of the newest
				     *   bytes read from the socket so far; 0 = unknown */
	unsigned ip_bucket;         /**< per-IP counter this connection holds */
	void *ssl;                  /**< TLS: the SSL object (tls.c); NULL on TCP */
	bool handshaking;           /**< TLS: handshake not finished yet */
	char peer_identity[SW_MAX_PEER_IDENTITY]; /**< TLS: "" = no client certificate */
	char *buf;                  /**< SW_MAX_MSG_SIZE + 1 bytes, allocated on first read */
	size_t len;
	/* Connection reuse (connidx.c, outbound.c). */
	unsigned widx;              /**< index of the owning worker */
	struct tp_conn *idx_next;   /**< chain in the server's shared index */
	bool indexed;
	bool outbound;              /**< opened by us (connect), not accepted */
	bool connecting;            /**< outbound: TCP connect not finished yet */
	char *pending;              /**< outbound: bytes waiting for connect/handshake */
	size_t pending_len;
};

struct tp_worker {
	struct tp_server *srv;
	unsigned index;
	pthread_t thread;
	int epfd;
	int wakefd;
	struct tp_ev wake_ev;
	struct tp_ev *socks;        /**< one per listen address */
	unsigned nsocks;
	struct tp_conn *conns;
	unsigned nconns;
	unsigned noutbound;          /**< of nconns, opened here (connect.c) */
	atomic_uint posted_msgs;     /**< tp_worker_post_msg items in posts */
	_Atomic uint64_t udp_datagrams; /**< read from this worker's UDP sockets */
	uint32_t next_gen;
	struct tp_conn **by_fd;     /**< fd -> conn, for replies on TCP */
	unsigned by_fd_cap;
	void *data;
	/* Timers and cross-worker hand-off (outbound.c). */
	tp_loop_fn loop_fn;         /**< runs due timers, returns ms to the next one */
	void *loop_arg;
	_Atomic(struct tp_post *) posts; /**< pushed by any thread, drained by the owner */
	atomic_bool asleep;         /**< in (or entering) epoll_wait: a post must write wakefd */
	/* Replies held while one read of a stream connection is dispatched
	 * (streamhold.c): written with one write at the end of the read. */
	struct tp_conn *hold_conn;  /**< NULL: not dispatching a stream read */
	char *hold_buf;             /**< SW_STREAM_HOLD_MAX bytes, allocated on first use */
	size_t hold_len;
};

struct tp_server {
	const struct tp_server_cfg *cfg;
	struct tp_worker *workers;
	unsigned nworkers;
	volatile int stopping;
	void *tls;                  /**< struct tp_tls (tls.c) when a listen is tls: */
	atomic_uint conns_per_ip[SW_CONN_IP_BUCKETS];  /**< accepted, by source address */
	/* Opened here, by destination address: counted apart, so connections
	 * aimed at an address never use up what clients there may open. */
	atomic_uint out_per_ip[SW_CONN_IP_BUCKETS];
	/* (proto, peer address) -> connection, any worker's (connidx.c). Written
	 * on open and close only, read when a request is sent on a stream; one
	 * lock per shard of buckets, as DESIGN.md asks of shared tables. */
	pthread_mutex_t idx_lock[TP_CONN_IDX_SHARDS];
	struct tp_conn *idx[SW_CONN_IDX_BUCKETS];
};

void tp_udp_readable(struct tp_worker *w, struct tp_ev *ev);
/* UDP part of tp_send_reply (udp.c): while the worker dispatches a batch read
 * on src->fd, the reply is copied and held for one sendmmsg at the end of the
 * batch (0 then means queued); otherwise it is sent at once. */
int tp_udp_send_reply(const struct tp_src *src, const void *buf, size_t len);
/* Send now what is held for fd, so a request sent directly on the same socket
 * does not overtake replies produced before it. */
void tp_udp_send_pending(int fd);
void tp_tcp_accept(struct tp_worker *w, struct tp_ev *ev);
void tp_conn_readable(struct tp_worker *w, struct tp_conn *c);
/* Read up to len bytes of c's socket without blocking and record in c->rx_ns
 * the kernel receive time the bytes carry (SO_TIMESTAMPNS); the read ops of
 * TCP and TLS both go through it. Bytes read, 0 at end of stream, -EAGAIN, or
 * -errno. */
ssize_t tp_conn_recv(struct tp_conn *c, void *buf, size_t len);
void tp_conn_close(struct tp_worker *w, struct tp_conn *c);
/* streamhold.c: while the messages of one read of c are dispatched, replies to
 * c are appended to the worker's hold buffer and leave in one write at the
 * end (tp_stream_hold_end); any other write to c sends what is held first. */
void tp_stream_hold_begin(struct tp_worker *w, struct tp_conn *c);
/* Write what is held; on a write failure c is closed (-1), else 0. */
int tp_stream_hold_end(struct tp_worker *w, struct tp_conn *c);
/* Reply bytes for c: held when c's read is being dispatched and they fit,
 * else written now (after what is held). 0 or -errno (c then closed). */
int tp_stream_reply(struct tp_worker *w, struct tp_conn *c, const void *buf, size_t len);
/* Before a write to c outside tp_stream_reply: send what is held for c.
 * 0 or -errno (the caller closes c). */
int tp_stream_hold_flush(struct tp_worker *w, struct tp_conn *c);
/* c is going away: forget what is held for it. */
void tp_stream_hold_drop(struct tp_worker *w, struct tp_conn *c);
void tp_conn_sweep_idle(struct tp_worker *w, uint64_t now_ms);
/* TLS (tls.c): build the server contexts from cfg (certificates, CA, SNI);
 * 0 or -errno after logging why. tp_tls_free is NULL-safe. */
int tp_tls_new(void **out, const struct tp_tls_cfg *cfg);
void tp_tls_free(void *tls);
/* Start the server side of a handshake on an accepted connection. 0 or -errno. */
int tp_tls_conn_start(struct tp_worker *w, struct tp_conn *c);
/* Set which epoll events c waits for (EPOLLIN, or EPOLLOUT while TLS wants to write). */
void tp_conn_want(struct tp_worker *w, struct tp_conn *c, bool out);
/* Run every item posted to w (outbound.c), oldest first; on the owner thread.
 * tp_worker_drain_posts also consumes the wake-up counter (its epoll event). */
void tp_worker_drain_posts(struct tp_worker *w);
void tp_worker_run_posts(struct tp_worker *w);
/* The owner is about to wait in epoll_wait: from here a post writes wakefd.
 * Returns true when items are already queued (then do not sleep). */
bool tp_worker_going_to_sleep(struct tp_worker *w);
/* The shared connection index (connidx.c). add/del take the index lock;
 * find copies what a sender needs (owner, fd, gen) while holding it. */
void tp_connidx_add(struct tp_server *srv, struct tp_conn *c);
void tp_connidx_del(struct tp_server *srv, struct tp_conn *c);
int tp_connidx_find(struct tp_server *srv, enum tp_proto proto, const struct sockaddr_storage *peer,
		    unsigned *widx, int *fd, uint32_t *gen);
/* Per-IP connection counters (tcp.c), the accepted ones or (outbound) the
 * ones opened here: take one slot of peer's bucket, or -EMFILE when the
 * per-IP limit is reached; put gives it back. */
int tp_conn_ip_take(struct tp_server *srv, const struct sockaddr_storage *peer, bool outbound, unsigned *bucket);
void tp_conn_ip_put(struct tp_server *srv, bool outbound, unsigned bucket);
/* Record fd -> c in the worker's table (tcp.c). 0 or -ENOMEM. */
int tp_conn_by_fd_put(struct tp_worker *w, int fd, struct tp_conn *c);
/* Write buf on c, or queue it while an outbound c is still connecting or in
 * its handshake; a failed write closes c. 0 or -errno (c may be gone). */
int tp_conn_send(struct tp_worker *w, struct tp_conn *c, const void *buf, size_t len);
/* Outbound connections (connect.c): open one from w toward d (the listen
 * address lst of the same protocol names us), or finish connecting when the
 * socket became writable; tp_conn_flush writes the queued bytes. */
struct tp_conn *tp_conn_connect(struct tp_worker *w, const struct tp_dest *d, const struct tp_listen *lst, int *err);
int tp_conn_connected(struct tp_worker *w, struct tp_conn *c);
int tp_conn_flush(struct tp_worker *w, struct tp_conn *c);
/* Start the client side of a TLS handshake on an outbound connection, with
 * SNI name (NULL or "" for none) and server certificate checks (tls.c). */
int tp_tls_client_start(struct tp_worker *w, struct tp_conn *c, const char *name);
/* Free the calling thread's datagram buffers. */
void tp_udp_thread_exit(void);

/* Response and request steering (steer.c). tp_steer_build writes the classic
 * BPF program for prefix (txn_branch_make's, 7 to 12 bytes) scanning
 * scan_bytes of a response (a multiple of 64) and, when req_bytes is not 0
 * (a multiple of 16), req_bytes of a request for its Call-ID, hashed onto
 * nsock sockets (2..100), into out and returns its length, or -EINVAL /
 * -ENOSPC. tp_steer_attach attaches the longest scans the kernel accepts to
 * the SO_REUSEPORT group of the bound socket fd (requests only with nsock >=
 * 2) and stores their lengths in *scan_bytes and *req_bytes (0: requests
 * placed by address): 0 or -errno. */
struct sock_filter;
int tp_steer_build(const char *prefix, size_t scan_bytes, size_t req_bytes, unsigned nsock, struct sock_filter *out,
		   size_t cap);
int tp_steer_attach(int fd, const char *prefix, unsigned nsock, size_t *scan_bytes, size_t *req_bytes);

#endif
