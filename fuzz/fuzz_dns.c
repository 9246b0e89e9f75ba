/* libFuzzer harness for the DNS answer parser (proxy/dns_wire.c) and the
 * choice among its records (proxy/dns_answer.c): any bytes as a response to
 * the query id they start with; every record kept must have a terminated
 * owner and target name within bounds, and whatever is chosen for the first
 * record's owner (CNAME chain end, A, SRV) must be an answer-section record
 * of that name and type (a SRV one naming a server: target not ".", port not
 * 0, of the lowest priority among those). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proxy_dns_answer ans;
	char qname[PROXY_DNS_MAX_NAME + 2], canon[PROXY_DNS_MAX_NAME + 2];
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	uint32_t ttl = 3600, rnd = size >= 8 ? (uint32_t)data[4] << 24 | (uint32_t)data[5] << 16 | data[6] << 8 | data[7] : 0;
	unsigned followed;

	if (proxy_dns_parse(data, size, id, &ans) != 0)
		return 0;
	if (ans.n > PROXY_DNS_MAX_RR)
		abort();
	for (unsigned i = 0; i < ans.n; i++) {
		if (strlen(ans.rr[i].name) > PROXY_DNS_MAX_NAME || strlen(ans.rr[i].target) > PROXY_DNS_MAX_NAME)
			abort();
	}
	if (ans.n == 0)
		return 0;
	memcpy(qname, ans.rr[0].name, sizeof(qname));
	(void)proxy_dns_question_is(data, size, qname, ans.rr[0].type);
	int e = proxy_dns_cname_chain(&ans, qname, PROXY_DNS_MAX_CNAME, canon, sizeof(canon), &ttl, &followed);
	if (e == -ELOOP)
		return 0;
	if (e != 0 || followed > PROXY_DNS_MAX_CNAME || strlen(canon) > PROXY_DNS_MAX_NAME || ttl > 3600)
		abort();
	const struct proxy_dns_rr *a = proxy_dns_find(&ans, canon, PROXY_DNS_A, false);
	if (a && (a->type != PROXY_DNS_A || a->additional || !proxy_dns_name_eq(a->name, canon)))
		abort();
	const struct proxy_dns_rr *s = proxy_dns_pick_srv(&ans, canon, rnd);
	if (s) {
		if (s->type != PROXY_DNS_SRV || s->additional || !proxy_dns_name_eq(s->name, canon) || s->port == 0 ||
		    s->target[0] == '\0')
			abort();
		for (unsigned i = 0; i < ans.n; i++)
			if (ans.rr[i].type == PROXY_DNS_SRV && !ans.rr[i].additional && ans.rr[i].port != 0 &&
			    ans.rr[i].target[0] != '\0' && proxy_dns_name_eq(ans.rr[i].name, canon) &&
			    ans.rr[i].prio < s->prio)
				abort();
	}
	return 0;
}
