/* libFuzzer harness for the digest header parsers (RFC 2617, RFC 7616):
 * the input, copied to an exact-size heap buffer, is fed to the credential
 * parser, the challenge parser and the raw auth-param iterator. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A returned slice must lie inside the input. */
static void check_in(struct slice s, const char *buf, size_t size)
{
	if (s.len && (s.p < buf || s.p + s.len > buf + size))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sip_digest_cred cred;
	struct sip_digest_chal chal;
	struct slice cur, name, value;
	char *buf = malloc(size ? size : 1);
	int n = 0;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	if (sip_digest_cred_parse(&cred, slice_from(buf, size)) == 0) {
		check_in(cred.username, buf, size);
		check_in(cred.response, buf, size);
		check_in(cred.uri, buf, size);
	}
	if (sip_digest_chal_parse(&chal, slice_from(buf, size)) == 0) {
		check_in(chal.realm, buf, size);
		check_in(chal.qop, buf, size);
	}
	cur = slice_from(buf, size);
	while (sip_auth_param_next(&cur, &name, &value) == 1) {
		check_in(name, buf, size);
		check_in(value, buf, size);
		if (++n > (int)size + 1)
			abort(); /* the cursor must always advance */
	}
	free(buf);
	return 0;
}
