/* Digest authentication header values (RFC 3261 §22.4, §25.1; RFC 2617 §3.2.1,
 * §3.2.2; RFC 7616 §3.3, §3.4): challenge and credential parameter lists.
 * Syntax only; no digest maths and no secrets are handled here. */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <errno.h>
#include <string.h>

/* Iterate "name=value" pairs separated by commas (LWS allowed around ',' and
 * '='; empty list elements are skipped as the #rule allows). Quoted values are
 * returned without the quotes and with escapes kept raw. Returns 1 with
 * name and value set and *cursor advanced, 0 at the end, -EINVAL on bad syntax
 * (a name without '=', an unterminated quote, junk between parameters). */
int sip_auth_param_next(struct slice *cursor, struct slice *name, struct slice *value)
{
	struct slice s = *cursor;
	size_t i = 0, j;

	while (i < s.len && (sip_is_lws(s.p[i]) || s.p[i] == ','))
		i++;
	if (i >= s.len) {
		if (s.len)
			*cursor = slice_from(s.p + s.len, 0);
		return 0;
	}
	j = sip_span(s, i, SIP_CC_TOKEN);
	if (j == i)
		return -EINVAL;
	*name = slice_from(s.p + i, j - i);
	i = sip_skip_lws(s, j);
	if (i >= s.len || s.p[i] != '=')
		return -EINVAL;
	i = sip_skip_lws(s, i + 1);
	if (i >= s.len)
		return -EINVAL;
	if (s.p[i] == '"') {
		j = i;
		if (sip_scan_quoted(s, &j))
			return -EINVAL;
		*value = slice_from(s.p + i + 1, j - i - 2);
	} else {
		/* unquoted values: token plus the few extras seen in the wild for
		 * unquoted uri= and algorithm= values (/:@=[]) */
		j = sip_span(s, i, SIP_CC_AUTHVAL);
		if (j == i)
			return -EINVAL;
		*value = slice_from(s.p + i, j - i);
	}
	j = sip_skip_lws(s, j);
	if (j < s.len && s.p[j] != ',')
		return -EINVAL;
	*cursor = slice_from(s.p + j, s.len - j);
	return 1;
}

/* Skip the "Digest" scheme (case-insensitive) and the LWS after it; -EINVAL
 * for any other scheme. */
static int skip_scheme(struct slice *v)
{
	struct slice s = sip_trim(*v);
	size_t j = sip_span(s, 0, SIP_CC_TOKEN);
	if (!SIP_CASEEQ(slice_from(s.p, j), "digest"))
		return -EINVAL;
	if (j < s.len && !sip_is_lws(s.p[j]))
		return -EINVAL;
	*v = slice_from(s.p + j, s.len - j);
	return 0;
}

/* Store value into the field named name from a table; duplicates are errors. */
struct field {
	const char *name;   /**< lower case */
	size_t len; /**< strlen(name): most names are ruled out by length alone */
	struct slice *dst;
};

#define FIELD(name, dst) { name, sizeof(name) - 1, dst }

static int set_field(const struct field *tab, size_t n, unsigned *seen, struct slice name,
		     struct slice value)
{
	for (size_t k = 0; k < n; k++) {
		if (!sip_caseeq_lower(name, tab[k].name, tab[k].len))
			continue;
		if (*seen & (1u << k))
			return -EINVAL;
		*seen |= 1u << k;
		if (tab[k].dst)
			*tab[k].dst = value;
		return 0;
	}
	return 0; /* unknown parameters are ignored (RFC 7616 §3.4) */
}

/* Parse a "Digest ..." credential into *cred (slices point into value).
 * Parameters may come in any order; unknown ones are ignored. Returns 0, or
 * -EINVAL for another scheme, bad syntax, a repeated parameter, or a missing
 * username, realm, nonce, uri or response (present but empty is accepted). */
int sip_digest_cred_parse(struct sip_digest_cred *cred, struct slice value)
{
	struct slice userhash = SLICE_NULL, name, val;
	const struct field tab[] = {
		FIELD("username", &cred->username), FIELD("realm", &cred->realm),   FIELD("nonce", &cred->nonce),
		FIELD("uri", &cred->uri),           FIELD("response", &cred->response),
		FIELD("algorithm", &cred->algorithm), FIELD("cnonce", &cred->cnonce), FIELD("opaque", &cred->opaque),
		FIELD("qop", &cred->qop),           FIELD("nc", &cred->nc),         FIELD("userhash", &userhash),
		FIELD("username*", NULL),
	};
	const size_t ntab = sizeof(tab) / sizeof(tab[0]);
	unsigned seen = 0;
	int rc;

	memset(cred, 0, sizeof(*cred));
	if (skip_scheme(&value))
		return -EINVAL;
	while ((rc = sip_auth_param_next(&value, &name, &val)) == 1)
		if (set_field(tab, ntab, &seen, name, val))
			return -EINVAL;
	if (rc < 0)
		return -EINVAL;
	/* RFC 2617 §3.2.2: username, realm, nonce, digest-uri and response are required */
	if ((seen & 0x1f) != 0x1f)
		return -EINVAL;
	cred->userhash = userhash;
	cred->userhash_true = SIP_CASEEQ(userhash, "true");
	return 0;
}

/* Parse a "Digest ..." challenge into *chal. stale and userhash are true only
 * for a case-insensitive "true"; qop keeps the raw list ("auth,auth-int").
 * Returns 0, or -EINVAL for another scheme, bad syntax, a repeated parameter,
 * or a missing realm or nonce. */
int sip_digest_chal_parse(struct sip_digest_chal *chal, struct slice value)
{
	struct slice stale = SLICE_NULL, userhash = SLICE_NULL, name, val;
	const struct field tab[] = {
		FIELD("realm", &chal->realm),   FIELD("nonce", &chal->nonce),       FIELD("opaque", &chal->opaque),
		FIELD("algorithm", &chal->algorithm), FIELD("qop", &chal->qop),     FIELD("domain", &chal->domain),
		FIELD("charset", &chal->charset), FIELD("stale", &stale),           FIELD("userhash", &userhash),
	};
	const size_t ntab = sizeof(tab) / sizeof(tab[0]);
	unsigned seen = 0;
	int rc;

	memset(chal, 0, sizeof(*chal));
	if (skip_scheme(&value))
		return -EINVAL;
	while ((rc = sip_auth_param_next(&value, &name, &val)) == 1)
		if (set_field(tab, ntab, &seen, name, val))
			return -EINVAL;
	if (rc < 0)
		return -EINVAL;
	if ((seen & 0x3) != 0x3)
		return -EINVAL;
	chal->stale = SIP_CASEEQ(stale, "true");
	chal->userhash = SIP_CASEEQ(userhash, "true");
	return 0;
}
