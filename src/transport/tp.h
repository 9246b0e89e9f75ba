/* The transport layer's door: listen addresses, per-worker epoll loops with one
 * SO_REUSEPORT socket per listen address per worker (UDP datagrams and TCP
 * streams), stream framing, sending replies back where a request came from,
 * and sending requests over UDP or over a TCP/TLS connection (an existing one
 * to that peer, whichever worker owns it, else a new outbound one). A worker
 * owns its sockets and connections; shared between workers are the read-only
 * listen list and a small (proto, peer) -> connection index. */
#ifndef SW_TP_H
#define SW_TP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/limits.h"

enum tp_proto { TP_UDP = 0, TP_TCP, TP_TLS };

struct tp_listen {
	enum tp_proto proto;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char text[80]; /**< "udp:127.0.0.1:5060" as given, normalised */
};

/* Parse "udp:IP:PORT", "tcp:[::1]:5060", "udp:IP" (port 5060), "tls:IP[:PORT]"
 * (port 5061, RFC 3261 §26.2). 0 or -EINVAL. */
int tp_listen_parse(struct tp_listen *out, const char *spec);
const char *tp_proto_name(enum tp_proto p);

/* Textual IP and port of a socket address; ip gets at least 46 bytes. */
void tp_addr_text(const struct sockaddr_storage *ss, char *ip, size_t ipcap, uint16_t *port);
/* Build a socket address from text IP (v4 or v6, brackets allowed) and port. 0 or -EINVAL. */
int tp_addr_from_text(const char *ip, size_t iplen, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

struct tp_worker;

/* Where a message came from; enough to send the reply back the same way. */
struct tp_src {
	enum tp_proto proto;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	int fd;                     /**< UDP socket or TCP connection it arrived on */
	uint32_t conn_gen;          /**< TCP: generation guarding against fd reuse */
	const struct tp_listen *lst;/**< listen address it arrived on */
	/** UDP: the kernel steered it by the branch prefix in its first bytes
	 * (tp_server_cfg.udp_steer_prefix), so a response with our branch near
	 * its start is already on the worker the branch names. */
	bool steered;
	/** UDP: requests on this socket belong to the worker their Call-ID
	 * names (tp_callid_worker); one that arrived elsewhere is handed there
	 * (tp_udp_hand_over). False on a request already handed over. */
	bool by_call_id;
	struct tp_worker *worker;
	/** TLS: identity of a verified client certificate (first SAN URI, else
	 * first SAN DNS name, else subject CN); NULL when there is none. Valid
	 * only during the tp_msg_fn call. */
	const char *peer_identity;
	/** Milliseconds the message waited before it is handed over, from the
	 * kernel receive timestamp (SO_TIMESTAMPNS): UDP, of the datagram; TCP
	 * and TLS, of the newest bytes read with its last byte, a lower bound
	 * (tcp.c). 0 when unknown. */
	uint32_t queued_ms;
};

/* Called for each complete message; buf is writable and valid only during the
 * call. Runs on the worker thread that owns the socket. */
typedef void (*tp_msg_fn)(const struct tp_src *src, char *buf, size_t len, void *arg);
/* Called once per second on every worker thread (timers, housekeeping). */
typedef void (*tp_tick_fn)(struct tp_worker *w, void *arg);
/* Called on each worker thread at start (index 0..n-1) and at exit. */
typedef int (*tp_thread_fn)(struct tp_worker *w, unsigned index, bool starting, void *arg);
/* Called on the worker that opened an outbound connection when it closes
 * before it ever carried bytes (connect refused or timed out, TLS handshake
 * failed): what was queued on it was never sent (RFC 3261 §8.1.3.1). */
typedef void (*tp_conn_fail_fn)(struct tp_worker *w, enum tp_proto proto, const struct sockaddr_storage *peer,
				void *arg);

/* TLS settings ([tls] section). Paths name PEM files; the key file's content
 * is never logged. */
enum tp_verify { TP_VERIFY_NONE = 0, TP_VERIFY_OPTIONAL, TP_VERIFY_REQUIRE };

struct tp_tls_sni {
	char name[SW_MAX_DOMAIN + 1];   /**< server name the client asks for */
	char cert[SW_MAX_PATH];
	char key[SW_MAX_PATH];
};

struct tp_tls_cfg {
	char cert[SW_MAX_PATH];         /**< default certificate chain (PEM) */
	char key[SW_MAX_PATH];          /**< its private key (PEM) */
	char ca_file[SW_MAX_PATH];      /**< CAs that client certificates (and, when set,
					     servers we connect to) must chain to */
	bool verify_server;             /**< outbound: check the server certificate
					     (ca_file, else the system store) */
	enum tp_verify verify;          /**< client certificates */
	unsigned min_version;           /**< 12 (TLS 1.2) or 13 (TLS 1.3) */
	char ciphers[256];              /**< TLS 1.2 cipher list; "" = built-in default */
	struct tp_tls_sni sni[SW_MAX_TLS_SNI];
	unsigned nsni;
	unsigned handshake_timeout_s;
};

/* Parse an SNI entry "name:/path/cert.pem:/path/key.pem". 0 or -EINVAL. */
int tp_tls_sni_parse(struct tp_tls_sni *out, const char *spec);

struct tp_server_cfg {
	const struct tp_listen *listens;
	unsigned nlistens;
	unsigned nworkers;
	tp_msg_fn on_msg;
	tp_thread_fn on_thread;
	tp_tick_fn on_tick;         /**< optional; once per second on each worker */
	tp_tick_fn on_idle;         /**< optional; before each wait for input */
	tp_conn_fail_fn on_conn_fail; /**< optional */
	void *arg;
	unsigned tcp_idle_timeout_s;
	unsigned max_tcp_conns;     /**< per worker */
	unsigned max_conns_per_ip;  /**< TCP+TLS, all workers together; 0 = default */
	unsigned tcp_message_timeout_s; /**< an incomplete message must complete within this */
	const struct tp_tls_cfg *tls; /**< required when a listen address is tls: */
	/** Optional, with more than one worker: the branch prefix of this
	 * process's client transactions (followed by the worker index and 'x');
	 * UDP responses carrying it reach that worker's socket directly (steer.c). */
	const char *udp_steer_prefix;
	/** With udp_steer_prefix: place UDP requests by their Call-ID (the
	 * kernel program scans for it; tp_src.by_call_id tells the receiver to
	 * check), so one sender's requests spread over every worker. Off: each
	 * sender address:port stays on one worker. */
	bool udp_by_call_id;
};

struct tp_server;

/* Bind every listen address on every worker (fails with -errno and a log line
 * naming the address when a bind fails), then start the worker threads.
 * The cfg and its listens must outlive the server. */
int tp_server_start(struct tp_server **out, const struct tp_server_cfg *cfg);
/* Ask all workers to stop, join them and free everything; NULL-safe. */
void tp_server_stop(struct tp_server *srv);

/* Send buf to where src came from (UDP: sendto the peer; TCP and TLS: write on
 * the same connection if it is still open). 0 or -errno. On UDP, a reply made
 * while the worker handles a receive batch from src's socket is copied and
 * sent with the batch's other replies (sendmmsg) before the next read: 0 then
 * means queued, and a later send failure is only logged. */
int tp_send_reply(const struct tp_src *src, const void *buf, size_t len);
/* The worker (0..nworkers-1) a UDP request with this Call-ID value belongs
 * to when requests are placed by Call-ID: a hash of its first 12 bytes up
 * to the first byte below '!', the one the kernel program computes. */
unsigned tp_callid_worker(const char *callid, size_t len, unsigned nworkers);
/* Hand the datagram buf[0..len) that arrived as src to worker index, whose
 * on_msg then gets it as if it had arrived there (src.by_call_id false). A
 * copy is queued (lock-free, capped like every message between workers):
 * 0, or -ENOBUFS / -ENOMEM / -ENOENT, and the caller drops the datagram as
 * a lost one (the sender retransmits). */
int tp_udp_hand_over(const struct tp_src *src, unsigned index, const char *buf, size_t len);
/* Requests handed over so far, all workers. */
uint64_t tp_requests_handed_over(void);
/* Per-worker user pointer (set by on_thread). */
void tp_worker_set_data(struct tp_worker *w, void *data);
void *tp_worker_data(const struct tp_worker *w);

/* Outbound requests, timers and cross-worker hand-off (outbound.c), for the
 * transaction layer. All of these run on the calling worker's thread except
 * tp_worker_post, which any worker may call. */

/* Runs what is due at now_ms and returns the milliseconds until its next
 * deadline, or -1 when nothing is scheduled. Called on every loop pass. */
typedef int (*tp_loop_fn)(struct tp_worker *w, uint64_t now_ms, void *arg);
/* Install w's loop hook (from on_thread); the epoll timeout follows its answer. */
void tp_worker_set_loop(struct tp_worker *w, tp_loop_fn fn, void *arg);
unsigned tp_worker_index(const struct tp_worker *w);
unsigned tp_worker_count(const struct tp_worker *w);

/* An item handed to another worker: the poster allocates it (embedding it in
 * a larger struct), the receiving worker's fn owns it from then on. */
struct tp_post {
	struct tp_post *next;
	void (*fn)(struct tp_worker *w, struct tp_post *p);
	bool is_msg;                    /**< set by the post functions */
};
/* Queue p for worker index (lock-free push, then its eventfd is written);
 * 0, or -ENOENT when there is no such worker (p stays the caller's). Never
 * refused otherwise: for items that must arrive (they carry a reference). */
int tp_worker_post(struct tp_worker *from, unsigned index, struct tp_post *p);
/* The same for a message that may be lost like a datagram (bytes for a
 * connection, a response): -ENOBUFS, p staying the caller's, when
 * SW_MAX_POSTED_MSGS of them already wait for that worker. */
int tp_worker_post_msg(struct tp_worker *from, unsigned index, struct tp_post *p);
/* On w's own thread: take out, without running them, the items queued for w
 * that match (items whose memory the caller is about to free, e.g. at exit);
 * the others stay queued in their order. Returns how many were taken out. */
unsigned tp_worker_unpost(struct tp_worker *w, bool (*match)(const struct tp_post *p, void *arg), void *arg);

/* Where a request goes: transport and peer address, whether a new
 * connection may be opened, and for TLS the name the server must prove. */
#define TP_DEST_REUSE_ONLY 1u /**< TCP/TLS: only an existing connection (a phone
				   behind NAT is reachable on no other) */
struct tp_dest {
	enum tp_proto proto;
	unsigned flags;
	struct sockaddr_storage addr;
	char name[SW_MAX_DOMAIN + 1]; /**< TLS: SNI and certificate name; "" = the
					   certificate must name the IP address */
};

/* Send one message to d.
 * UDP: a datagram from w's own UDP socket of d's address family (so replies
 * come back to the listen port).
 * TCP/TLS (RFC 3261 §18.1.1 connection reuse): on an open connection to
 * exactly that peer address and transport, inbound or outbound, on whichever
 * worker owns it (bytes are copied to the owner); without one, unless
 * TP_DEST_REUSE_ONLY, a new outbound connection from w (bytes are queued
 * until it is connected and, for TLS, the server's certificate verified).
 * 0; -EAFNOSUPPORT (no listen address of that transport and family to name
 * us in Via); -ENOTCONN (reuse only, no connection); -EMFILE (connection
 * limits); -errno. A 0 does not promise delivery on a stream: a connection
 * that fails later reports through on_conn_fail. */
int tp_send_dest(struct tp_worker *w, const struct tp_dest *d, const void *buf, size_t len);
/* tp_send_dest with no flags and no TLS name. */
int tp_send_to(struct tp_worker *w, enum tp_proto proto, const struct sockaddr_storage *dst,
	       const void *buf, size_t len);
/* The UDP listen address w would use toward family (AF_INET/AF_INET6), or NULL. */
const struct tp_listen *tp_worker_udp_listen(const struct tp_worker *w, int family);
/* The first listen address of proto and family, or NULL: what Via names on
 * requests sent over that transport. */
const struct tp_listen *tp_worker_listen(const struct tp_worker *w, enum tp_proto proto, int family);

/* A snapshot of one TCP/TLS connection, for the control socket (connlist.c). */
struct tp_conn_info {
	enum tp_proto proto;
	unsigned worker;            /**< index of the worker that owns it */
	char listen[80];            /**< listen address it was accepted on; "outbound" for one opened here */
	char peer_ip[46];
	uint16_t peer_port;
	uint64_t age_ms;            /**< since accept */
	uint64_t idle_ms;           /**< since the last byte received */
	size_t buffered;            /**< bytes of an incomplete message held */
	bool handshaking;           /**< TLS handshake not finished */
	char tls_version[16];       /**< "TLSv1.3" once established; "" otherwise */
	char peer_identity[SW_MAX_PEER_IDENTITY]; /**< verified client certificate; "" = none */
};

/* Ask every worker of srv for a snapshot of its connections (each worker owns
 * its list, so the request is posted to it and answered on its own thread)
 * and wait at most timeout_ms. On success *out is a malloc'd array of *n
 * entries owned by the caller (free()), *workers_answered how many workers
 * replied in time; a worker lists at most SW_CTL_MAX_LISTED entries (more set
 * *truncated). Callable from any thread that is not a worker, while srv runs.
 * 0 or -ENOMEM. */
int tp_server_conn_list(struct tp_server *srv, unsigned timeout_ms, struct tp_conn_info **out, size_t *n,
			unsigned *workers_answered, bool *truncated);
/* Number of worker threads of srv. */
unsigned tp_server_worker_count(const struct tp_server *srv);
/* UDP datagrams worker i has read from its own sockets so far (handed-over
 * requests not included): how the kernel spreads the load. */
uint64_t tp_server_worker_datagrams(const struct tp_server *srv, unsigned i);

/* Stream framing (RFC 3261 §18.3): given the bytes buffered on a connection,
 * find the end of the first message. Leading CRLFs are skipped (*skip tells
 * how many); a "\r\n\r\n" keep-alive ping (RFC 5626 §3.5.1) is reported as
 * TP_FRAME_PING. Returns TP_FRAME_MSG with *msg_len, TP_FRAME_MORE when more
 * bytes are needed, or TP_FRAME_BAD (unusable Content-Length, or more than
 * max bytes without a complete message). */
enum tp_frame { TP_FRAME_MORE = 0, TP_FRAME_MSG, TP_FRAME_PING, TP_FRAME_BAD };
enum tp_frame tp_frame_scan(const char *buf, size_t len, size_t max, size_t *skip, size_t *msg_len);

#endif
