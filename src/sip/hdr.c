/* Header-name and method tables (RFC 3261 §7.3.3 compact forms, §20 header
 * fields, §27.4 methods) and the lookups over a parsed message's header index. */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <strings.h>

struct hdr_name {
	const char *name;
	size_t len;          /**< strlen(name): compared first, so most entries cost one test */
	const char *compact; /**< one letter or NULL */
	enum sip_hdr_id id;
};

#define H(name, compact, id) { name, sizeof(name) - 1, compact, id }

static const struct hdr_name hdr_names[] = {
	H("Via", "v", SIP_HDR_VIA),
	H("From", "f", SIP_HDR_FROM),
	H("To", "t", SIP_HDR_TO),
	H("Call-ID", "i", SIP_HDR_CALL_ID),
	H("CSeq", NULL, SIP_HDR_CSEQ),
	H("Contact", "m", SIP_HDR_CONTACT),
	H("Max-Forwards", NULL, SIP_HDR_MAX_FORWARDS),
	H("Expires", NULL, SIP_HDR_EXPIRES),
	H("Min-Expires", NULL, SIP_HDR_MIN_EXPIRES),
	H("Content-Length", "l", SIP_HDR_CONTENT_LENGTH),
	H("Content-Type", "c", SIP_HDR_CONTENT_TYPE),
	H("Authorization", NULL, SIP_HDR_AUTHORIZATION),
	H("Proxy-Authorization", NULL, SIP_HDR_PROXY_AUTHORIZATION),
	H("WWW-Authenticate", NULL, SIP_HDR_WWW_AUTHENTICATE),
	H("Proxy-Authenticate", NULL, SIP_HDR_PROXY_AUTHENTICATE),
	H("Authentication-Info", NULL, SIP_HDR_AUTHENTICATION_INFO),
	H("Route", NULL, SIP_HDR_ROUTE),
	H("Record-Route", NULL, SIP_HDR_RECORD_ROUTE),
	H("Require", NULL, SIP_HDR_REQUIRE),
	H("Proxy-Require", NULL, SIP_HDR_PROXY_REQUIRE),
	H("Supported", "k", SIP_HDR_SUPPORTED),
	H("User-Agent", NULL, SIP_HDR_USER_AGENT),
	H("Privacy", NULL, SIP_HDR_PRIVACY),
	H("P-Asserted-Identity", NULL, SIP_HDR_P_ASSERTED_IDENTITY),
	/* Compact forms of headers without an id: they still resolve by name. */
	H("Subject", "s", SIP_HDR_OTHER),
	H("Content-Encoding", "e", SIP_HDR_OTHER),
	H("Event", "o", SIP_HDR_OTHER),
	H("Refer-To", "r", SIP_HDR_OTHER),
	H("Allow-Events", "u", SIP_HDR_OTHER),
	H("Referred-By", "b", SIP_HDR_OTHER),
	H("Session-Expires", "x", SIP_HDR_OTHER),
	H("Identity", "y", SIP_HDR_OTHER),
	H("Accept-Contact", "a", SIP_HDR_OTHER),
	H("Reject-Contact", "j", SIP_HDR_OTHER),
	H("Request-Disposition", "d", SIP_HDR_OTHER),
	H("Identity-Info", "n", SIP_HDR_OTHER),
};

#define NHDR_NAMES (sizeof(hdr_names) / sizeof(hdr_names[0]))

static const char *const method_names[] = {
	[SIP_INVITE] = "INVITE",     [SIP_ACK] = "ACK",         [SIP_BYE] = "BYE",
	[SIP_CANCEL] = "CANCEL",     [SIP_OPTIONS] = "OPTIONS", [SIP_REGISTER] = "REGISTER",
	[SIP_MESSAGE] = "MESSAGE",   [SIP_SUBSCRIBE] = "SUBSCRIBE", [SIP_NOTIFY] = "NOTIFY",
	[SIP_REFER] = "REFER",       [SIP_INFO] = "INFO",       [SIP_UPDATE] = "UPDATE",
	[SIP_PRACK] = "PRACK",       [SIP_PUBLISH] = "PUBLISH",
};

#define NMETHODS (sizeof(method_names) / sizeof(method_names[0]))

/* The table entry for a header name in long or compact form, or NULL. */
static const struct hdr_name *hdr_lookup(struct slice name)
{
	if (name.len == 1) {
		char c = (char)(name.p[0] | 0x20);
		for (size_t i = 0; i < NHDR_NAMES; i++)
			if (hdr_names[i].compact && hdr_names[i].compact[0] == c)
				return &hdr_names[i];
		return NULL;
	}
	for (size_t i = 0; i < NHDR_NAMES; i++) {
		const struct hdr_name *h = &hdr_names[i];
		if (h->len == name.len && (h->name[0] | 0x20) == (name.p[0] | 0x20) &&
		    slice_caseeq(name, slice_from(h->name, h->len)))
			return h;
	}
	return NULL;
}

/* Whether two received header names denote the same header (long vs compact). */
static bool same_name(struct slice a, struct slice b)
{
	const struct hdr_name *ha, *hb;

	if (slice_caseeq(a, b))
		return true;
	ha = hdr_lookup(a);
	hb = hdr_lookup(b);
	return ha && ha == hb;
}

/* Map a received header name to its id; unknown names, including unknown
 * compact letters, are SIP_HDR_OTHER. Case-insensitive (RFC 3261 §7.3.1). */
enum sip_hdr_id sip_hdr_id_from(struct slice name)
{
	const struct hdr_name *h = hdr_lookup(name);

	return h ? h->id : SIP_HDR_OTHER;
}

/* Method names are case-sensitive (RFC 3261 §7.1); anything not in the table,
 * including extension methods, is SIP_METHOD_UNKNOWN. */
enum sip_method sip_method_from(struct slice name)
{
	for (size_t m = 1; m < NMETHODS; m++)
		if (slice_eq_cstr(name, method_names[m]))
			return (enum sip_method)m;
	return SIP_METHOD_UNKNOWN;
}

/* Canonical name of a known method; "" for SIP_METHOD_UNKNOWN or out of range
 * (never NULL, so the result can be printed directly). */
const char *sip_method_name(enum sip_method m)
{
	if ((unsigned)m == 0 || (size_t)m >= NMETHODS)
		return "";
	return method_names[m];
}

/* First header with id, or NULL. For SIP_HDR_OTHER use sip_msg_hdr_by_name. */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *msg, enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_HDR__COUNT || msg->first[id] < 0)
		return NULL;
	return &msg->hdrs[msg->first[id]];
}

/* Next header after prev that has the same id; for SIP_HDR_OTHER the next one
 * with the same name (compact and long forms match). NULL at the end. */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *msg, const struct sip_hdr *prev)
{
	size_t i;

	if (!prev || prev < msg->hdrs || prev >= msg->hdrs + msg->nhdrs)
		return NULL;
	for (i = (size_t)(prev - msg->hdrs) + 1; i < msg->nhdrs; i++) {
		const struct sip_hdr *h = &msg->hdrs[i];
		if (h->id != prev->id)
			continue;
		if (h->id != SIP_HDR_OTHER || same_name(h->name, prev->name))
			return h;
	}
	return NULL;
}

/* First header whose name matches (case-insensitive; "Subject" also finds a
 * compact "s"). Names with an id go through the id index. NULL if none. */
const struct sip_hdr *sip_msg_hdr_by_name(const struct sip_msg *msg, const char *name)
{
	struct slice n = slice_cstr(name);
	enum sip_hdr_id id = sip_hdr_id_from(n);

	if (id != SIP_HDR_OTHER)
		return sip_msg_hdr(msg, id);
	for (unsigned i = 0; i < msg->nhdrs; i++)
		if (msg->hdrs[i].id == SIP_HDR_OTHER && same_name(msg->hdrs[i].name, n))
			return &msg->hdrs[i];
	return NULL;
}
