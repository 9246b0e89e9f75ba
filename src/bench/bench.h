/* sipwarden-bench internals: the run configuration shared read-only by the
 * load threads, per-thread counters, the latency histogram and the per-flow
 * SIP messages (REGISTER building, response matching, digest answers).
 * Used by src/app/bench_main.c only; nothing here is part of libsipwarden. */
#ifndef SW_BENCH_H
#define SW_BENCH_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/limits.h"
#include "sip/sip.h"

/* Bounds of the load generator, each with its reason. */
/* Load threads: more than this is no longer "one per core" on any box the
 * bench runs on, and every thread holds a socket and its flow table. */
#define BENCH_MAX_THREADS 64
/* Subscribers cycled through: the bench uses 10,000; the table of names and
 * HA1s is built up front (about 100 bytes each). */
#define BENCH_MAX_USERS 1000000
/* Offered rate in flows/s: far above what one host can serve, low enough that
 * the per-thread flow tables below stay small. */
#define BENCH_MAX_RATE 1000000.0
/* Seconds of offered load: the bench steps are seconds long; a bound keeps a
 * typo from loading a shared machine for an hour. */
#define BENCH_MAX_DURATION 600.0
/* Per-transaction timeout bound: RFC 3261 Timer F is 64*T1 = 32 s. */
#define BENCH_MAX_TIMEOUT_MS 32000u
/* UDP retransmission: first after T1 = 500 ms, doubling, capped at T2 = 4 s
 * (RFC 3261 §17.1.2.2, non-INVITE). */
#define BENCH_T1_MS 500u
#define BENCH_T2_MS 4000u
/* Flows in flight per thread (open loop: a flow that cannot get a slot is
 * counted as not started, never queued). 1 s of load at the highest per-thread
 * rate the tables are sized for, times the default timeout. */
#define BENCH_MAX_INFLIGHT 65536u
/* TCP connections per thread. */
#define BENCH_MAX_CONNS 16u
/* Refreshes after the first registration in scenario 2 (SIPp reg_refresh: 9). */
#define BENCH_MAX_REFRESHES 100u
/* Longest nonce / opaque kept per flow for the refreshes of scenario 2;
 * sipwarden's nonces are 44 characters, Kamailio's 40. */
#define BENCH_MAX_NONCE 128u
/* Longest UDP tick: the generator sleeps that long between batches; beyond
 * 10 ms the open-loop start times bunch up too much. */
#define BENCH_MAX_TICK_US 10000u
/* Buffer for one outgoing REGISTER (with Authorization: about 600 bytes). */
#define BENCH_MAX_REQ 1400u

enum bench_scenario {
	BENCH_REG_NEW = 1,     /**< REGISTER, 401, REGISTER+Authorization, 200 */
	BENCH_REG_REFRESH = 2, /**< the same, then refreshes reusing the nonce (nc+1) */
	BENCH_CALL = 3,        /**< INVITE, 407, ACK, INVITE+Proxy-Authorization, 200, ACK, BYE, 200 */
	BENCH_REG_NEW_TCP = 4, /**< scenario 1 over TCP */
};

/* Latency histogram in microseconds: exact below 64 us, then 32 sub-buckets
 * per power of two (about 3 % resolution). Fixed size, no allocation. */
#define BENCH_HIST_SUB 32u
#define BENCH_HIST_BUCKETS (64u + 40u * BENCH_HIST_SUB)
struct bench_hist {
	uint64_t n;
	uint64_t max_us;
	uint64_t sum_us;
	uint32_t b[BENCH_HIST_BUCKETS];
};
void bench_hist_add(struct bench_hist *h, uint64_t us);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);
/* Value (us, the bucket's upper bound) at or below which a fraction q of the
 * samples lie; 0 when empty. */
uint64_t bench_hist_pct(const struct bench_hist *h, double q);

/* Per-thread counters; summed by the main thread after the threads joined. */
struct bench_stats {
	uint64_t started;      /**< flows begun */
	uint64_t ok;           /**< flows that ended with every expected 200 */
	uint64_t failed;       /**< flows that ended on a wrong answer */
	uint64_t timeouts;     /**< flows whose transaction got no final answer in time */
	uint64_t not_started;  /**< flows due while every flow slot was busy */
	uint64_t auth_ok;      /**< authenticated REGISTERs answered 200 */
	uint64_t sent;         /**< requests sent (retransmissions included) */
	uint64_t retrans;      /**< retransmissions */
	uint64_t received;     /**< responses read */
	uint64_t stray;        /**< responses matching no flow in its current step */
	uint64_t bad_msg;      /**< unparseable responses */
	uint64_t no_challenge; /**< 401 without a usable MD5/SHA digest challenge */
	uint64_t early_200;    /**< 200 to a REGISTER without credentials */
	uint64_t conn_errors;  /**< TCP connects/sends/reads that failed */
	uint32_t fail_status[700]; /**< final status that failed a flow */
	struct bench_hist flow;  /**< a flow's transaction times summed (its requests
				  *   sent to their final answers) */
	struct bench_hist txn;   /**< each request (first send) to its final answer */
};
void bench_stats_merge(struct bench_stats *into, const struct bench_stats *from);

/* The run, read-only once the threads start. */
struct bench_cfg {
	enum bench_scenario scenario;
	bool tcp;
	struct sockaddr_storage server;
	socklen_t server_len;
	const char *domain;      /**< Request-URI host, From/To domain */
	const char *realm;       /**< expected challenge realm (HA1 table) */
	unsigned nusers, first_user;
	const char *user_fmt;    /**< e.g. "u%05d" */
	const char *pass_fmt;    /**< e.g. "pw-%05d-Bench", or a fixed password */
	char (*users)[SW_MAX_USER + 1];  /**< nusers names, owned by main */
	char (*ha1)[33];         /**< MD5 HA1 per user for realm, owned by main */
	double rate;             /**< flows/s over all threads */
	double duration_s;
	unsigned threads;
	unsigned conns;          /**< TCP connections per thread */
	unsigned timeout_ms;     /**< per transaction */
	unsigned inflight;       /**< flow slots per thread */
	unsigned refreshes;      /**< scenario 2 */
	unsigned expires;
	unsigned tick_us;        /**< UDP: wake every tick (0: on every event) */
	const char *callee;      /**< scenario 3: the user part every call goes to */
	unsigned local_port;     /**< UDP: thread i binds port local_port + i (0: any) */
	uint32_t run_id;         /**< random: Call-IDs never repeat across runs */
};

/* Username / password of user index i (0-based, first_user added) by the
 * formats: at most one %d with optional zero-pad width; "%%" is '%'.
 * Returns the length, or -EINVAL (bad format) / -ENOSPC (does not fit). */
int bench_format_user(const char *fmt, unsigned i, char *out, size_t cap);
/* 0 when fmt is acceptable to bench_format_user, else -EINVAL. */
int bench_format_check(const char *fmt);

/* What one flow remembers between its steps (the challenge answered). */
struct bench_chal {
	enum { BENCH_ALGO_MD5 = 0, BENCH_ALGO_SHA256 = 2 } algo; /* values of enum auth_algo */
	bool qop_auth;
	uint8_t nonce_len, opaque_len;
	char nonce[BENCH_MAX_NONCE];
	char opaque[BENCH_MAX_NONCE];
};

/* Where a request goes out from: the Via sent-by. */
struct bench_local {
	char ip[48];        /**< textual, IPv6 without brackets */
	uint16_t port;
	bool v6;
};

/* Build the REGISTER of one step into out (cap >= BENCH_MAX_REQ). cseq 1 is the
 * request without credentials; cseq >= 2 carries Authorization computed from
 * chal with nonce-count nc. Returns the length, or -ENOSPC / -EINVAL. */
int bench_req_build(const struct bench_cfg *cfg, const struct bench_local *lo, unsigned thread, uint32_t slot,
		    uint32_t gen, uint32_t user, uint32_t cseq, uint32_t nc, const struct bench_chal *chal,
		    char *out, size_t cap);

/* A response parsed down to what the flow machine needs. */
struct bench_resp {
	int status;
	uint32_t cseq;
	enum sip_method method; /**< of the CSeq */
	uint32_t slot, gen; /**< decoded from our Call-ID */
};
/* Parse a response and decode our Call-ID ("<run>-<thread>-<slot>-<gen>@...").
 * 0, -EBADMSG (not a response or malformed), -ENOENT (not one of ours). The
 * message is kept in *msg for bench_resp_chal. */
int bench_resp_parse(const struct bench_cfg *cfg, unsigned thread, char *buf, size_t len, struct sip_msg *msg,
		     struct bench_resp *out);
/* The challenge to answer in a 401 / 407: the first `which` header
 * (WWW-Authenticate / Proxy-Authenticate) offering MD5
 * (or, when none does, SHA-256) with qop auth or none. 0 or -ENOENT. The realm
 * must be cfg->realm (else -EPERM: the table's HA1 would not match). */
int bench_resp_chal(const struct bench_cfg *cfg, const struct sip_msg *msg, enum sip_hdr_id which,
		    struct bench_chal *out);

/* Pieces shared by the REGISTER and call builders. */
void bench_put_id(struct sip_buf *b, const struct bench_cfg *cfg, unsigned thread, uint32_t slot, uint32_t gen);
void bench_put_host(struct sip_buf *b, const struct bench_local *lo);
/* "<hdr>: Digest ..." answering chal for method and uri; 0 or -errno. */
int bench_put_auth(struct sip_buf *b, const struct bench_cfg *cfg, const char *hdr, const char *method,
		   const char *uri, uint32_t user, uint32_t slot, uint32_t gen, uint32_t nc,
		   const struct bench_chal *chal);

/* What a call (scenario 3) keeps from the final answer to its INVITE: the To
 * tag (the ACK of a 407 needs it too), and from the 200 the remote target and
 * the route set (Record-Route reversed, RFC 3261 §12.1.2). */
#define BENCH_MAX_TAG 64u
#define BENCH_MAX_TARGET 160u
#define BENCH_MAX_ROUTE 320u
struct bench_dialog {
	uint8_t tag_len, target_len;
	uint16_t route_len;
	char tag[BENCH_MAX_TAG];
	char target[BENCH_MAX_TARGET];
	char route[BENCH_MAX_ROUTE]; /**< "Route: <..>, <..>\r\n" or empty */
};
enum bench_call_req {
	BENCH_CALL_INVITE, /**< cseq 1 without, cseq 2 with Proxy-Authorization */
	BENCH_CALL_ACK,    /**< for the final answer to INVITE cseq */
	BENCH_CALL_BYE,    /**< cseq 3, inside the dialog */
};
/* Build one request of a call into out. 2xx ACK and BYE go to the dialog's
 * target along its route set. Returns the length or -ENOSPC / -EINVAL. */
int bench_call_build(const struct bench_cfg *cfg, const struct bench_local *lo, unsigned thread, uint32_t slot,
		     uint32_t gen, uint32_t user, enum bench_call_req kind, uint32_t cseq, bool ack_2xx,
		     const struct bench_chal *chal, const struct bench_dialog *dlg, char *out, size_t cap);
/* Keep the To tag of a final INVITE answer and, for a 2xx, its Contact and
 * route set. 0, or -EINVAL (2xx without a usable Contact, or too long). */
int bench_dialog_take(const struct sip_msg *msg, bool is_2xx, struct bench_dialog *d);

/* One load thread: runs until its share of flows has been offered and every
 * flow ended (bounded by the timeout). Thread-safe with other instances. */
struct bench_thread {
	const struct bench_cfg *cfg;
	unsigned index;
	uint64_t start_ns;  /**< CLOCK_MONOTONIC time of global flow 0 */
	struct bench_stats stats;
	int err;            /**< 0, or -errno when it could not start */
	char errmsg[128];
};
void *bench_thread_main(void *arg);
/* Asked from a signal handler: stop offering new flows. */
void bench_request_stop(void);

/* uas.c: the stateless callee of scenario 3 (--uas). */
struct bench_uas_stats {
	uint64_t invites, byes, acks, other, responses, bad;
	uint64_t answered;     /**< 200 OKs sent */
	uint64_t send_errors;
};
/* Serve on addr (port 0: any; *port_out gets it and a "UAS listening on"
 * line is printed) with threads sockets sharing the port, for max_s seconds
 * (0: until bench_uas_request_stop). 0 or -errno. */
int bench_uas_run(const struct sockaddr_storage *addr, unsigned threads, double max_s,
		  struct bench_uas_stats *total, uint16_t *port_out);
void bench_uas_request_stop(void);

#endif
