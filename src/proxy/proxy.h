/* The proxy layer's door: an authenticating, record-routing, forking proxy
 * (RFC 3261 §16) on top of the transaction layer: 407 challenges for local
 * callers (seed 001 route[AUTH]), identity and no-open-relay policy, trusted
 * peers, caller ID and anonymity (RFC 3323, RFC 3325), routing to registered
 * contacts. One struct proxy_worker per worker thread; no locks of its own. */
#ifndef SW_PROXY_H
#define SW_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth/auth.h"
#include "base/limits.h"
#include "registrar/registrar.h"
#include "sip/sip.h"
#include "store/store.h"
#include "transport/tp.h"

/* Trusted peers ([proxy] trusted, repeatable): requests from these networks
 * are not challenged and may reach local users (seed 004's IP peers). */
#define PROXY_MAX_TRUSTED 32
#define PROXY_MAX_PEER_NAME 32

struct proxy_trusted {
	struct sockaddr_storage net; /**< network address (host bits cleared) */
	unsigned prefix;             /**< CIDR prefix length */
	char name[PROXY_MAX_PEER_NAME + 1]; /**< for logs; "" = the address text */
};

struct proxy_cfg {
	struct proxy_trusted trusted[PROXY_MAX_TRUSTED];
	unsigned ntrusted;
	struct tp_listen outbound;   /**< next hop for foreign domains (udp, tcp or tls) */
	char outbound_name[SW_MAX_DOMAIN + 1]; /**< tls next hop: SNI and certificate name */
	bool has_outbound;
	bool challenge_in_dialog;    /**< challenge requests with a To tag too (default no) */
	bool reveal_not_registered;  /**< tell anyone 404 vs 480 (default: only local/trusted) */
	bool allow_guest;            /**< callers from other domains may reach local users
				      *   (default yes; no: only local callers and trusted peers) */
	unsigned max_transactions;   /**< pending transactions per worker (SW_DEFAULT_MAX_TRANSACTIONS) */
	struct sockaddr_storage dns_server; /**< for RFC 3263 lookups; else /etc/resolv.conf */
	bool has_dns_server;
};

/* Parse "10.0.0.0/8 name=gw1", "127.0.0.2", "[::1]/128 name=x" (a bare
 * address is a /32 or /128). 0 or -EINVAL. */
int proxy_trusted_parse(struct proxy_trusted *out, const char *spec);
/* The trusted entry addr falls in, or NULL. */
const struct proxy_trusted *proxy_trusted_find(const struct proxy_cfg *cfg, const struct sockaddr_storage *addr);

/* Shared by all workers; read-only once workers run except the worker table. */
struct proxy_worker;
struct proxy {
	const struct proxy_cfg *cfg;
	struct registrar *reg;
	const struct auth_ctx *auth;
	/** Every listen address (any transport): what "this server" means in
	 * Route and Via. NULL: the first listen address of each transport and
	 * family on the worker. */
	const struct tp_listen *listens;
	unsigned nlistens;
	struct proxy_worker *_Atomic workers[SW_MAX_WORKERS]; /**< for response hand-off */
};

/* Set up worker w's proxy state (its transaction layer, scratch space) and
 * install the timer hook on w. store is the worker's own handle and creds its
 * credential cache (NULL: none), both borrowed. 0 or -ENOMEM. */
int proxy_worker_new(struct proxy_worker **out, struct proxy *p, struct tp_worker *w, struct store *store,
		     struct auth_credcache *creds);
/* Tear down (transactions dropped); NULL-safe. */
void proxy_worker_free(struct proxy_worker *pw);

/* A request that is not REGISTER and not for the server itself (the daemon has
 * already answered 400/505/416/420). ACK included. Always either answers,
 * forwards, or absorbs (retransmissions, ACKs). */
void proxy_on_request(struct proxy_worker *pw, const struct tp_src *src, struct sip_msg *msg);
/* RFC 3261 §17.2.3: when msg (a request, not ACK) retransmits one of pw's
 * server transactions, resend that transaction's last answer and return
 * true; false when msg is new. Costs a lookup, no auth or store work. */
bool proxy_absorb(struct proxy_worker *pw, const struct sip_msg *msg);
/* A response: matched to its client transaction (handed to the owning worker
 * when it arrived elsewhere) and relayed upstream per RFC 3261 §16.7. */
void proxy_on_response(struct proxy_worker *pw, const struct tp_src *src, struct sip_msg *msg);
/* Before any parse: when the top Via's branch (sip_peek_response_branch) names
 * another worker, hand the raw response to it and return true; false leaves
 * the message to the normal path (parse, then proxy_on_response). */
bool proxy_hand_raw_response(struct proxy_worker *pw, const struct tp_src *src, const char *buf, size_t len);
/* Responses handed from the worker that received them to the one holding
 * their transaction, all workers since start. */
uint64_t proxy_responses_handed_over(void);
/* An outbound connection from pw's worker to (proto, peer) failed before it
 * carried anything: branches waiting on it end now (RFC 3261 §8.1.3.1)
 * instead of at timer B/F. */
void proxy_on_conn_fail(struct proxy_worker *pw, enum tp_proto proto, const struct sockaddr_storage *peer);

#endif
