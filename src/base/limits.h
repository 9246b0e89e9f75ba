/* Every hard bound of sipwarden in one place, each with the reason for its value.
 * Parsers and tables enforce these; tests exercise each at its boundary. */
#ifndef SW_LIMITS_H
#define SW_LIMITS_H

/* Largest SIP message accepted on any transport. RFC 3261 §18.1.1 keeps UDP
 * requests under the path MTU unless congestion-controlled; 64 KiB is the UDP
 * datagram ceiling and far above any real REGISTER/INVITE. */
#define SW_MAX_MSG_SIZE 65535

/* Header fields per message. RFC 3261 sets none; real traffic stays under 60.
 * Bounds the fixed per-message index so parsing never allocates per header. */
#define SW_MAX_HEADERS 128

/* Bytes in one header field (name + value, folded lines included). Longest
 * legitimate ones are Authorization with SHA-512-256 (~600 B) and long Via. */
#define SW_MAX_HEADER_LEN 8192

/* Bytes of the request line / status line. */
#define SW_MAX_START_LINE 4096

/* Via header fields in one message. Each proxy hop adds one; 70 hops is the
 * Max-Forwards default, so more Vias than that mean a loop or an attack. */
#define SW_MAX_VIAS 70

/* Length of a username or domain as stored (Kamailio subscriber: VARCHAR(64)). */
#define SW_MAX_USER 64
#define SW_MAX_DOMAIN 64

/* Cleartext password length kept in the store (subscriber.password). */
#define SW_MAX_PASSWORD 128

/* Hex digest length of the largest supported hash (SHA-256, SHA-512/256). */
#define SW_MAX_HASH_HEX 64

/* Contact URI bytes kept per binding. Phones with GRUU/instance params reach
 * ~300 B; anything past this is refused rather than truncated. */
#define SW_MAX_CONTACT_URI 512

/* Contacts per address-of-record unless configured lower. A desk phone, a
 * softphone and a mobile make 3; 10 covers shared lines without inviting abuse. */
#define SW_DEFAULT_MAX_CONTACTS 10
#define SW_MAX_CONTACTS_CAP 64

/* Contact entries accepted in one REGISTER (also bounded by the AOR limit). */
#define SW_MAX_CONTACTS_PER_MSG 16

/* Registration expiry defaults (seconds): RFC 3261 §10.2.1.1 default 3600. */
#define SW_DEFAULT_EXPIRES 3600
#define SW_DEFAULT_MIN_EXPIRES 60
#define SW_DEFAULT_MAX_EXPIRES 86400

/* Nonce lifetime (seconds) before a well-signed nonce is answered stale=true. */
#define SW_DEFAULT_NONCE_LIFETIME 300

/* Listen sockets per daemon. */
#define SW_MAX_LISTEN 16
/* Served domains per daemon. */
#define SW_MAX_DOMAINS 64

/* TCP: simultaneous connections in total and per worker, and idle timeout. */
#define SW_MAX_TCP_CONNS 4096
#define SW_TCP_IDLE_TIMEOUT_S 300

/* TCP/TLS connections from one source IP address, all workers together. A
 * phone needs one, a NATed office a few dozen; more is one host hoarding
 * sockets and memory (each connection may buffer SW_MAX_MSG_SIZE bytes). */
#define SW_DEFAULT_MAX_CONNS_PER_IP 64
/* Buckets of the shared per-IP connection counters; addresses sharing a
 * bucket share a count, which only errs on the side of refusing. */
#define SW_CONN_IP_BUCKETS 4096

/* Seconds within which a started message must be complete on a stream. An
 * honest client sends a message in one burst; one that trickles bytes
 * (slowloris) would otherwise hold its buffer forever while never idle. */
#define SW_TCP_MESSAGE_TIMEOUT_S 10

/* Seconds a TLS handshake may take from accept. A real handshake on a LAN or
 * the Internet takes well under one second; a silent or slow peer is cut. */
#define SW_TLS_HANDSHAKE_TIMEOUT_S 5

/* SNI entries ([tls] sni): server names with a certificate of their own. */
#define SW_MAX_TLS_SNI 16

/* Bytes of a file path in the configuration (certificate, key, CA). */
#define SW_MAX_PATH 256

/* Bytes of a TLS peer identity kept per connection (a SAN URI such as
 * "sip:user@domain" or a DNS name; longer ones are refused, not cut). */
#define SW_MAX_PEER_IDENTITY 160

/* Overload shedding ([server] overload_delay_ms): a new request that waited
 * longer than this in the UDP receive queue is answered 503 + Retry-After
 * without auth or database work. A UAC retransmits an unanswered request
 * after T1 = 500 ms (RFC 3261 §17.1.1.2); a backlog past 200 ms means its
 * answer is about to race a retransmission that only deepens the queue, yet
 * it is well above the few ms a burst of a healthy server costs. */
#define SW_DEFAULT_OVERLOAD_DELAY_MS 200
#define SW_MAX_OVERLOAD_DELAY_MS 60000
/* Retry-After (seconds) of a shed request: long enough for the queue to
 * drain, short enough that phones come back within one refresh period. */
#define SW_OVERLOAD_RETRY_AFTER_S 5
/* An overload episode ends (and its count is logged) after this long
 * without shedding. */
#define SW_OVERLOAD_QUIET_MS 1000

/* Worker threads ceiling. */
#define SW_MAX_WORKERS 64

/* First-use algorithm records (a subscriber's first successful MD5 login,
 * kept for `sipwarden-ctl user report`) waiting for the write-back thread.
 * 4096 cover one 200 ms flush at 20,000 first logins per second; when the
 * queue is full the record is written at once instead, so none is lost. */
#define SW_MAX_PIN_QUEUE 4096

#endif
