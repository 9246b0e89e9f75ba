/* Loop detection (RFC 3261 §16.3 item 4, §16.6 item 8). Every branch we send
 * ends in ".<hash>", a hash of what identifies the request as we received it:
 * Request-URI, From and To tags, Call-ID, CSeq number, Proxy-Require, Route
 * and the Via it came with. When a request comes back carrying one of our Vias, the
 * hash is computed again from the request as it is now, taking the Via just
 * below ours as "the Via it came with": equal means the same request came
 * back unchanged (a loop, 482); different means it was legitimately re-targeted
 * (a spiral, e.g. a forwarding service changed the Request-URI) and it goes on.
 * Proxy-Authorization is left out although §16.6 lists it: we consume our
 * realm's credentials before forwarding, so it never comes back the same.
 * Route is added: an in-dialog request whose Record-Route set names us twice
 * (the dialog was set up through a spiral) legitimately comes back with the
 * same Request-URI, but with a shorter Route set. */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <string.h>

#include "base/fmt.h"
#include "base/util.h"

static uint64_t mix(uint64_t h, struct slice s)
{
	return (h ^ base_hash_words(s.p, s.len)) * 1099511628211ull + s.len;
}

uint64_t proxy_loop_hash(const struct sip_msg *msg, const struct sip_via *upstream)
{
	char num[FMT_U64_MAX];
	uint64_t h = 0x5157a7d3u;

	h = mix(h, msg->ruri_str);
	h = mix(h, msg->from.tag);
	h = mix(h, msg->to.tag);
	h = mix(h, msg->call_id);
	h = mix(h, slice_from(num, fmt_u64(num, msg->cseq)));
	for (const struct sip_hdr *r = sip_msg_hdr(msg, SIP_HDR_PROXY_REQUIRE); r; r = sip_msg_hdr_next(msg, r))
		h = mix(h, r->value);
	h = mix(h, slice_cstr("|"));
	for (const struct sip_hdr *r = sip_msg_hdr(msg, SIP_HDR_ROUTE); r; r = sip_msg_hdr_next(msg, r))
		h = mix(h, r->value);
	if (upstream) {
		h = mix(h, upstream->branch);
		h = mix(h, upstream->host);
		h = mix(h, slice_from(num, fmt_u64(num, upstream->port)));
	}
	return h & PROXY_LOOP_HASH_MASK;
}

int proxy_loop_branch_suffix(char *branch, size_t cap, const struct sip_msg *msg)
{
	size_t n = strlen(branch);
	char hex[FMT_U64_MAX];
	size_t k = fmt_hex64(hex, proxy_loop_hash(msg, &msg->via1), 12);

	if (k + 1 >= cap - n)
		return -ENOSPC;
	branch[n] = '.';
	memcpy(branch + n + 1, hex, k + 1);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The loop hash a branch of ours carries; false when it carries none. */
static bool branch_hash(struct slice branch, uint64_t *out)
{
	const char *dot = NULL;
	uint64_t v = 0;

	for (size_t i = 0; i < branch.len; i++)
		if (branch.p[i] == '.')
			dot = branch.p + i;
	if (!dot || branch.p + branch.len - dot != 13)
		return false;
	for (const char *p = dot + 1; p < branch.p + branch.len; p++) {
		int d = hexval(*p);
		if (d < 0)
			return false;
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return true;
}

/* Can any Via carry a branch of ours? Our branches begin with the prefix
 * txn_branch_owner requires, and a branch is a piece of its Via header's
 * text: without that text in any Via header there is no Via of ours. */
static bool any_branch_of_ours(const struct sip_msg *msg)
{
	static const char prefix[] = TXN_BRANCH_PREFIX;

	for (const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_VIA); h; h = sip_msg_hdr_next(msg, h))
		if (memmem(h->value.p, h->value.len, prefix, sizeof(prefix) - 1))
			return true;
	return false;
}

bool proxy_loop_found(const struct sip_msg *msg, proxy_is_me_fn is_me, void *arg)
{
	bool pending = false;   /* the previous Via was ours: this one is its upstream */
	uint64_t want = 0;
	int n = 0;

	/* The usual case, a request no proxy of ours has forwarded yet: no
	 * Via to parse. */
	if (!any_branch_of_ours(msg))
		return false;
	for (const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_VIA); h; h = sip_msg_hdr_next(msg, h)) {
		struct slice rest = h->value;
		while (rest.len && n++ < SW_MAX_VIAS) {
			struct sip_via v;
			struct slice next;
			if (sip_via_parse(&v, rest, &next))
				return false;
			if (pending && proxy_loop_hash(msg, &v) == want)
				return true;
			/* RFC 3261 §18.2.1 / §19.1.2: no port is 5060, or 5061 over TLS. */
			uint16_t port = v.port ? v.port : slice_caseeq_cstr(v.transport, "TLS") ? 5061 : 5060;
			pending = txn_branch_owner(v.branch) >= 0 && is_me(arg, v.host, port) &&
				  branch_hash(v.branch, &want);
			while (next.len && (next.p[0] == ',' || next.p[0] == ' ' || next.p[0] == '\t')) {
				next.p++;
				next.len--;
			}
			rest = next;
		}
	}
	return false;
}
