/* RFC 3263 next-hop lookups for foreign domains (a subset: SRV _sip._udp,
 * _sip._tcp or _sips._tcp by the URI's transport, then A/AAAA; no NAPTR):
 * the DNS wire format (dns_wire.c), the choice among the records of an
 * answer (dns_answer.c) and the per-worker resolver with its cache (dns.c). */
#ifndef SW_PROXY_DNS_H
#define SW_PROXY_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_DNS_A 1
#define PROXY_DNS_CNAME 5
#define PROXY_DNS_AAAA 28
#define PROXY_DNS_SRV 33
#define PROXY_DNS_NXDOMAIN 3
#define PROXY_DNS_MAX_NAME 253
/* Records kept from one answer (answer + additional sections, in message
 * order; past it the rest are not seen). */
#define PROXY_DNS_MAX_RR 32
/* CNAMEs followed from the name asked to the name holding its records, in
 * one answer and across the queries for the canonical name together
 * (RFC 1034 §3.6.2, §5.3.3). A longer chain, or a loop, fails the lookup. */
#define PROXY_DNS_MAX_CNAME 8

struct proxy_dns_rr {
	uint16_t type;
	uint32_t ttl;                          /**< RFC 2181 §8: top bit set reads 0 */
	bool additional;                       /**< from the additional section */
	char name[PROXY_DNS_MAX_NAME + 2];     /**< owner, lower case, no trailing dot */
	uint16_t prio, weight, port;           /**< SRV */
	char target[PROXY_DNS_MAX_NAME + 2];   /**< SRV target, CNAME canonical name */
	uint8_t addr[16];                      /**< A (4 bytes) or AAAA */
};

struct proxy_dns_answer {
	int rcode;
	bool truncated;                        /**< TC: more than the server sent */
	unsigned n;
	struct proxy_dns_rr rr[PROXY_DNS_MAX_RR];
};

/* A query for name (dotted, trailing dot optional) of qtype, recursion
 * desired. Length written, or -EINVAL (bad name: empty labels, labels over
 * 63 bytes, spaces, control or non-ASCII bytes; buffer too small). */
int proxy_dns_query_build(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype);
/* Parse a response to standard query id: rcode, TC bit and the A, AAAA, SRV
 * and CNAME records of class IN of the answer and additional sections (others
 * skipped, and so are records whose names hold bytes no host name has, such
 * as a dot or NUL inside a label). A truncated answer (TC) is read as far as
 * its records are whole, whatever its counts say: only its header and
 * question must read, and the caller decides (dns.c asks again over TCP).
 * 0 or -EBADMSG (compression pointers forward, into the header or looping,
 * names past their record's data, records past the end; in a truncated
 * answer, only in its question). */
int proxy_dns_parse(const uint8_t *buf, size_t len, uint16_t id, struct proxy_dns_answer *out);
/* The response's question section is exactly one question: name (dotted,
 * trailing dot optional, compared case-insensitively), qtype, class IN. */
bool proxy_dns_question_is(const uint8_t *buf, size_t len, const char *name, uint16_t qtype);
/* Two names (dotted) are the same: case-insensitive, a trailing dot ignored. */
bool proxy_dns_name_eq(const char *a, const char *b);

/* Which records of a parsed answer answer a question (dns_answer.c). Only
 * the answer section counts, and only records owned by the name asked or by
 * the end of the CNAME chain starting at it; the additional section serves
 * only for the address of a SRV target, by that target's exact name. */

/* Follow the answer section's CNAMEs from name (at most max_cname of them):
 * the canonical name in canon (cap bytes, at least PROXY_DNS_MAX_NAME + 2),
 * *ttl lowered to each CNAME's TTL, *followed the number followed. 0, or
 * -ELOOP when the chain is longer than max_cname (a loop is). */
int proxy_dns_cname_chain(const struct proxy_dns_answer *a, const char *name, unsigned max_cname, char *canon,
			  size_t cap, uint32_t *ttl, unsigned *followed);
/* The first record of type (A, AAAA, SRV, CNAME) owned by owner in the
 * answer section, or in the additional section when additional. */
const struct proxy_dns_rr *proxy_dns_find(const struct proxy_dns_answer *a, const char *owner, uint16_t type,
					  bool additional);
/* RFC 2782 among the answer section's SRV records owned by owner that name a
 * server (target not ".", port not 0): the lowest priority, then a weighted
 * pick with rnd (any random value; weight 0 first in the running sum). NULL
 * when there is none. */
const struct proxy_dns_rr *proxy_dns_pick_srv(const struct proxy_dns_answer *a, const char *owner, uint32_t rnd);

#endif
