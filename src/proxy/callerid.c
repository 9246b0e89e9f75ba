/* Caller ID and anonymity for initial requests of authenticated local
 * callers (seed 001 "mise à jour de l'identification de l'appelant"; RFC 3323
 * privacy, RFC 3325 P-Asserted-Identity).
 *
 * The subscriber's `rpid` column holds the identity to present, one of:
 *   "Alice Smith" <sip:+15551234@example.com>    display name and URI
 *   <sip:+15551234@example.com>  or  sip:+15551234@example.com
 *   Alice Smith                                  display name only
 *   anonymous                                    always anonymous (a subscriber flag
 *                                                derived from rpid; no extra column)
 * The From header is rewritten on the initial INVITE only and not restored in
 * later requests (seed 001: harmless for RFC 3261 devices). Anonymity
 * (Privacy: id or header, or rpid "anonymous") replaces From on every initial
 * request with "Anonymous" <sip:anonymous@anonymous.invalid>, keeping the tag. */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool clean(struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || c == '<' || c == '>')
			return false;
	}
	return true;
}

int proxy_rpid_parse(struct slice rpid, struct slice *display, struct slice *uri)
{
	struct slice s = slice_trim(rpid);

	*display = *uri = SLICE_NULL;
	if (s.len == 0)
		return -EINVAL;
	const char *lt = memchr(s.p, '<', s.len);
	if (lt) {
		const char *gt = memchr(lt, '>', s.len - (size_t)(lt - s.p));
		if (!gt)
			return -EINVAL;
		struct slice d = slice_trim(slice_from(s.p, (size_t)(lt - s.p)));
		if (d.len >= 2 && d.p[0] == '"' && d.p[d.len - 1] == '"')
			d = slice_from(d.p + 1, d.len - 2);
		*display = d;
		*uri = slice_trim(slice_from(lt + 1, (size_t)(gt - lt - 1)));
	} else if (s.len > 4 && (strncasecmp(s.p, "sip:", 4) == 0 || strncasecmp(s.p, "sips:", 5) == 0 ||
				 strncasecmp(s.p, "tel:", 4) == 0)) {
		*uri = s;
	} else {
		if (s.len >= 2 && s.p[0] == '"' && s.p[s.len - 1] == '"')
			s = slice_from(s.p + 1, s.len - 2);
		*display = s;
	}
	struct sip_uri u;
	if (!clean(*display) || !clean(*uri) || (uri->len && sip_uri_parse(&u, *uri)))
		return -EINVAL;
	return 0;
}

/* RFC 3323 §4.2: Privacy values "id" (RFC 3325) and "header" hide the caller. */
static bool privacy_requested(const struct sip_msg *msg)
{
	for (const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_PRIVACY); h; h = sip_msg_hdr_next(msg, h)) {
		const char *p = h->value.p, *end = h->value.p + h->value.len;
		while (p < end) {
			const char *q = p;
			while (q < end && *q != ';' && *q != ',')
				q++;
			struct slice tok = slice_trim(slice_from(p, (size_t)(q - p)));
			if (slice_caseeq_cstr(tok, "id") || slice_caseeq_cstr(tok, "header"))
				return true;
			p = q + 1;
		}
	}
	return false;
}

/* "<sip:user@realm>" of the authenticated caller into out (user and realm
 * are bounded by SW_MAX_USER and SW_MAX_DOMAIN: it always fits). */
static void authenticated_aor(const struct proxy_caller *caller, char *out)
{
	size_t u = strlen(caller->user), r = strlen(caller->realm);

	_Static_assert(sizeof(((struct proxy_identity *)0)->pai) > sizeof(caller->user) + sizeof(caller->realm) + 6,
		       "pai holds <sip:user@realm>");
	memcpy(out, "<sip:", 5);
	memcpy(out + 5, caller->user, u);
	out[5 + u] = '@';
	memcpy(out + 6 + u, caller->realm, r);
	out[6 + u + r] = '>';
	out[7 + u + r] = '\0';
}

void proxy_identity_decide(const struct sip_msg *msg, const struct proxy_caller *caller, struct proxy_identity *id)
{
	struct slice display = SLICE_NULL, uri = SLICE_NULL;
	struct slice rpid = slice_cstr(caller->rpid);
	bool have_rpid = rpid.len && proxy_rpid_parse(rpid, &display, &uri) == 0;

	memset(id, 0, sizeof(*id));
	if (!caller->authenticated)
		return;
	id->anonymous = privacy_requested(msg) || slice_caseeq_cstr(slice_trim(rpid), "anonymous");
	/* The asserted identity (RFC 3325 §9.1): the rpid URI, else the
	 * authenticated AOR. Only ever sent to trusted next hops. */
	if (have_rpid && uri.len)
		snprintf(id->pai, sizeof(id->pai), "<%.*s>", (int)uri.len, uri.p);
	else
		authenticated_aor(caller, id->pai);
	if (id->anonymous) {
		snprintf(id->from, sizeof(id->from), "\"Anonymous\" <sip:anonymous@anonymous.invalid>");
		return;
	}
	if (msg->method != SIP_INVITE || !have_rpid)
		return;
	const struct slice from_uri = msg->from.uri_str;
	struct slice u = uri.len ? uri : from_uri;
	if (display.len)
		snprintf(id->from, sizeof(id->from), "\"%.*s\" <%.*s>", (int)display.len, display.p, (int)u.len, u.p);
	else
		snprintf(id->from, sizeof(id->from), "<%.*s>", (int)u.len, u.p);
}
