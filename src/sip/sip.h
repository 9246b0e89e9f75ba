/* The sip layer's door: SIP message parsing (RFC 3261 §7, §20, §25) into an index
 * of slices pointing into the receive buffer, sub-parsers for URIs, Via,
 * name-addr headers, digest credentials/challenges, and reply building.
 * Nothing here allocates; nothing here does I/O. */
#ifndef SW_SIP_H
#define SW_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "base/slice.h"

enum sip_method {
	SIP_METHOD_UNKNOWN = 0,
	SIP_INVITE,
	SIP_ACK,
	SIP_BYE,
	SIP_CANCEL,
	SIP_OPTIONS,
	SIP_REGISTER,
	SIP_MESSAGE,
	SIP_SUBSCRIBE,
	SIP_NOTIFY,
	SIP_REFER,
	SIP_INFO,
	SIP_UPDATE,
	SIP_PRACK,
	SIP_PUBLISH,
};

/* Header names sipwarden understands; compact forms (RFC 3261 §7.3.3) map here too. */
enum sip_hdr_id {
	SIP_HDR_OTHER = 0,
	SIP_HDR_VIA,               /* v */
	SIP_HDR_FROM,              /* f */
	SIP_HDR_TO,                /* t */
	SIP_HDR_CALL_ID,           /* i */
	SIP_HDR_CSEQ,
	SIP_HDR_CONTACT,           /* m */
	SIP_HDR_MAX_FORWARDS,
	SIP_HDR_EXPIRES,
	SIP_HDR_MIN_EXPIRES,
	SIP_HDR_CONTENT_LENGTH,    /* l */
	SIP_HDR_CONTENT_TYPE,      /* c */
	SIP_HDR_AUTHORIZATION,
	SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_WWW_AUTHENTICATE,
	SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_AUTHENTICATION_INFO,
	SIP_HDR_ROUTE,
	SIP_HDR_RECORD_ROUTE,
	SIP_HDR_REQUIRE,
	SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_SUPPORTED,         /* k */
	SIP_HDR_USER_AGENT,
	SIP_HDR_PRIVACY,
	SIP_HDR_P_ASSERTED_IDENTITY,
	SIP_HDR__COUNT
};

struct sip_hdr {
	enum sip_hdr_id id;
	int16_t next;       /**< index of the next header with this id, -1 if none (not for SIP_HDR_OTHER) */
	struct slice name;  /**< as received */
	struct slice value; /**< trimmed; folded lines already unfolded to spaces */
};

/* sip:/sips:/tel: and unknown-scheme URIs (RFC 3261 §19.1, RFC 5118 IPv6 refs). */
struct sip_uri {
	struct slice scheme;   /**< "sip", "sips", "tel", or anything else */
	struct slice user;     /**< may contain %-escapes, as received */
	struct slice password;
	struct slice host;     /**< IPv6 references keep their brackets */
	struct slice port_str;
	uint16_t port;         /**< 0 when absent */
	struct slice params;   /**< ";a=b;c" including leading ';' (may be empty) */
	struct slice headers;  /**< after '?', without it */
	bool is_sip;           /**< scheme is sip or sips */
	bool is_sips;
};

/* name-addr / addr-spec with header params (From, To, Contact, Route...). */
struct sip_addr {
	struct slice display; /**< without quotes; empty if none */
	struct slice uri_str; /**< the URI text (inside <> when present) */
	struct sip_uri uri;
	struct slice params;  /**< header params after the URI, leading ';' included */
	struct slice tag;     /**< value of ;tag= (From/To) or empty */
	bool star;            /**< Contact: * */
};

/* One via-parm (RFC 3261 §20.42). */
struct sip_via {
	struct slice protocol;  /**< "SIP/2.0" */
	struct slice transport; /**< "UDP", "TCP", "TLS", ... */
	struct slice host;      /**< sent-by host (IPv6 with brackets) */
	uint16_t port;          /**< 0 when absent */
	struct slice params;    /**< ";branch=...;rport" */
	struct slice branch;
	struct slice received;
	bool rport;             /**< rport param present (with or without value) */
	struct slice rport_val;
	struct slice text;      /**< the whole via-parm as received */
};

/* The parsed index of one message. The buffer is owned by the caller and must
 * outlive the struct; the parser may overwrite folding CRLFs inside it with
 * spaces (and nothing else). */
struct sip_msg {
	char *buf;
	size_t len;             /**< message bytes including body (trailing garbage cut) */

	bool is_request;
	enum sip_method method; /**< request method or SIP_METHOD_UNKNOWN */
	struct slice method_name;
	struct slice ruri_str;
	struct sip_uri ruri;
	int status;             /**< response status code */
	struct slice reason;

	struct sip_hdr hdrs[SW_MAX_HEADERS]; /**< only hdrs[0..nhdrs) are set */
	unsigned nhdrs;
	int16_t first[SIP_HDR__COUNT]; /**< index of first header with that id, -1 if none */

	struct slice body;

	/* Essentials, parsed and validated by sip_msg_parse(). */
	struct sip_via via1;    /**< topmost Via */
	struct sip_addr from, to;
	struct slice call_id;
	uint32_t cseq;
	enum sip_method cseq_method;
	struct slice cseq_method_name;
	int max_forwards;       /**< -1 when absent */
	int64_t expires;        /**< Expires header, -1 when absent */
	int64_t content_length; /**< -1 when absent */
};

/* Parse error detail: a short reason suitable as a 400 reason phrase, and whether
 * enough of the message was understood to send a reply at all. */
struct sip_parse_err {
	const char *reason;     /**< e.g. "Malformed Via header"; static storage */
	bool can_reply;         /**< Via, From, To, Call-ID, CSeq usable */
	int status;             /**< suggested status: 400, or 505 for a bad version */
};

/* Parse one complete message in buf[0..len). For datagrams, bytes past
 * Content-Length are discarded (RFC 3261 §18.3); a Content-Length larger than
 * what is there is an error. Returns 0, or -EBADMSG with *err filled.
 * Mandatory headers for requests: Via, From, To, Call-ID, CSeq, (Max-Forwards
 * optional); the CSeq method must match the request method. */
int sip_msg_parse(struct sip_msg *msg, char *buf, size_t len, struct sip_parse_err *err);

/* Header lookup helpers. sip_msg_hdr returns the first header with id, or NULL.
 * sip_msg_hdr_next returns the next one after *prev (NULL at end). */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *msg, enum sip_hdr_id id);
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *msg, const struct sip_hdr *prev);
/* Lookup by name for headers without an id (case-insensitive); NULL if none. */
const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *msg, const char *name);

enum sip_method sip_method_from(struct slice name);
const char *sip_method_name(enum sip_method m);
enum sip_hdr_id sip_hdr_id_from(struct slice name);

/* URIs. 0 or -EINVAL. */
int sip_uri_parse(struct sip_uri *uri, struct slice text);
/* Find ;name[=value] in a params slice (";a=b;c"); case-insensitive name.
 * 0 when found (*value empty for a flag param), -ENOENT otherwise. */
int sip_param_find(struct slice params, const char *name, struct slice *value);

/* A single name-addr or addr-spec (From, To). 0 or -EINVAL. */
int sip_addr_parse(struct sip_addr *addr, struct slice text);
/* Iterate a comma-separated Contact/Route list, honouring quotes and <>.
 * *cursor starts as the header value; returns 1 with *addr filled, 0 at the
 * end, -EINVAL on a malformed element. */
int sip_addr_list_next(struct slice *cursor, struct sip_addr *addr);

/* Parse the first via-parm of a Via value; *rest receives what follows the
 * comma (empty if none). 0 or -EINVAL. */
int sip_via_parse(struct sip_via *via, struct slice text, struct slice *rest);

/* The branch of a response's top Via, found without parsing the whole message
 * (peek.c): true with *branch pointing into buf, false when buf is not a
 * response or its top Via is unusual (folded, no CRLF, unparseable). A hint
 * for routing a response between workers; sip_msg_parse stays authoritative. */
bool sip_peek_response_branch(const char *buf, size_t len, struct slice *branch);

/* Digest credentials (Authorization / Proxy-Authorization, RFC 2617 §3.2.2,
 * RFC 7616 §3.4). Quoted values are returned without the quotes; a value with
 * backslash escapes is returned raw (escapes kept). */
struct sip_digest_cred {
	struct slice username, realm, nonce, uri, response, algorithm;
	struct slice cnonce, opaque, qop, nc, userhash;
	bool userhash_true;
};
/* 0, or -EINVAL when the value is not a well-formed Digest credential. */
int sip_digest_cred_parse(struct sip_digest_cred *cred, struct slice value);

/* Digest challenge (WWW-Authenticate / Proxy-Authenticate, RFC 7616 §3.3). */
struct sip_digest_chal {
	struct slice realm, nonce, opaque, algorithm, qop, domain, charset;
	bool stale;
	bool userhash;
};
int sip_digest_chal_parse(struct sip_digest_chal *chal, struct slice value);

/* Generic auth-param iterator for "Digest a=b, c=\"d\"" after the scheme.
 * Returns 1 with name/value (unquoted), 0 at end, -EINVAL on bad syntax. */
int sip_auth_param_next(struct slice *cursor, struct slice *name, struct slice *value);

/* Output buffer for building messages; overflow is sticky and checked once. */
struct sip_buf {
	char *p;
	size_t len, cap;
	bool overflow;
};
void sip_buf_init(struct sip_buf *b, char *mem, size_t cap);
void sip_buf_put(struct sip_buf *b, const void *data, size_t len);
void sip_buf_puts(struct sip_buf *b, const char *s);
/* A string literal, its length known when compiled (no strlen). */
#define SIP_BUF_LIT(b, lit) sip_buf_put((b), "" lit, sizeof(lit) - 1)
void sip_buf_slice(struct sip_buf *b, struct slice s);
/* Decimal appenders, cheaper than sip_buf_printf on hot reply paths. */
void sip_buf_u64(struct sip_buf *b, uint64_t v);
void sip_buf_i64(struct sip_buf *b, int64_t v);
void sip_buf_printf(struct sip_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where a request came from, used for Via received/rport (RFC 3261 §18.2.1, RFC 3581). */
struct sip_src {
	char ip[48];    /**< textual source address, IPv6 without brackets */
	uint16_t port;
};

/* The last lines of every reply sip_reply_build makes, after extra_hdrs. */
#define SIP_REPLY_TRAILER "Server: sipwarden\r\nContent-Length: 0\r\n\r\n"
/* Build a response to req: status line, all Vias (the top one gaining
 * received= and rport= when src is given), From, To (with to_tag appended when
 * the request's To has none and code > 100), Call-ID, CSeq, then extra_hdrs
 * (zero or more complete "Name: value\r\n" lines, may be NULL), a Server
 * header, and Content-Length: 0. Returns 0 or -ENOSPC (-EINVAL when req lacks
 * Via, From, To, Call-ID or CSeq, or code is outside 100..699). */
int sip_reply_build(struct sip_buf *out, const struct sip_msg *req, int code, const char *reason,
		    const char *to_tag, const struct sip_src *src, const char *extra_hdrs);

/* Standard reason phrase for a status code ("Unknown" if none). */
const char *sip_reason_phrase(int code);

#endif
