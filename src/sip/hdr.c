/* Header-name and method tables (RFC 3261 §7.3.3 compact forms, §20 header
 * fields, §27.4 methods) and the lookups over a parsed message's header index. */
#include "sip/sip.h"
#include "sip/sip_int.h"

#include <string.h>

struct hdr_name {
	const char *name;    /**< lower case */
	size_t len;          /**< strlen(name) */
	const char *compact; /**< one letter or NULL */
	enum sip_hdr_id id;
};

/* Positions in hdr_names[]: the lookup below dispatches to them directly. */
enum hdr_slot {
	HN_VIA, HN_FROM, HN_TO, HN_CALL_ID, HN_CSEQ, HN_CONTACT, HN_MAX_FORWARDS,
	HN_EXPIRES, HN_MIN_EXPIRES, HN_CONTENT_LENGTH, HN_CONTENT_TYPE,
	HN_AUTHORIZATION, HN_PROXY_AUTHORIZATION, HN_WWW_AUTHENTICATE,
	HN_PROXY_AUTHENTICATE, HN_AUTHENTICATION_INFO, HN_ROUTE, HN_RECORD_ROUTE,
	HN_REQUIRE, HN_PROXY_REQUIRE, HN_SUPPORTED, HN_USER_AGENT, HN_PRIVACY,
	HN_P_ASSERTED_IDENTITY,
	HN_SUBJECT, HN_CONTENT_ENCODING, HN_EVENT, HN_REFER_TO, HN_ALLOW_EVENTS,
	HN_REFERRED_BY, HN_SESSION_EXPIRES, HN_IDENTITY, HN_ACCEPT_CONTACT,
	HN_REJECT_CONTACT, HN_REQUEST_DISPOSITION, HN_IDENTITY_INFO,
	HN__COUNT,
	HN_NONE = -1
};

#define H(slot, name, compact, id) [slot] = { name, sizeof(name) - 1, compact, id }

static const struct hdr_name hdr_names[HN__COUNT] = {
	H(HN_VIA, "via", "v", SIP_HDR_VIA),
	H(HN_FROM, "from", "f", SIP_HDR_FROM),
	H(HN_TO, "to", "t", SIP_HDR_TO),
	H(HN_CALL_ID, "call-id", "i", SIP_HDR_CALL_ID),
	H(HN_CSEQ, "cseq", NULL, SIP_HDR_CSEQ),
	H(HN_CONTACT, "contact", "m", SIP_HDR_CONTACT),
	H(HN_MAX_FORWARDS, "max-forwards", NULL, SIP_HDR_MAX_FORWARDS),
	H(HN_EXPIRES, "expires", NULL, SIP_HDR_EXPIRES),
	H(HN_MIN_EXPIRES, "min-expires", NULL, SIP_HDR_MIN_EXPIRES),
	H(HN_CONTENT_LENGTH, "content-length", "l", SIP_HDR_CONTENT_LENGTH),
	H(HN_CONTENT_TYPE, "content-type", "c", SIP_HDR_CONTENT_TYPE),
	H(HN_AUTHORIZATION, "authorization", NULL, SIP_HDR_AUTHORIZATION),
	H(HN_PROXY_AUTHORIZATION, "proxy-authorization", NULL, SIP_HDR_PROXY_AUTHORIZATION),
	H(HN_WWW_AUTHENTICATE, "www-authenticate", NULL, SIP_HDR_WWW_AUTHENTICATE),
	H(HN_PROXY_AUTHENTICATE, "proxy-authenticate", NULL, SIP_HDR_PROXY_AUTHENTICATE),
	H(HN_AUTHENTICATION_INFO, "authentication-info", NULL, SIP_HDR_AUTHENTICATION_INFO),
	H(HN_ROUTE, "route", NULL, SIP_HDR_ROUTE),
	H(HN_RECORD_ROUTE, "record-route", NULL, SIP_HDR_RECORD_ROUTE),
	H(HN_REQUIRE, "require", NULL, SIP_HDR_REQUIRE),
	H(HN_PROXY_REQUIRE, "proxy-require", NULL, SIP_HDR_PROXY_REQUIRE),
	H(HN_SUPPORTED, "supported", "k", SIP_HDR_SUPPORTED),
	H(HN_USER_AGENT, "user-agent", NULL, SIP_HDR_USER_AGENT),
	H(HN_PRIVACY, "privacy", NULL, SIP_HDR_PRIVACY),
	H(HN_P_ASSERTED_IDENTITY, "p-asserted-identity", NULL, SIP_HDR_P_ASSERTED_IDENTITY),
	/* Compact forms of headers without an id: they still resolve by name. */
	H(HN_SUBJECT, "subject", "s", SIP_HDR_OTHER),
	H(HN_CONTENT_ENCODING, "content-encoding", "e", SIP_HDR_OTHER),
	H(HN_EVENT, "event", "o", SIP_HDR_OTHER),
	H(HN_REFER_TO, "refer-to", "r", SIP_HDR_OTHER),
	H(HN_ALLOW_EVENTS, "allow-events", "u", SIP_HDR_OTHER),
	H(HN_REFERRED_BY, "referred-by", "b", SIP_HDR_OTHER),
	H(HN_SESSION_EXPIRES, "session-expires", "x", SIP_HDR_OTHER),
	H(HN_IDENTITY, "identity", "y", SIP_HDR_OTHER),
	H(HN_ACCEPT_CONTACT, "accept-contact", "a", SIP_HDR_OTHER),
	H(HN_REJECT_CONTACT, "reject-contact", "j", SIP_HDR_OTHER),
	H(HN_REQUEST_DISPOSITION, "request-disposition", "d", SIP_HDR_OTHER),
	H(HN_IDENTITY_INFO, "identity-info", "n", SIP_HDR_OTHER),
};

/* Compact letter -> slot + 1 (0: no such compact form). */
#define C(letter, slot) [(letter) - 'a'] = (slot) + 1

static const unsigned char compact_slot[26] = {
	C('v', HN_VIA), C('f', HN_FROM), C('t', HN_TO), C('i', HN_CALL_ID),
	C('m', HN_CONTACT), C('l', HN_CONTENT_LENGTH), C('c', HN_CONTENT_TYPE),
	C('k', HN_SUPPORTED), C('s', HN_SUBJECT), C('e', HN_CONTENT_ENCODING),
	C('o', HN_EVENT), C('r', HN_REFER_TO), C('u', HN_ALLOW_EVENTS),
	C('b', HN_REFERRED_BY), C('x', HN_SESSION_EXPIRES), C('y', HN_IDENTITY),
	C('a', HN_ACCEPT_CONTACT), C('j', HN_REJECT_CONTACT),
	C('d', HN_REQUEST_DISPOSITION), C('n', HN_IDENTITY_INFO),
};

/* The only table entry a long name can be, chosen by its length and its
 * first (and where two share both, second) letter, lower-cased; the caller
 * still compares the whole name. HN_NONE if no entry has that shape. */
static enum hdr_slot hdr_candidate(const char *p, size_t len)
{
	char c0 = (char)(p[0] | 0x20);

	switch (len) {
	case 2: return c0 == 't' ? HN_TO : HN_NONE;
	case 3: return c0 == 'v' ? HN_VIA : HN_NONE;
	case 4: return c0 == 'f' ? HN_FROM : c0 == 'c' ? HN_CSEQ : HN_NONE;
	case 5: return c0 == 'r' ? HN_ROUTE : c0 == 'e' ? HN_EVENT : HN_NONE;
	case 7:
		switch (c0) {
		case 'c': return (p[1] | 0x20) == 'a' ? HN_CALL_ID : HN_CONTACT;
		case 'e': return HN_EXPIRES;
		case 'r': return HN_REQUIRE;
		case 'p': return HN_PRIVACY;
		case 's': return HN_SUBJECT;
		default: return HN_NONE;
		}
	case 8: return c0 == 'r' ? HN_REFER_TO : c0 == 'i' ? HN_IDENTITY : HN_NONE;
	case 9: return c0 == 's' ? HN_SUPPORTED : HN_NONE;
	case 10: return c0 == 'u' ? HN_USER_AGENT : HN_NONE;
	case 11: return c0 == 'm' ? HN_MIN_EXPIRES : c0 == 'r' ? HN_REFERRED_BY : HN_NONE;
	case 12:
		switch (c0) {
		case 'm': return HN_MAX_FORWARDS;
		case 'c': return HN_CONTENT_TYPE;
		case 'r': return HN_RECORD_ROUTE;
		case 'a': return HN_ALLOW_EVENTS;
		default: return HN_NONE;
		}
	case 13:
		switch (c0) {
		case 'a': return HN_AUTHORIZATION;
		case 'p': return HN_PROXY_REQUIRE;
		case 'i': return HN_IDENTITY_INFO;
		default: return HN_NONE;
		}
	case 14:
		switch (c0) {
		case 'c': return HN_CONTENT_LENGTH;
		case 'a': return HN_ACCEPT_CONTACT;
		case 'r': return HN_REJECT_CONTACT;
		default: return HN_NONE;
		}
	case 15: return c0 == 's' ? HN_SESSION_EXPIRES : HN_NONE;
	case 16: return c0 == 'w' ? HN_WWW_AUTHENTICATE : c0 == 'c' ? HN_CONTENT_ENCODING : HN_NONE;
	case 18: return c0 == 'p' ? HN_PROXY_AUTHENTICATE : HN_NONE;
	case 19:
		switch (c0) {
		case 'p': return (p[1] | 0x20) == 'r' ? HN_PROXY_AUTHORIZATION : HN_P_ASSERTED_IDENTITY;
		case 'a': return HN_AUTHENTICATION_INFO;
		case 'r': return HN_REQUEST_DISPOSITION;
		default: return HN_NONE;
		}
	default: return HN_NONE;
	}
}

static const char *const method_names[] = {
	[SIP_INVITE] = "INVITE",     [SIP_ACK] = "ACK",         [SIP_BYE] = "BYE",
	[SIP_CANCEL] = "CANCEL",     [SIP_OPTIONS] = "OPTIONS", [SIP_REGISTER] = "REGISTER",
	[SIP_MESSAGE] = "MESSAGE",   [SIP_SUBSCRIBE] = "SUBSCRIBE", [SIP_NOTIFY] = "NOTIFY",
	[SIP_REFER] = "REFER",       [SIP_INFO] = "INFO",       [SIP_UPDATE] = "UPDATE",
	[SIP_PRACK] = "PRACK",       [SIP_PUBLISH] = "PUBLISH",
};

#define NMETHODS (sizeof(method_names) / sizeof(method_names[0]))

/* strlen of each method_names[] entry. */
static const unsigned char method_lens[NMETHODS] = {
	[SIP_INVITE] = 6, [SIP_ACK] = 3,       [SIP_BYE] = 3,     [SIP_CANCEL] = 6, [SIP_OPTIONS] = 7,
	[SIP_REGISTER] = 8, [SIP_MESSAGE] = 7, [SIP_SUBSCRIBE] = 9, [SIP_NOTIFY] = 6, [SIP_REFER] = 5,
	[SIP_INFO] = 4,   [SIP_UPDATE] = 6,    [SIP_PRACK] = 5,   [SIP_PUBLISH] = 7,
};

/* Compare the W-byte words of p and lower at i, p's folded to lower case. */
#define WORD_EQ(p, lower, i, W)                                                                   \
	({                                                                                        \
		uint64_t x_ = 0, y_ = 0;                                                          \
		memcpy(&x_, (p) + (i), W);                                                        \
		memcpy(&y_, (lower) + (i), W);                                                    \
		slice_fold8(x_) == y_;                                                            \
	})

/* Whether the received name p[0..len) equals lower[0..len) (a lower-case
 * table name of the same length, len >= 2) ignoring ASCII case: whole words
 * folded at once, the last one overlapping the one before, never a byte
 * outside either string. */
static bool name_eq(const char *p, size_t len, const char *lower)
{
	if (len >= 8) {
		for (size_t i = 0; i + 8 < len; i += 8)
			if (!WORD_EQ(p, lower, i, 8))
				return false;
		return WORD_EQ(p, lower, len - 8, 8);
	}
	if (len >= 4)
		return WORD_EQ(p, lower, 0, 4) && WORD_EQ(p, lower, len - 4, 4);
	return WORD_EQ(p, lower, 0, 2) && WORD_EQ(p, lower, len - 2, 2);
}

/* The table entry for a header name in long or compact form, or NULL:
 * one dispatch on the name's shape and one case-insensitive compare. */
static const struct hdr_name *hdr_lookup(struct slice name)
{
	enum hdr_slot slot;

	if (name.len == 1) {
		unsigned c = (unsigned)(name.p[0] | 0x20) - 'a';
		return c < 26 && compact_slot[c] ? &hdr_names[compact_slot[c] - 1] : NULL;
	}
	if (name.len == 0)
		return NULL;
	slot = hdr_candidate(name.p, name.len);
	if (slot == HN_NONE || name.len != hdr_names[slot].len || !name_eq(name.p, name.len, hdr_names[slot].name))
		return NULL;
	return &hdr_names[slot];
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

/* The only method a name can be, by its first letter and length. */
static enum sip_method method_candidate(char c0, size_t len)
{
	switch (c0) {
	case 'I': return len == 6 ? SIP_INVITE : SIP_INFO;
	case 'A': return SIP_ACK;
	case 'B': return SIP_BYE;
	case 'C': return SIP_CANCEL;
	case 'O': return SIP_OPTIONS;
	case 'R': return len == 8 ? SIP_REGISTER : SIP_REFER;
	case 'M': return SIP_MESSAGE;
	case 'S': return SIP_SUBSCRIBE;
	case 'N': return SIP_NOTIFY;
	case 'U': return SIP_UPDATE;
	case 'P': return len == 5 ? SIP_PRACK : SIP_PUBLISH;
	default: return SIP_METHOD_UNKNOWN;
	}
}

/* Method names are case-sensitive (RFC 3261 §7.1); anything not in the table,
 * including extension methods, is SIP_METHOD_UNKNOWN. */
enum sip_method sip_method_from(struct slice name)
{
	enum sip_method m;

	if (name.len == 0)
		return SIP_METHOD_UNKNOWN;
	m = method_candidate(name.p[0], name.len);
	if (m == SIP_METHOD_UNKNOWN || method_lens[m] != name.len ||
	    memcmp(name.p, method_names[m], name.len) != 0)
		return SIP_METHOD_UNKNOWN;
	return m;
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

/* Next header after prev that has the same id (the parser's chain); for
 * SIP_HDR_OTHER the next one with the same name (compact and long forms
 * match). NULL at the end. */
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *msg, const struct sip_hdr *prev)
{
	size_t i;

	if (!prev || prev < msg->hdrs || prev >= msg->hdrs + msg->nhdrs)
		return NULL;
	if (prev->id != SIP_HDR_OTHER)
		return prev->next >= 0 && (unsigned)prev->next < msg->nhdrs ? &msg->hdrs[prev->next] : NULL;
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
