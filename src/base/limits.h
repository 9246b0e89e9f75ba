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

/* Buckets of the shared (transport, peer address) -> connection index used
 * to send requests on an existing connection (RFC 3261 §18 reuse); chains
 * stay short up to a few times this many connections. */
#define SW_CONN_IDX_BUCKETS 4096

/* Seconds an outbound TCP/TLS connect may take. SYNs are retried after 1 s
 * and 3 s; a next hop that has not answered after 5 s is treated as
 * unreachable, well within a transaction's 32 s Timer B/F. */
#define SW_TCP_CONNECT_TIMEOUT_S 5

/* Share of a worker's connection limit (1/N) that connections it opens itself
 * may take. Their targets come from requests (a Request-URI, a Route, a
 * contact): without a share of their own, a caller naming many TCP targets
 * could fill the worker with connections to hosts of its choosing and lock
 * out the clients that connect to us. */
#define SW_OUTBOUND_CONNS_DIV 2
/* A connection refused by a limit (inbound or outbound) or an outbound
 * connect that failed is logged at most once per this many seconds per
 * worker (with the count meanwhile): peers trigger them, and a sender must
 * not be able to flood the log. */
#define SW_CONN_LIMIT_LOG_S 10

/* Messages handed to another worker (bytes for a connection it owns, a
 * response for its transaction) that may wait in its queue. Beyond this they
 * are dropped, as a full socket buffer drops datagrams (the sender
 * retransmits): a stalled worker must not make the others pile up a copy of
 * every message they receive for it. */
#define SW_MAX_POSTED_MSGS 4096

/* Bytes queued on an outbound connection until it is connected (and its TLS
 * handshake done): a few requests (an INVITE, its CANCEL, an ACK); a peer
 * that does not answer its connect is not given more memory than this. */
#define SW_CONN_PENDING_MAX (2 * SW_MAX_MSG_SIZE)
/* Replies to the messages of one stream read, held to leave in one write
 * (streamhold.c): a read holds at most SW_MAX_MSG_SIZE bytes of requests, and
 * their replies are about as long; what does not fit is written at once. */
#define SW_STREAM_HOLD_MAX (2 * SW_MAX_MSG_SIZE)

/* Bytes one read takes from a TCP/TLS socket. A read reports the receive time
 * of the newest bytes it returns, so the older messages in it look younger
 * than they are by the time the sender took to send one read's worth; a
 * queueing delay measured in reads this small is close to the real one
 * (about the granularity at which the kernel merges queued segments), while
 * one more syscall per few messages costs far less than parsing them. */
#define SW_STREAM_READ_CHUNK 8192

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
 * longer than this in its socket's receive queue (UDP datagram, or TCP/TLS
 * stream) is answered 503 + Retry-After
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

/* Control socket ([server] control_socket): one request line per connection.
 * The longest verb is a dozen bytes; 256 leaves room for arguments while a
 * client can never make the control thread buffer more than this. */
#define SW_CTL_MAX_LINE 256
/* Milliseconds a control client has to send its request line and to take
 * the reply; one client is served at a time, so a silent one must be cut
 * quickly, yet a person typing into socat still gets a few seconds. */
#define SW_CTL_CLIENT_TIMEOUT_MS 3000
/* Milliseconds the control thread waits for every worker to snapshot its
 * connections. A worker answers within one loop pass (well under 10 ms);
 * one stuck longer is reported as not answering instead of blocking. */
#define SW_CTL_WORKER_TIMEOUT_MS 1000
/* Connections one worker lists in a snapshot (the per-worker connection
 * ceiling): the reply stays bounded (~200 bytes a line). */
#define SW_CTL_MAX_LISTED SW_MAX_TCP_CONNS

/* Out of file descriptors, connections are refused; the warning about it is
 * logged when an incident starts, at most once per this many seconds per
 * worker, so a flapping limit cannot flood the log. */
#define SW_FD_EXHAUSTED_LOG_S 60
/* Bytes of WWW-/Proxy-Authenticate lines merged into one forked request's
 * 401/407 (RFC 3261 §16.7 step 7). A challenge is ~200 B, a phone offers at
 * most a few algorithms, and a request forks to at most 16 contacts: 16 KiB
 * holds them all while keeping the merged response far below SW_MAX_MSG_SIZE. */
#define SW_MAX_MERGED_CHALLENGES 16384

/* Transactions per worker still waiting for their final response, server and
 * client together ([proxy] max_transactions). Each holds its request copy
 * (up to SW_MAX_MSG_SIZE, ~1-2 KB in practice) and, for a forwarded INVITE,
 * may stay for Timer C (3 minutes) while a phone rings; without a cap a
 * flood of INVITEs to phones that never answer grows memory without bound.
 * 20,000 is ~10 s of ringing at 1,000 new calls/s per worker (two records a
 * call), some 60 MB at worst. Answered transactions only absorb
 * retransmissions until their timers end (32 s at most) and are bounded by
 * the request rate, which overload shedding caps. Over the cap a new request
 * gets 503 with this Retry-After (seconds): ringing calls end within that. */
#define SW_DEFAULT_MAX_TRANSACTIONS 20000
#define SW_TXN_CAP_RETRY_AFTER_S 5

/* DNS for foreign domains (RFC 3263 SRV and A/AAAA, src/proxy/dns.c).
 * A lookup (SRV, then the target's address: three queries, more when a
 * CNAME's target must be asked or an answer over UDP came truncated) must end
 * within SW_DNS_LOOKUP_TIMEOUT_MS: well inside the caller's Timer B (32 s)
 * and short enough that a dead DNS server costs a call 3 s, not the 30 s of
 * the system resolver's defaults. Each query is sent SW_DNS_TRIES times, a
 * SW_DNS_TRY_MS wait each (RFC 1536 suggests retransmitting after ~1 s). */
#define SW_DNS_LOOKUP_TIMEOUT_MS 3000
#define SW_DNS_TRY_MS 1000
#define SW_DNS_TRIES 2
/* A truncated UDP answer is asked again over TCP (RFC 1035 §4.2.2): connect,
 * query and answer within SW_DNS_TCP_MS (and the lookup's own deadline). */
#define SW_DNS_TCP_MS 2000
/* Lookups waiting per worker; past it a foreign call gets 503. Each one is a
 * call in its 100 Trying state; 64 at 3 s each is 20 lookups/s of a dead DNS
 * before refusing, far above real outbound call rates to uncached domains. */
#define SW_DNS_MAX_PENDING 64
/* Answers cached per worker (the domains one talks to are few; a linear scan
 * of 64 entries is cheaper than any lookup). TTLs are respected up to
 * SW_DNS_MAX_TTL_S; "no such domain" is kept SW_DNS_NEGATIVE_TTL_S (RFC 2308
 * would use the SOA minimum, which the answer need not carry). */
#define SW_DNS_CACHE_SIZE 64
#define SW_DNS_MAX_TTL_S 3600
#define SW_DNS_NEGATIVE_TTL_S 30
/* Retry-After (seconds) when DNS did not answer. */
#define SW_DNS_RETRY_AFTER_S 10

/* Worker threads ceiling. */
#define SW_MAX_WORKERS 64

/* First-use algorithm records (a subscriber's first successful MD5 login,
 * kept for `sipwarden-ctl user report`) waiting for the write-back thread.
 * 4096 cover one 200 ms flush at 20,000 first logins per second; when the
 * queue is full the record is written at once instead, so none is lost. */
#define SW_MAX_PIN_QUEUE 4096

#endif
