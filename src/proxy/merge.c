/* Challenges merged across forked branches (RFC 3261 §16.7 step 7): when the
 * best final response is a 401 or 407, it goes upstream carrying every
 * WWW-Authenticate and Proxy-Authenticate value of every 401/407 the branches
 * returned, unmodified, so the caller can answer all realms at once. The
 * lines are collected as the responses arrive (only 401/407 cost anything)
 * and the best response is rewritten once, when it is sent. */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_challenge(const struct sip_hdr *h)
{
	return h->id == SIP_HDR_WWW_AUTHENTICATE || h->id == SIP_HDR_PROXY_AUTHENTICATE;
}

int proxy_merge_collect(struct proxy_call *c, const struct sip_msg *rsp)
{
	if (rsp->status != 401 && rsp->status != 407)
		return 0;
	for (unsigned i = 0; i < rsp->nhdrs; i++) {
		const struct sip_hdr *h = &rsp->hdrs[i];
		if (!is_challenge(h))
			continue;
		size_t need = h->name.len + 2 + h->value.len + 2;
		if (c->chal_len + need > SW_MAX_MERGED_CHALLENGES)
			return -ENOSPC; /* the rest is left out; the caller still gets some */
		if (c->chal_len + need > c->chal_cap) {
			size_t cap = c->chal_cap ? c->chal_cap * 2 : 1024;
			while (cap < c->chal_len + need)
				cap *= 2;
			char *p = realloc(c->chal, cap);
			if (!p)
				return -ENOMEM;
			c->chal = p;
			c->chal_cap = cap;
		}
		char *o = c->chal + c->chal_len;
		memcpy(o, h->name.p, h->name.len);
		o += h->name.len;
		memcpy(o, ": ", 2);
		memcpy(o + 2, h->value.p, h->value.len);
		memcpy(o + 2 + h->value.len, "\r\n", 2);
		c->chal_len += need;
	}
	return 0;
}

int proxy_merge_apply(struct proxy_call *c, char *scratch, size_t cap)
{
	struct sip_msg *m;
	struct sip_parse_err perr;
	struct sip_buf b;

	if (!c->best || !c->chal_len || (c->best_code != 401 && c->best_code != 407))
		return 0;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (sip_msg_parse(m, c->best, c->best_len, &perr)) {
		free(m);
		return -EBADMSG;
	}
	sip_buf_init(&b, scratch, cap);
	/* Status line and headers as they were, minus the challenges... */
	const char *start = c->best;
	const char *eol = memchr(start, '\n', c->best_len);
	if (!eol) {
		free(m);
		return -EBADMSG;
	}
	sip_buf_put(&b, start, (size_t)(eol + 1 - start));
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct sip_hdr *h = &m->hdrs[i];
		if (is_challenge(h))
			continue;
		sip_buf_slice(&b, h->name);
		sip_buf_puts(&b, ": ");
		sip_buf_slice(&b, h->value);
		sip_buf_puts(&b, "\r\n");
	}
	/* ...then every branch's challenges, then the body. */
	sip_buf_put(&b, c->chal, c->chal_len);
	sip_buf_puts(&b, "\r\n");
	sip_buf_slice(&b, m->body);
	free(m);
	if (b.overflow)
		return -ENOSPC;
	char *p = realloc(c->best, b.len);
	if (!p)
		return -ENOMEM;
	memcpy(p, b.p, b.len);
	c->best = p;
	c->best_len = b.len;
	return 0;
}
