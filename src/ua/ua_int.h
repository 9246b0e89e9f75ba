/* Private to src/ua: the UA's state (connection, one client transaction, the
 * registration and dialog, credentials and the digest nonce cache) and the
 * functions the files of this folder share. Only sipwarden/ua.h is public. */
#ifndef SW_UA_INT_H
#define SW_UA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/limits.h"
#include "sip/sip.h"
#include "sipwarden/ua.h"

/* Credentials kept per realm; an HA1 bounds which algorithms can be answered. */
#define UA_MAX_CREDS 16
/* Nonces remembered for pre-emptive authorization (one per realm and header). */
#define UA_MAX_NONCES 8
/* Challenge rounds in one operation: each realm once plus its stale retries. */
#define UA_MAX_ROUNDS 8
/* Record-Route entries kept for a dialog's route set: one per proxy on the
 * path; calls through more proxies than this are rare enough to refuse. */
#define UA_MAX_ROUTES 8
/* Largest request we build: headers plus a MESSAGE/SDP body. */
#define UA_MAX_OUT 16384

struct ua_cred {
	bool used;
	bool any_realm;
	char realm[128];
	char user[SW_MAX_USER + 1];
	char password[SW_MAX_PASSWORD + 1]; /**< empty when has_ha1 */
	bool has_ha1;
	enum sw_ua_algo ha1_algo;
	char ha1[SW_MAX_HASH_HEX + 1];
};

/* A server nonce we answered, reused with an incrementing nc until the server
 * calls it stale or gives a nextnonce (RFC 7616 §3.4.5, §3.5). */
struct ua_nonce {
	bool used;
	bool proxy;
	char realm[128];
	char nonce[256];
	char opaque[256];
	enum sw_ua_algo algo;
	char qop[16];      /**< "auth", "auth-int" or "" */
	char cnonce[33];
	unsigned nc;       /**< last nc sent */
};

/* Per-realm answer count in one operation (no loops: one answer per realm,
 * plus one retry when the server says stale=true). */
struct ua_try {
	bool proxy;
	char realm[128];
	unsigned answered;
	unsigned stale;
};

struct ua_dialog;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX and SSL, kept out of this header */
struct ssl_st;

enum ua_op_kind { UA_OP_NONE = 0, UA_OP_REGISTER, UA_OP_REQUEST };

struct ua_op {
	enum ua_op_kind kind;
	bool refresh;             /**< started by the refresh timer */
	enum sip_method method;
	char method_name[16];
	char *target;             /**< Request-URI (owned) */
	char *extra;              /**< extra header lines (owned, may be NULL) */
	char *body;               /**< owned, may be NULL */
	size_t body_len;
	char *ctype;
	unsigned expires;         /**< REGISTER */
	bool wildcard;            /**< REGISTER with Contact: * (remove every binding) */
	bool in_dialog;           /**< BYE */
	bool sent_auth;           /**< the last request carried credentials */
	struct ua_dialog *dlg;    /**< Call-ID, tags and CSeq this request uses */
	sw_ua_done_fn done;
	void *arg;
	struct ua_try tries[UA_MAX_NONCES];
	unsigned ntries;
	unsigned rounds;
	bool finished;            /**< result ready, delivered by the next process */
	struct sw_ua_result res;
};

/* One client transaction (RFC 3261 §17.1): the request as sent, its timers. */
struct ua_txn {
	bool active;
	bool invite;
	bool proceeding;          /**< a 1xx arrived */
	char branch[48];
	uint32_t cseq;
	char out[UA_MAX_OUT];
	size_t len;
	uint64_t next_retx_ms;    /**< 0: no retransmission (TCP, or stopped) */
	unsigned interval_ms;
	uint64_t deadline_ms;
};

struct ua_dialog {
	bool confirmed;
	char call_id[64];
	char local_tag[24];
	char remote_tag[128];
	char remote_uri[256];     /**< To URI of the INVITE */
	char remote_target[256];  /**< Contact of the 2xx: BYE's Request-URI */
	char route[1024];         /**< route set (Route header value), "" when none */
	uint32_t cseq;
};

struct ua_reg {
	struct ua_dialog d;       /**< Call-ID, From tag and CSeq kept across refreshes */
	bool registered;
	unsigned expires;         /**< last asked */
	uint64_t refresh_ms;      /**< monotonic time of the next refresh, 0 none */
};

struct sw_ua {
	/* configuration */
	char server_host[256];
	uint16_t server_port;
	enum sw_ua_transport transport;
	bool sips;                /**< sips: AOR or server: sips: URIs in our requests */
	char tls_name[256];       /**< SNI and verified name */
	bool tls_verify;
	struct ssl_ctx_st *tls_ctx; /**< TLS only: client context (CA store, our certificate) */
	char user[SW_MAX_USER + 1];
	char domain[SW_MAX_DOMAIN + 64];
	char display[64];
	char user_agent[64];
	unsigned t1_ms, t2_ms, timeout_ms;
	sw_ua_trace_fn trace;
	void *trace_arg;
	bool security;
	sw_ua_challenge_fn on_chal;
	void *chal_arg;
	sw_ua_done_fn on_refresh;
	void *refresh_arg;

	/* connection */
	int fd;
	struct ssl_st *ssl;       /**< TLS session on fd, NULL otherwise */
	bool tls_heard;           /**< the server sent application data on this session */
	char conn_err[128];       /**< why the connection failed, "" = see the errno */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	char local_ip[48];
	uint16_t local_port;
	char rbuf[SW_MAX_MSG_SIZE + 1];
	size_t rlen;
	size_t rconsumed;         /**< TCP: bytes of the last message handed out */

	/* state */
	struct ua_cred creds[UA_MAX_CREDS];
	struct ua_nonce nonces[UA_MAX_NONCES];
	struct ua_op op;
	struct ua_txn txn;
	struct ua_reg reg;
	struct ua_dialog dlg;     /**< INVITE dialog */
	struct ua_dialog ood;     /**< out-of-dialog requests (OPTIONS, MESSAGE) */
	struct sip_msg msg;       /**< index of the message being handled */
	char tmp[UA_MAX_OUT];     /**< scratch for ACKs and replies */
};

/* conn.c: connect lazily, send, receive whole messages. Stream transports
 * (TCP, TLS) share the framing. */
static inline bool ua_stream(const struct sw_ua *ua)
{
	return ua->transport != SW_UA_UDP;
}
int ua_conn_open(struct sw_ua *ua);
void ua_conn_close(struct sw_ua *ua);
int ua_conn_send(struct sw_ua *ua, const char *buf, size_t len);
/* Next complete message into buf and len (valid until the next call): 1 got one,
 * 0 nothing more now, -errno on a socket failure or a closed connection. */
int ua_conn_recv(struct sw_ua *ua, char **buf, size_t *len);
/* "transport error: ..." or the recorded TLS failure for err, into out. */
void ua_conn_why(const struct sw_ua *ua, int err, char *out, size_t cap);

/* tls.c: the client side of TLS on the connected socket. */
int ua_tls_ctx_new(struct sw_ua *ua, const struct sw_ua_cfg *cfg);
void ua_tls_ctx_free(struct sw_ua *ua);
/* Handshake on ua->fd until done or deadline_ms (monotonic); sets conn_err. */
int ua_tls_connect(struct sw_ua *ua, uint64_t deadline_ms);
void ua_tls_close(struct sw_ua *ua);
/* Write all of buf (waiting up to timeout_ms for the socket). 0 or -errno. */
int ua_tls_send(struct sw_ua *ua, const char *buf, size_t len);
/* Read into buf: bytes read, 0 nothing now, -ECONNRESET closed, -EPROTO (conn_err set). */
long ua_tls_recv(struct sw_ua *ua, char *buf, size_t cap);
/* true when decrypted bytes wait inside OpenSSL (poll would not see them). */
bool ua_tls_pending(const struct sw_ua *ua);

/* cred.c: credentials and the nonce cache. */
const struct ua_cred *ua_cred_find(const struct sw_ua *ua, const char *realm);
bool ua_cred_can(const struct ua_cred *c, enum sw_ua_algo algo);
/* Append an Authorization/Proxy-Authorization line for every cached nonce. */
void ua_cred_put_auth(struct sw_ua *ua, struct sip_buf *b, const char *method, const char *uri,
		      const char *body, size_t body_len);
/* Remember the answer to ch (resets nc). 0 or -ENOSPC. */
int ua_nonce_store(struct sw_ua *ua, const struct sw_ua_challenge *ch);
/* Apply Authentication-Info nextnonce from a response. */
void ua_nonce_next(struct sw_ua *ua, const struct sip_msg *msg);

/* authz.c */
void ua_rand_hex(char *out, size_t nbytes);

/* request.c: build the operation's request into ua->txn.out. 0 or -ENOSPC. */
int ua_msg_build(struct sw_ua *ua);
/* ACK for an INVITE answered with resp (2xx: new transaction; else same branch). */
int ua_msg_ack(struct sw_ua *ua, const struct sip_msg *resp, char *out, size_t cap, size_t *len);
void ua_trace(struct sw_ua *ua, bool outgoing, const char *buf, size_t len);

/* txn.c */
int ua_txn_start(struct sw_ua *ua);
/* Fire due timers; returns true when the transaction timed out. */
bool ua_txn_timers(struct sw_ua *ua, uint64_t now);
int ua_txn_next_ms(const struct sw_ua *ua, uint64_t now);

/* ops.c */
void ua_op_response(struct sw_ua *ua, struct sip_msg *resp);
void ua_op_fail(struct sw_ua *ua, enum sw_ua_class cls, const char *why);
void ua_op_deliver(struct sw_ua *ua);
void ua_incoming_request(struct sw_ua *ua, struct sip_msg *req);

/* Copy a C string into a fixed field; -ENOSPC when it does not fit. */
int ua_copy(char *dst, size_t cap, const char *src);

#endif
