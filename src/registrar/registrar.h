/* The registrar layer's door: the location service (AOR -> contacts, RFC 3261
 * §10.3) in sharded in-memory tables, REGISTER handling with digest
 * authentication and identity checks, and write-back persistence to the store
 * so registrations survive a restart. */
#ifndef SW_REGISTRAR_H
#define SW_REGISTRAR_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/limits.h"
#include "sip/sip.h"
#include "store/store.h"

struct registrar_cfg {
	unsigned min_expires;      /**< below this (and > 0): 423 Interval Too Brief */
	unsigned max_expires;      /**< longer requests are shortened to this */
	unsigned default_expires;  /**< when neither the param nor the header says */
	unsigned max_contacts;     /**< bindings per AOR */
	unsigned flush_interval_ms;/**< write-back period to the store */
	/* [registrar] persist: write bindings to the store and restore them at
	 * start (true, the default); false keeps them in memory only (lost on
	 * restart, the location table is neither read nor written). */
	bool persist;
	char domains[SW_MAX_DOMAINS][SW_MAX_DOMAIN + 1];
	unsigned ndomains;         /**< 0: any domain present in the store is served */
	/* Domains whose digest exchanges must run over TLS ([auth] tls_only_domains):
	 * over UDP/TCP their requests get 403 TLS Required, never a challenge. */
	char tls_only[SW_MAX_DOMAINS][SW_MAX_DOMAIN + 1];
	unsigned ntls_only;
	/* [tls] require_cert_identity_match: a REGISTER over TLS with a client
	 * certificate must name, in To, the identity of that certificate. */
	bool require_cert_identity;
	const char *db_url;        /**< store URL for the persistence thread */
	struct auth_pinq *pins;    /**< first-use records the persistence thread writes; may be NULL */
};

struct registrar;

/* Create the registrar, load unexpired registrations from the store and start
 * the write-back thread. cfg is copied. 0 or -errno (store errors as -EIO). */
int registrar_new(struct registrar **out, const struct registrar_cfg *cfg);
/* Flush every pending change to the store, stop the thread, free; NULL-safe. */
void registrar_free(struct registrar *r);

/* True when domain (case-insensitive) is served. */
bool registrar_domain_is_local(const struct registrar *r, struct slice domain);

/* Everything a worker thread brings to one REGISTER. */
struct registrar_req {
	const struct sip_msg *msg;
	const struct auth_ctx *auth;
	struct store *store;       /**< the calling thread's own store handle */
	struct auth_credcache *creds; /**< the calling thread's credential cache, or NULL */
	const char *received;      /**< "udp:IP:PORT" the request came from */
	const char *src_ip;        /**< for security events */
	bool secure;               /**< arrived over TLS */
	const char *peer_identity; /**< verified TLS client certificate identity, or NULL */
	uint64_t now_s;
};

/* The reply decided for a request: status, reason, and header lines to add.
 * code 0 means send nothing (the auth limiter's slowed or dropped sources). */
struct registrar_reply {
	int code;
	const char *reason;
	struct sip_buf hdrs;       /**< caller provides the memory */
	/* A 200 from the binding rules: the AOR, and where its Contact lines
	 * are in hdrs (contacts_len 0: none listed), so that a cached answer
	 * can leave them out and list the bindings again when resent. */
	char aor[SW_MAX_USER + SW_MAX_DOMAIN + 2];
	size_t aor_len;
	size_t contacts_at, contacts_len;
};

/* Handle one REGISTER completely (RFC 3261 §10.3): domain, digest challenge
 * and verification, account status, auth user == To user, then the binding
 * rules. Always fills rep (never leaves a request unanswered). */
void registrar_handle(struct registrar *r, const struct registrar_req *req, struct registrar_reply *rep);

/* TLS policy (tls_policy.c). True when requests for domain must come over TLS. */
bool registrar_tls_required(const struct registrar_cfg *cfg, struct slice domain);
/* True when a certificate identity names the AOR user@host: a URI
 * "sip:user@host" / "sips:user@host", a bare "user@host", or a host name
 * equal to host (a certificate for the whole domain). Case-insensitive host. */
bool registrar_cert_identity_matches(const char *identity, struct slice user, struct slice host);

/* The Contact lines of a 200 to REGISTER (RFC 3261 §10.3 step 8) for the
 * AOR's current unexpired bindings, appended to out, as registrar_handle
 * lists them. */
void registrar_contact_lines(struct registrar *r, struct slice aor, uint64_t now_s, struct sip_buf *out);

/* Answers kept for retransmitted REGISTERs (answers.c). keep remembers the
 * answer ans sent for the request of cache key key (0: nothing kept); rep,
 * when it is the registrar's own 200, lets the Contact lines be left out and
 * listed afresh when resent. again writes the answer for key into out (at
 * most cap bytes) and returns its length, 0 when none is kept (or it does
 * not fit). */
struct txn_reply_cache;
void registrar_answer_keep(struct txn_reply_cache *c, uint64_t key, uint64_t now_ms, const char *ans, size_t len,
			   const struct registrar_reply *rep);
size_t registrar_answer_again(struct registrar *r, struct txn_reply_cache *c, uint64_t key, uint64_t now_ms,
			      uint64_t now_s, char *out, size_t cap);

/* "udp:192.0.2.1:5060" -> protocol (1 udp, 2 tcp, 3 tls), four address
 * bytes, port (big endian): the 7-byte form the location service keeps a
 * received source in. false unless the text is exactly what it prints (no
 * leading zeros, port 1-65535); IPv6 and anything else stay text. */
bool registrar_received_pack(struct slice t, uint8_t out[7]);

/* Current bindings of an AOR ("user@domain"), for the proxy: calls fn for each
 * unexpired contact with the source the REGISTER came from ("udp:IP:PORT", empty when
 * unknown), for reaching contacts behind NAT (RFC 3261 §10.3 step 7 keeps it). */
struct registrar_contact {
	const char *contact;
	size_t contact_len;
	const char *received;
	size_t received_len;
	int64_t expires;
	int q;                     /**< q * 1000, -1 when absent */
};
typedef void (*registrar_binding_fn)(const struct registrar_contact *c, void *arg);
int registrar_lookup_bindings(struct registrar *r, struct slice aor, uint64_t now_s, registrar_binding_fn fn,
			      void *arg);
/* Number of AORs and bindings currently held. */
void registrar_counts(struct registrar *r, uint64_t *aors, uint64_t *bindings);

#endif
