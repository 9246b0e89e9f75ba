/* libFuzzer harness for the DNS answer parser (proxy/dns_wire.c): any bytes
 * as a response to the query id they start with; every record kept must have
 * a terminated owner and target name within bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proxy_dns_answer ans;
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;

	if (proxy_dns_parse(data, size, id, &ans) != 0)
		return 0;
	if (ans.n > PROXY_DNS_MAX_RR)
		abort();
	for (unsigned i = 0; i < ans.n; i++) {
		if (strlen(ans.rr[i].name) > PROXY_DNS_MAX_NAME || strlen(ans.rr[i].target) > PROXY_DNS_MAX_NAME)
			abort();
	}
	return 0;
}
