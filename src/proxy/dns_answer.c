/* Which records of a parsed DNS answer (dns_wire.c) answer the question
 * asked: owner names checked against the name asked and the CNAME chain
 * starting at it (RFC 1034 §3.6.2), SRV chosen by RFC 2782 among the answer
 * section's records only. Pure functions of the answer, no allocation. */
#include "proxy/dns.h"

#include <errno.h>
#include <string.h>

const struct proxy_dns_rr *proxy_dns_find(const struct proxy_dns_answer *a, const char *owner, uint16_t type,
					  bool additional)
{
	for (unsigned i = 0; i < a->n && i < PROXY_DNS_MAX_RR; i++) {
		const struct proxy_dns_rr *rr = &a->rr[i];
		if (rr->type == type && rr->additional == additional && proxy_dns_name_eq(rr->name, owner))
			return rr;
	}
	return NULL;
}

int proxy_dns_cname_chain(const struct proxy_dns_answer *a, const char *name, unsigned max_cname, char *canon,
			  size_t cap, uint32_t *ttl, unsigned *followed)
{
	const char *cur = name;

	*followed = 0;
	/* A loop (a -> b -> a) runs into the bound like any long chain. */
	for (unsigned hop = 0; hop <= max_cname; hop++) {
		const struct proxy_dns_rr *c = proxy_dns_find(a, cur, PROXY_DNS_CNAME, false);
		if (!c) {
			size_t l = strlen(cur);
			if (l >= cap)
				return -EINVAL;
			memmove(canon, cur, l + 1);
			return 0;
		}
		if (hop == max_cname)
			break;
		if (c->ttl < *ttl)
			*ttl = c->ttl;
		(*followed)++;
		cur = c->target; /* within a, which outlives the loop */
	}
	return -ELOOP;
}

const struct proxy_dns_rr *proxy_dns_pick_srv(const struct proxy_dns_answer *a, const char *owner, uint32_t rnd)
{
	const struct proxy_dns_rr *best = NULL;
	uint32_t total = 0, sum = 0;
	unsigned n = a->n < PROXY_DNS_MAX_RR ? a->n : PROXY_DNS_MAX_RR;

	/* A "." target (RFC 2782: service not available) or port 0 is no
	 * server to send to. */
#define SRV_CANDIDATE(rr) \
	((rr)->type == PROXY_DNS_SRV && !(rr)->additional && (rr)->port != 0 && (rr)->target[0] != '\0' && \
	 proxy_dns_name_eq((rr)->name, owner))
	for (unsigned i = 0; i < n; i++)
		if (SRV_CANDIDATE(&a->rr[i]) && (!best || a->rr[i].prio < best->prio))
			best = &a->rr[i];
	if (!best)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		if (SRV_CANDIDATE(&a->rr[i]) && a->rr[i].prio == best->prio)
			total += a->rr[i].weight; /* at most 32 * 65535: no overflow */
	/* RFC 2782: a number in [0, total], and the first record (weight 0
	 * ones first) whose running sum reaches it. */
	rnd %= total + 1;
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < n; i++) {
			const struct proxy_dns_rr *rr = &a->rr[i];
			if (!SRV_CANDIDATE(rr) || rr->prio != best->prio || (rr->weight == 0) != (pass == 0))
				continue;
			sum += rr->weight;
			if (sum >= rnd)
				return rr;
		}
#undef SRV_CANDIDATE
	return best;
}
