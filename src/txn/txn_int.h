/* Private to src/txn: the per-worker timer heap, transaction records and the
 * matching tables. */
#ifndef SW_TXN_INT_H
#define SW_TXN_INT_H

#include "base/siphash.h"
#include "txn/chains.h"
#include "txn/txn.h"

/* ---- timers (timer.c) ----
 * Every transaction timer has one of a few fixed durations (T1 doublings up to
 * T2, T4, 64*T1, timer C ...), so timers of one duration expire in the order
 * they were armed: each duration gets a FIFO list (arm, stop and expiry are
 * O(1), whatever the number of live transactions); the earliest timer is the
 * earliest list head. A duration beyond the lists goes to a binary min-heap. */
struct txn_timer;
typedef void (*txn_timer_fn)(struct txn_timer *t);
struct txn_timer {
	uint64_t due_ms;
	unsigned idx;                  /**< position in the heap + 1; 0 = not in the heap */
	uint8_t list;                  /**< timer list + 1; 0 = not in a list */
	struct txn_timer *prev, *next; /**< links in its list */
	txn_timer_fn fn;
};
struct txn_heap {
	struct txn_timer **v;
	unsigned n, cap;
};
void txn_heap_fini(struct txn_heap *h);
/* Arm (or re-arm) t to fire at due_ms. 0 or -ENOMEM. */
int txn_heap_add(struct txn_heap *h, struct txn_timer *t, uint64_t due_ms);
/* Disarm t (no-op when not armed). */
void txn_heap_del(struct txn_heap *h, struct txn_timer *t);
/* The earliest armed timer, or NULL. */
struct txn_timer *txn_heap_top(const struct txn_heap *h);

#define TXN_TIMER_LISTS 16
struct txn_timer_list {
	unsigned ms;
	struct txn_timer *head, *tail;
};
struct txn_timers {
	struct txn_timer_list list[TXN_TIMER_LISTS];
	unsigned nlists;
	struct txn_heap heap; /**< durations beyond the lists */
};
/* Arm (or re-arm) t to fire at now_ms + ms. 0 or -ENOMEM. */
int txn_timers_start(struct txn_timers *ts, struct txn_timer *t, uint64_t now_ms, unsigned ms);
/* Disarm t (no-op when not armed). */
void txn_timers_stop(struct txn_timers *ts, struct txn_timer *t);
/* The earliest armed timer, or NULL. */
struct txn_timer *txn_timers_first(const struct txn_timers *ts);
/* How late a timer in a list of duration ms may fire: 1/64 of it (T1's
 * 500 ms: 7 ms, T4's 5 s: 78 ms, 64*T1: 500 ms). A timer fires once it is
 * due, on whatever wakes the worker first, and the worker sleeps at most
 * until one of them is due plus its slack: at a few thousand transactions a
 * second the many timers of one duration, each due in a different
 * millisecond, then cost a wake-up per slack instead of one per millisecond.
 * Timers in the heap have none. */
#define TXN_TIMER_SLACK(ms) ((uint64_t)(ms) >> 6)
/* When the worker must be awake at the latest for the armed timers:
 * min(due + slack); UINT64_MAX when none is armed. */
uint64_t txn_timers_wake(const struct txn_timers *ts);
void txn_timers_fini(struct txn_timers *ts);

/* ---- records ---- */
/* Matching tables: chained hash tables that double (up to TXN_BUCKETS_MAX)
 * when they hold more than two transactions per bucket, so chains stay short
 * at any call rate (64*T1 = 32 s of finished transactions stay in them); a
 * doubling is spread over the following operations (chains.h). */
#define TXN_BUCKETS_MIN 4096u
#define TXN_BUCKETS_MAX (1u << 22)
#define TXN_KEY_MAX 320

struct txn_server {
	struct txn_link link;      /**< hash chain and key hash; first member */
	struct txn_layer *tl;
	enum sip_method method;    /**< INVITE, CANCEL, or the non-INVITE method */
	enum txn_state state;
	bool reliable;             /**< TCP/TLS: no retransmission timers */
	bool pending;              /**< no final response sent yet (counted in npending) */
	int last_code;
	void *user;
	struct tp_src dst;         /**< where responses go */
	struct txn_timer t_retx;   /**< G */
	struct txn_timer t_end;    /**< H, I, J, L */
	unsigned retx_ms;
	char *last;                /**< last response sent */
	size_t last_len, last_cap;
	size_t req_len;
	char *req;                 /**< request copy until the final response (then NULL) */
	uint16_t key_len;
	char key[];                /**< matching key (exact size) */
};

struct txn_client {
	struct txn_link link;      /**< hash chain and branch hash; first member */
	struct txn_layer *tl;
	enum sip_method method;
	enum txn_state state;
	bool cancel_pending;       /**< CANCEL waits for a provisional (§9.1) */
	bool cancelled;
	bool pending;              /**< no final response received yet (counted in npending) */
	int last_code;
	void *user;
	struct tp_dest dst;        /**< transport and next hop */
	bool reliable;             /**< TCP/TLS: no timers A/E, D and K are zero */
	struct txn_timer t_retx;   /**< A, E */
	struct txn_timer t_end;    /**< B, F, D, K, M */
	unsigned retx_ms;
	char *ack;                 /**< ACK sent for a non-2xx final, resent on retransmissions */
	size_t ack_len;
	char branch[48];
	size_t req_len;
	char *req;                 /**< request copy until the final response (then NULL) */
};

struct txn_layer {
	struct tp_worker *w;
	const struct txn_ops *ops;
	struct txn_timers timers;
	uint64_t now_ms;
	uint64_t counter;
	unsigned npending;         /**< transactions still waiting for their final response */
	unsigned hiwater;          /**< most live transactions since the last trim */
	struct txn_chains servers;    /**< keyed by txn_key_hash of the server key */
	/* txn_key_hash's SipHash key, random per layer: the branch and sent-by
	 * in a server key come from the network, and an unkeyed hash would let
	 * a sender pile its requests into one chain. */
	uint8_t hash_key[BASE_SIPHASH_KEY_LEN];
	struct txn_chains clients;    /**< keyed by branch and method */
	struct sip_msg scratch;    /**< re-parsing stored requests */
	char out[SW_MAX_MSG_SIZE];
};

/* Matching keys (match.c). Server: RFC 3261 §17.2.3 branch + sent-by + method
 * class (ACK counts as INVITE), or the RFC 2543 fallback; -EINVAL when the
 * key would not fit. Client: branch + CSeq method (§17.1.3). */
int txn_server_key(const struct sip_msg *req, enum sip_method method, char *key, uint16_t *len);
uint64_t txn_key_hash(const struct txn_layer *tl, const char *key, size_t len);
struct txn_server *txn_server_find(struct txn_layer *tl, const char *key, uint16_t len);
/* txn_server_find with the key's txn_key_hash already known. */
struct txn_server *txn_server_find_hashed(struct txn_layer *tl, const char *key, uint16_t len, uint64_t hash);
void txn_server_link(struct txn_layer *tl, struct txn_server *st);
void txn_server_unlink(struct txn_layer *tl, struct txn_server *st);
struct txn_client *txn_client_find(struct txn_layer *tl, struct slice branch, enum sip_method method);
void txn_client_link(struct txn_layer *tl, struct txn_client *ct);
void txn_client_unlink(struct txn_layer *tl, struct txn_client *ct);

/* After a load peak has drained, hand the freed heap back to the system
 * (layer.c; called from txn_layer_run). */
void txn_layer_trim(struct txn_layer *tl);
/* Arm a timer relative to the layer's current time. */
void txn_timer_arm(struct txn_layer *tl, struct txn_timer *t, unsigned ms, txn_timer_fn fn);
/* Disarm a timer of the layer. */
static inline void txn_timer_stop(struct txn_layer *tl, struct txn_timer *t)
{
	txn_timers_stop(&tl->timers, t);
}
void txn_server_destroy(struct txn_server *st);
/* A transaction got (or gave) its final response, or ends: no longer pending. */
static inline void txn_settle(struct txn_layer *tl, bool *pending)
{
	if (*pending) {
		*pending = false;
		tl->npending--;
	}
}
void txn_client_destroy(struct txn_client *ct);

#endif
