/* The transaction layer's door: RFC 3261 §17 server and client transactions
 * (INVITE and non-INVITE), matching (§17.1.3, §17.2.3), retransmission
 * absorption, timers A-K (plus RFC 6026's L and M), hop-by-hop ACK for non-2xx
 * final responses and CANCEL generation (§9.1). One struct txn_layer per
 * worker: no locks; a transaction lives on the worker that created it. */
#ifndef SW_TXN_H
#define SW_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/sip.h"
#include "transport/tp.h"

/* RFC 3261 §17.1.1.1 timer values (ms). */
#define TXN_T1 500u
#define TXN_T2 4000u
#define TXN_T4 5000u

enum txn_state {
	TXN_CALLING = 0, /**< client INVITE, nothing heard yet */
	TXN_TRYING,      /**< non-INVITE, nothing final yet */
	TXN_PROCEEDING,
	TXN_COMPLETED,
	TXN_CONFIRMED,   /**< server INVITE: ACK received */
	TXN_ACCEPTED,    /**< RFC 6026: 2xx passed, waiting out retransmissions */
	TXN_TERMINATED,
};

struct txn_layer;
struct txn_server;
struct txn_client;

/* What the user of the layer (the proxy) is told. Every callback runs on the
 * owning worker, from txn_layer_run or from a txn_* call made by the user. */
struct txn_ops {
	/* A response matched client transaction ct: provisional, final, or a 2xx
	 * retransmission (ACCEPTED). Retransmitted non-2xx finals are absorbed
	 * here (the ACK is resent) and never reported twice. */
	void (*on_response)(struct txn_client *ct, const struct sip_msg *rsp, void *user);
	/* Timer B or F fired: no final response will come. */
	void (*on_timeout)(struct txn_client *ct, void *user);
	/* The transaction is about to be freed; user loses its pointer to it. */
	void (*on_gone)(void *user, bool server, void *txn);
};

/* Create a worker's layer. 0 or -ENOMEM. */
int txn_layer_new(struct txn_layer **out, struct tp_worker *w, const struct txn_ops *ops);
/* Free every remaining transaction (on_gone called for each) and the layer; NULL-safe. */
void txn_layer_free(struct txn_layer *tl);
/* Fire due timers; returns ms until the next deadline, -1 when none. */
int txn_layer_run(struct txn_layer *tl, uint64_t now_ms);
/* Live transactions (server, client), for tests and stats. */
void txn_layer_counts(const struct txn_layer *tl, unsigned *servers, unsigned *clients);
/* Transactions (server and client) that have not had their final response
 * yet: the ones a caller can keep open for long (up to Timer C), which the
 * proxy caps (SW_DEFAULT_MAX_TRANSACTIONS). Those already answered end by
 * their own timers within 32 s and are not counted. */
unsigned txn_layer_pending(const struct txn_layer *tl);

/* ---- server transactions (RFC 3261 §17.2) ---- */

/* RFC 3261 §17.2.3: the server transaction req belongs to, looking it up as
 * method (pass SIP_INVITE to find the INVITE a CANCEL targets; ACK is matched
 * to its INVITE automatically). NULL when none. */
struct txn_server *txn_server_match(struct txn_layer *tl, const struct sip_msg *req, enum sip_method method);
/* Give a received request to its existing transaction: a retransmission gets
 * the last response again, an ACK to a non-2xx final response confirms the
 * INVITE transaction. true when req was absorbed this way (the caller does
 * nothing more), false when no transaction matched (req is new; an ACK that
 * matched nothing, e.g. for a 2xx, also gives false). */
bool txn_server_absorb(struct txn_layer *tl, const struct sip_msg *req);
/* New server transaction for req received from src (not ACK). INVITE gets
 * 100 Trying at once (§17.2.1). The request bytes are copied once. Replies go
 * where §18.2.2 / RFC 3581 say (source address; Via port without rport).
 * 0, -EINVAL (ACK) or -ENOMEM. */
int txn_server_new(struct txn_server **out, struct txn_layer *tl, const struct sip_msg *req,
		   const struct tp_src *src, void *user);
/* txn_server_absorb and, when nothing matched, txn_server_new, with the
 * matching key built once: 1 when req was absorbed, 0 with *out set when a
 * new transaction took it, or txn_server_new's -EINVAL (ACK too) / -ENOMEM. */
int txn_server_take(struct txn_server **out, struct txn_layer *tl, const struct sip_msg *req,
		    const struct tp_src *src, void *user);
/* Send a complete response (bytes as built) through st; keeps it for
 * retransmissions and moves the state machine (final non-2xx on INVITE:
 * COMPLETED with timers G/H; 2xx: ACCEPTED with timer L; non-INVITE final:
 * COMPLETED with timer J). A response after the final one is refused
 * (-EALREADY); 0 or -errno from the transport. */
int txn_server_send(struct txn_server *st, int code, const char *buf, size_t len);
/* Build (sip_reply_build, received/rport added, to_tag unless 100) and send a
 * local response. 0, -ENOSPC, -EALREADY, -errno. */
int txn_server_reply(struct txn_server *st, int code, const char *reason, const char *to_tag,
		     const char *extra_hdrs);
/* A final response to req sent without a transaction (RFC 3261 §8.2.7,
 * stateless UAS: nothing kept, nothing retransmitted; a retransmitted request
 * is answered anew), back the way §18.2.2 says. 0 or -errno. */
int txn_reply_stateless(struct txn_layer *tl, const struct tp_src *src, const struct sip_msg *req, int code,
			const char *reason, const char *to_tag, const char *extra_hdrs);
/* txn_server_reply from req, already parsed, instead of a re-parse of the
 * stored copy: the same response, one parse less. req must be st's request
 * (txn_server_is_request); any other message is ignored and the stored copy
 * re-parsed as by txn_server_reply. */
int txn_server_reply_to(struct txn_server *st, const struct sip_msg *req, int code, const char *reason,
			const char *to_tag, const char *extra_hdrs);
/* True while st keeps its request copy and req's bytes are that copy. */
bool txn_server_is_request(const struct txn_server *st, const struct sip_msg *req);
/* Re-parse the stored request into *msg (scratch owned by the caller; valid
 * while st lives). 0 or -EBADMSG. */
int txn_server_request(struct txn_server *st, struct sip_msg *msg);
enum txn_state txn_server_state(const struct txn_server *st);
enum sip_method txn_server_method(const struct txn_server *st);
void txn_server_set_user(struct txn_server *st, void *user);
const struct tp_src *txn_server_src(const struct txn_server *st);
void *txn_server_user(const struct txn_server *st);
/* Drop the user link (st then ends by its timers with no callbacks). */
void txn_server_detach(struct txn_server *st);
/* RFC 3261 §17.2.1 / §16.2: 100 Trying for an INVITE about to wait on
 * others (a branch, a DNS lookup), once, and only while nothing else was
 * answered. A final answer given at once needs none, and without it the
 * client keeps resending its INVITE until that answer arrives, which is
 * what lets a refusal go without a transaction (txn_server_discard). 0, or
 * the send's error. */
int txn_server_trying(struct txn_server *st, const struct sip_msg *req);
/* true once st sent any response (a 100 Trying included). */
bool txn_server_answered(const struct txn_server *st);
/* Forget st at once: its final answer was sent without it (txn_reply_stateless),
 * so nothing is kept for its request; on_gone is called and st freed. A
 * retransmission of the request is then handled as new. */
void txn_server_discard(struct txn_server *st);

/* ---- client transactions (RFC 3261 §17.1) ---- */

/* What every branch made by txn_branch_make begins with. */
#define TXN_BRANCH_PREFIX "z9hG4bKsw"
/* Fill out with a fresh branch "z9hG4bKsw<worker>x<unique>" (RFC 3261 §8.1.1.7
 * magic cookie; the worker index lets a response that lands on another
 * worker's socket be handed to the owner). cap >= 40. */
void txn_branch_make(struct txn_layer *tl, char *out, size_t cap);
/* Worker index encoded in a branch made by txn_branch_make, or -1. */
int txn_branch_owner(struct slice branch);
/* Start a client transaction: req (a complete request whose top Via carries
 * branch) is copied once and sent to dst over UDP, with timers A/B (INVITE)
 * or E/F. 0, -ENOMEM, or -errno from the transport (nothing kept). */
int txn_client_new(struct txn_client **out, struct txn_layer *tl, enum sip_method method, const char *branch,
		   const struct sockaddr_storage *dst, const char *req, size_t len, void *user);
/* txn_client_new toward dst over any transport (tp_send_dest; the top Via
 * must name that transport). Over TCP/TLS nothing is retransmitted (RFC 3261
 * §17.1.1.2, §17.1.2.2: no timers A/E; D and K are zero) while timers B/F
 * still end an unanswered transaction. The CANCEL and ACK it sends go the
 * same way. */
int txn_client_start(struct txn_client **out, struct txn_layer *tl, enum sip_method method, const char *branch,
		     const struct tp_dest *dst, const char *req, size_t len, void *user);
/* RFC 3261 §8.1.3.1: the transport gave up on (proto, peer) (a connection
 * that failed before carrying the request). Every client transaction toward
 * it with no response yet ends as if its timer B/F fired, on the next run. */
void txn_client_transport_error(struct txn_layer *tl, enum tp_proto proto, const struct sockaddr_storage *peer);
/* Feed a response whose top Via is ours. true when it matched a client
 * transaction (callbacks ran), false otherwise (a stray: the caller may
 * forward it statelessly, §16.7 / §18.1.2). */
bool txn_client_response(struct txn_layer *tl, const struct sip_msg *rsp);
/* RFC 3261 §9.1: CANCEL an INVITE client transaction: sent at once when a
 * provisional response was heard, else as soon as one is; nothing when the
 * transaction already has a final response. 0 or -errno. */
int txn_client_cancel(struct txn_client *ct);
enum txn_state txn_client_state(const struct txn_client *ct);
void *txn_client_user(const struct txn_client *ct);
/* Drop the user link; ct ends by its timers with no callbacks. */
void txn_client_detach(struct txn_client *ct);

/* Where to send a response upstream per RFC 3261 §18.2.2 / RFC 3581: the
 * source, with the Via port instead when UDP and no rport. */
void txn_reply_dest(const struct tp_src *src, const struct sip_via *via, struct tp_src *out);

/* ---- retransmission cache for stateless answers (REGISTER) ---- */
struct txn_reply_cache;
/* A per-worker cache of recent final responses: an 8 MiB ring that doubles,
 * up to 64 MiB, instead of overwriting an answer younger than 2 s. 0 or
 * -ENOMEM. */
int txn_reply_cache_new(struct txn_reply_cache **out);
/* The ring's current size in bytes. */
size_t txn_reply_cache_bytes(const struct txn_reply_cache *c);
void txn_reply_cache_free(struct txn_reply_cache *c);
/* Key of a request in c: its bytes as received (SipHash under c's random key)
 * plus its source (never 0). */
uint64_t txn_reply_cache_key(const struct txn_reply_cache *c, const char *req, size_t len, const struct tp_src *src);
/* The response sent to the same request within Timer J, or NULL. The bytes
 * stay valid until the next put. */
const char *txn_reply_cache_find(struct txn_reply_cache *c, uint64_t key, uint64_t now_ms, size_t *len);
/* Remember the bytes kept for key (over TXN_REPLY_CACHE_ENTRY_MAX: not kept).
 * TXN_REPLY_CACHE_MAX is the longest answer worth keeping; an entry may add
 * a little of its own to it (registrar/answers.c). */
#define TXN_REPLY_CACHE_MAX 1000u
#define TXN_REPLY_CACHE_ENTRY_MAX (TXN_REPLY_CACHE_MAX + 260u)
void txn_reply_cache_put(struct txn_reply_cache *c, uint64_t key, uint64_t now_ms, const char *reply,
			 size_t len);

#endif
