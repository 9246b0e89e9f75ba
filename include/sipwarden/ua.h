/* sipwarden UA library: a SIP user agent client (RFC 3261 §8.1, §10.2, §17.1)
 * that registers, refreshes and unregisters, sends any request (OPTIONS,
 * MESSAGE, INVITE/ACK/BYE without media) over UDP, TCP or TLS, and answers 401/407
 * digest challenges itself (RFC 3261 §22, RFC 7616, RFC 8760) or hands them to
 * the application. Every function returns 0 or a negative errno unless its
 * comment says otherwise; nothing here logs a password or an HA1. */
#ifndef SIPWARDEN_UA_H
#define SIPWARDEN_UA_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque handle: one local AOR talking to one server (registrar or proxy). */
struct sw_ua;

/* TLS (RFC 3261 §26.2, RFC 5630): OpenSSL, TLS 1.2 at least, the server's
 * certificate verified (see the tls_* fields of sw_ua_cfg); port 5061 by
 * default and Via SIP/2.0/TLS. */
enum sw_ua_transport { SW_UA_UDP = 0, SW_UA_TCP, SW_UA_TLS };

/* Outcome class of an operation, what scripts and applications branch on. */
enum sw_ua_class {
	SW_UA_OK = 0,        /**< 2xx final response */
	SW_UA_AUTH_FAILED,   /**< 401/403/407 after answering, no credentials, or handling off */
	SW_UA_TIMEOUT,       /**< no final response within the transaction timeout */
	SW_UA_TRANSPORT,     /**< socket error, connection refused or closed, TLS handshake
				  or server certificate verification failed */
	SW_UA_SIP_FAILURE,   /**< any other non-2xx final response */
};

/* Digest algorithms, weakest first (the order the built-in handling ranks them). */
enum sw_ua_algo {
	SW_UA_MD5 = 0,
	SW_UA_MD5_SESS,
	SW_UA_SHA256,
	SW_UA_SHA256_SESS,
	SW_UA_SHA512_256,
	SW_UA_SHA512_256_SESS,
};

#define SW_UA_MAX_CHALLENGES 8

/* One parsed digest challenge (WWW-Authenticate or Proxy-Authenticate). Values
 * are copies, unquoted and unescaped, so they outlive the response. */
struct sw_ua_challenge {
	bool proxy;             /**< Proxy-Authenticate (407) rather than WWW-Authenticate (401) */
	int status;             /**< status code of the response that carried it */
	char realm[128];
	char nonce[256];
	char opaque[256];       /**< empty when absent */
	char algorithm[32];     /**< as offered ("MD5" when absent) */
	enum sw_ua_algo algo;   /**< parsed algorithm */
	bool algo_known;        /**< false: an algorithm this library cannot compute */
	char qop[64];           /**< the qop-options list as offered, empty when absent */
	bool qop_auth;          /**< "auth" offered */
	bool qop_auth_int;      /**< "auth-int" offered */
	bool stale;
	char method[16];        /**< method of the challenged request */
	char uri[256];          /**< its Request-URI: the digest-uri to answer with */
};

/* What an operation ended with. */
struct sw_ua_result {
	enum sw_ua_class cls;
	int status;             /**< final status code; 0 when none arrived */
	char reason[128];       /**< reason phrase, or a short local explanation (e.g. why
				     a TLS handshake or certificate verification failed) */
	int expires;            /**< REGISTER: expiry granted to our contact, -1 if unknown */
	unsigned nchallenges;   /**< challenges of the last 401/407 (always set on one) */
	struct sw_ua_challenge challenges[SW_UA_MAX_CHALLENGES];
};

/* Trace hook: every message sent (outgoing true) or received, as on the wire. */
typedef void (*sw_ua_trace_fn)(bool outgoing, const char *msg, size_t len, void *arg);
/* Completion of a non-blocking operation; res is valid during the call only. */
typedef void (*sw_ua_done_fn)(struct sw_ua *ua, const struct sw_ua_result *res, void *arg);
/* Challenge event, delivered when built-in handling is off (and before the
 * operation completes with SW_UA_AUTH_FAILED). chs is valid during the call. */
typedef void (*sw_ua_challenge_fn)(struct sw_ua *ua, const struct sw_ua_challenge *chs, unsigned n,
				   void *arg);

struct sw_ua_cfg {
	const char *server;       /**< "HOST", "HOST:PORT", "[v6]:PORT", optionally with a
				       "sip:" or "sips:" prefix; port 5060 by default (5061 for TLS) */
	enum sw_ua_transport transport; /**< a sips: server or AOR selects SW_UA_TLS whatever
					     this says (RFC 3261 §26.2.2) */
	const char *aor;          /**< "alice@example.com", "sip:alice@..." or "sips:alice@..."
				       (sips: also in From, To, Contact and the REGISTER URI) */
	const char *display_name; /**< optional */
	const char *user_agent;   /**< optional User-Agent value */
	unsigned t1_ms;           /**< RFC 3261 T1, 0 = 500 */
	unsigned t2_ms;           /**< RFC 3261 T2, 0 = 4000 */
	unsigned timeout_ms;      /**< Timer B/F and connect timeout, 0 = 64*T1 */
	sw_ua_trace_fn trace;     /**< optional */
	void *trace_arg;

	/* TLS only (ignored for UDP and TCP). The server certificate must chain to
	 * a trusted CA and name the host (DNS or IP subjectAltName, RFC 6125)
	 * unless tls_insecure is set. */
	const char *tls_ca_file;     /**< PEM CA certificates to trust; NULL = the system store */
	const char *tls_cert_file;   /**< client certificate chain (PEM) to present; NULL = none */
	const char *tls_key_file;    /**< its private key (PEM); NULL = in tls_cert_file */
	const char *tls_server_name; /**< name sent as SNI and verified; NULL = the server host
					  (an IP address is verified but never sent as SNI) */
	bool tls_insecure;           /**< do not verify the server certificate (labs only:
					  anyone on the path can then read and change the traffic) */
};

/* Create a UA for cfg (copied). No network I/O happens until the first
 * operation; for TLS the CA, certificate and key files are loaded here.
 * 0, -EINVAL (bad server or AOR, unusable TLS file or a key that does not
 * match the certificate), -ENOENT (a TLS file cannot be read), -ENOMEM. */
int sw_ua_new(struct sw_ua **out, const struct sw_ua_cfg *cfg);
/* Close the socket, wipe credentials and free; NULL-safe. Does not unregister. */
void sw_ua_free(struct sw_ua *ua);

/* Add cleartext credentials for realm (NULL or "" = any realm without its own
 * entry). A later entry for the same realm replaces the earlier one. The
 * password is copied and wiped on free. 0, -EINVAL, -ENOMEM. */
int sw_ua_add_credentials(struct sw_ua *ua, const char *realm, const char *user, const char *password);
/* Add credentials given as hex HA1 = H(user:realm:password) for algo's hash
 * (only challenges offering an algorithm with that hash can be answered).
 * 0, -EINVAL (bad hex length), -ENOMEM. */
int sw_ua_add_ha1(struct sw_ua *ua, const char *realm, const char *user, enum sw_ua_algo algo,
		  const char *ha1hex);

/* Built-in security handling on (default) or off. Off: 401/407 are delivered
 * to the challenge handler and end the operation with SW_UA_AUTH_FAILED; the
 * application answers with sw_ua_build_authorization() and the extra_headers
 * argument of the next operation. */
void sw_ua_set_security_handling(struct sw_ua *ua, bool enabled);
/* true when the built-in handling answers challenges. */
bool sw_ua_security_handling(const struct sw_ua *ua);
/* Install the challenge event handler (NULL removes it). */
void sw_ua_set_challenge_handler(struct sw_ua *ua, sw_ua_challenge_fn fn, void *arg);
/* Install a handler for the results of automatic registration refreshes. */
void sw_ua_set_refresh_handler(struct sw_ua *ua, sw_ua_done_fn fn, void *arg);

/* Parameters for sw_ua_build_authorization(). */
struct sw_ua_auth_input {
	const char *user;         /**< digest username */
	const char *password;     /**< cleartext, or NULL when ha1 is given */
	const char *ha1;          /**< hex HA1 for the challenge's hash, or NULL */
	const char *method;       /**< NULL: the challenge's method */
	const char *uri;          /**< NULL: the challenge's uri */
	const char *body;         /**< entity body for auth-int (may be NULL) */
	size_t body_len;
	const char *cnonce;       /**< NULL: a fresh random one */
	unsigned nc;              /**< nonce count, 0 means 1 */
	const char *qop;          /**< "auth", "auth-int", "" (none) or NULL: best offered */
};

/* Write the value of an Authorization (ch->proxy false) or Proxy-Authorization
 * header answering ch ("Digest username=..., response=..."), NUL-terminated,
 * into out. Returns the length, -EINVAL (unknown algorithm, missing secret, bad
 * HA1) or -ENOSPC. sw_ua_auth_header_name(ch) gives the header name to use. */
int sw_ua_build_authorization(char *out, size_t cap, const struct sw_ua_challenge *ch,
			      const struct sw_ua_auth_input *in);
/* "Authorization" or "Proxy-Authorization" for a challenge. */
const char *sw_ua_auth_header_name(const struct sw_ua_challenge *ch);

/* Parse one WWW-Authenticate/Proxy-Authenticate value ("Digest realm=...")
 * into *ch (method, uri and status left empty). 0, -EINVAL, -ENOSPC (a value
 * longer than its field). */
int sw_ua_challenge_parse(struct sw_ua_challenge *ch, const char *value, bool proxy);
/* Among n challenges for the same realm, the index of the one to answer: the
 * strongest computable algorithm (SHA-512-256 > SHA-256 > MD5, -sess ranked
 * with its base). Returns -ENOENT when none is computable. */
int sw_ua_challenge_pick(const struct sw_ua_challenge *chs, unsigned n);

/* The current TLS connection as text ("TLSv1.3 TLS_AES_256_GCM_SHA384, server
 * certificate verified"), NUL-terminated in out. The length, -ENOTCONN when no
 * TLS connection is open, -ENOSPC. */
int sw_ua_tls_info(const struct sw_ua *ua, char *out, size_t cap);

/* Name of a class ("ok", "auth failed", ...) and of an algorithm ("SHA-256"). */
const char *sw_ua_class_name(enum sw_ua_class cls);
const char *sw_ua_algo_name(enum sw_ua_algo algo);

/* ---- Non-blocking use: poll sw_ua_fd() for input, wake after
 * sw_ua_timeout_ms(), and call sw_ua_process(). One operation runs at a time.
 * Opening the connection (TCP connect, TLS handshake) is the one wait: it
 * happens in the call that sends, bounded by timeout_ms. */

/* Socket to poll for POLLIN, or -1 while none is open. */
int sw_ua_fd(const struct sw_ua *ua);
/* Milliseconds until the next timer (retransmission, timeout, refresh), or -1. */
int sw_ua_timeout_ms(const struct sw_ua *ua);
/* Read what arrived, fire due timers, complete operations (callbacks run from
 * here). Never blocks. 0 or -errno (a fatal socket error). */
int sw_ua_process(struct sw_ua *ua);
/* true while an operation is in progress. */
bool sw_ua_busy(const struct sw_ua *ua);

/* Start REGISTER with expires seconds (0 = unregister our contact). extra_headers
 * is zero or more complete "Name: value\r\n" lines added to this request only
 * (NULL allowed). While registered with expires > 0, sw_ua_process() refreshes
 * the registration before it expires. -EBUSY when an operation runs. */
int sw_ua_register_start(struct sw_ua *ua, unsigned expires, const char *extra_headers,
			 sw_ua_done_fn done, void *arg);

/* Start REGISTER with "Contact: *" and Expires: 0, removing every binding of
 * the AOR (RFC 3261 §10.2.2), e.g. those left by an earlier process. */
int sw_ua_unregister_all_start(struct sw_ua *ua, const char *extra_headers, sw_ua_done_fn done, void *arg);

/* A request to send with sw_ua_request_start()/sw_ua_request(). */
struct sw_ua_req {
	const char *method;        /**< "OPTIONS", "MESSAGE", "INVITE", "BYE", ... */
	const char *target;        /**< Request-URI and To ("sip:bob@example.com"); NULL = server */
	const char *extra_headers; /**< complete header lines, or NULL */
	const char *body;          /**< NULL for none */
	size_t body_len;
	const char *content_type;  /**< required with a body */
};

/* Start a request. INVITE opens a dialog: a 2xx is acknowledged (ACK) and the
 * dialog kept for sw_ua_bye_start(); a non-2xx is acknowledged by the
 * transaction. BYE without an open dialog is -ENOTCONN. -EBUSY, -EINVAL. */
int sw_ua_request_start(struct sw_ua *ua, const struct sw_ua_req *req, sw_ua_done_fn done, void *arg);
/* Start a BYE in the dialog opened by the last successful INVITE. -ENOTCONN. */
int sw_ua_bye_start(struct sw_ua *ua, const char *extra_headers, sw_ua_done_fn done, void *arg);

/* ---- Blocking convenience wrappers: run the loop until the operation ends.
 * They return 0 when the operation ran to an outcome (see res->cls), or -errno
 * when it could not start. */

/* REGISTER with expires and wait. */
int sw_ua_register(struct sw_ua *ua, unsigned expires, struct sw_ua_result *res);
/* Like sw_ua_register() with extra header lines for this request. */
int sw_ua_register_ex(struct sw_ua *ua, unsigned expires, const char *extra_headers,
		      struct sw_ua_result *res);
/* REGISTER with Expires: 0 for our contact, and wait. */
int sw_ua_unregister(struct sw_ua *ua, struct sw_ua_result *res);
/* REGISTER with Contact: * and Expires: 0 (all bindings of the AOR), and wait. */
int sw_ua_unregister_all(struct sw_ua *ua, struct sw_ua_result *res);
/* Send a request and wait for its final response. */
int sw_ua_request(struct sw_ua *ua, const char *method, const char *target, const char *extra_headers,
		  const char *body, const char *content_type, struct sw_ua_result *res);
/* BYE in the current dialog and wait. */
int sw_ua_bye(struct sw_ua *ua, struct sw_ua_result *res);
/* Run the loop for ms milliseconds (answering in-dialog requests and refreshing
 * the registration). 0 or -errno. */
int sw_ua_run(struct sw_ua *ua, unsigned ms);

#ifdef __cplusplus
}
#endif
#endif
