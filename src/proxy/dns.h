/* RFC 3263 next-hop lookups for foreign domains (a subset: SRV _sip._udp,
 * _sip._tcp or _sips._tcp by the URI's transport, then A/AAAA; no NAPTR):
 * the DNS wire format (dns_wire.c) and the
 * per-worker resolver with its cache (dns.c). */
#ifndef SW_PROXY_DNS_H
#define SW_PROXY_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_DNS_A 1
#define PROXY_DNS_AAAA 28
#define PROXY_DNS_SRV 33
#define PROXY_DNS_NXDOMAIN 3
#define PROXY_DNS_MAX_NAME 253
/* Records kept from one answer (answer + additional sections). */
#define PROXY_DNS_MAX_RR 16

struct proxy_dns_rr {
	uint16_t type;
	uint32_t ttl;
	bool additional;                       /**< from the additional section */
	char name[PROXY_DNS_MAX_NAME + 2];     /**< owner, lower case, no trailing dot */
	uint16_t prio, weight, port;           /**< SRV */
	char target[PROXY_DNS_MAX_NAME + 2];   /**< SRV */
	uint8_t addr[16];                      /**< A (4 bytes) or AAAA */
};

struct proxy_dns_answer {
	int rcode;
	unsigned n;
	struct proxy_dns_rr rr[PROXY_DNS_MAX_RR];
};

/* A query for name (dotted, trailing dot optional) of qtype, recursion
 * desired. Length written, or -EINVAL (bad name, buffer too small). */
int proxy_dns_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype);
/* Parse a response to query id: rcode and the A, AAAA and SRV records of the
 * answer and additional sections (others skipped). 0 or -EBADMSG. */
int proxy_dns_parse(const uint8_t *buf, size_t len, uint16_t id, struct proxy_dns_answer *out);
/* The response's question section is exactly one question: name (dotted,
 * trailing dot optional, compared case-insensitively), qtype, class IN. */
bool proxy_dns_question_is(const uint8_t *buf, size_t len, const char *name, uint16_t qtype);

#endif
