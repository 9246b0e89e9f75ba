/* Transport policy of the registrar: domains whose digest exchanges must run
 * over TLS (RFC 3261 §26.3.1: digest alone gives no integrity, so a REGISTER
 * in the clear can be hijacked), and matching a TLS client certificate's
 * identity (RFC 5922 §7.1: SAN URI, else DNS name, else CN) to an AOR. Pure
 * functions: no I/O. */
#include <string.h>
#include <strings.h>

#include "registrar/registrar.h"

bool registrar_tls_required(const struct registrar_cfg *cfg, struct slice domain)
{
	for (unsigned i = 0; i < cfg->ntls_only; i++)
		if (slice_caseeq_cstr(domain, cfg->tls_only[i]))
			return true;
	return false;
}

bool registrar_cert_identity_matches(const char *identity, struct slice user, struct slice host)
{
	struct slice id;
	const char *at;

	if (!identity || !identity[0])
		return false;
	id = slice_from(identity, strlen(identity));
	if (id.len > 5 && strncasecmp(id.p, "sips:", 5) == 0)
		id = slice_from(id.p + 5, id.len - 5);
	else if (id.len > 4 && strncasecmp(id.p, "sip:", 4) == 0)
		id = slice_from(id.p + 4, id.len - 4);
	at = memchr(id.p, '@', id.len);
	if (!at)
		return slice_caseeq(id, host); /* a certificate for the domain itself */
	struct slice u = slice_from(id.p, (size_t)(at - id.p));
	struct slice h = slice_from(at + 1, id.len - u.len - 1);
	return slice_eq(u, user) && slice_caseeq(h, host);
}
