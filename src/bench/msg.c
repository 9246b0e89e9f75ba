/* sipwarden-bench: the SIP messages of one flow. Builds the REGISTERs (the
 * same fields as bench/sipp/reg_new.xml), answers digest challenges with the
 * library's digest code, and decodes responses back to their flow through the
 * Call-ID "<run>-<thread>-<slot>-<gen>@<ip>". */
#include "bench/bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "base/util.h"

void bench_put_id(struct sip_buf *b, const struct bench_cfg *cfg, unsigned thread, uint32_t slot, uint32_t gen)
{
	sip_buf_u64(b, cfg->run_id);
	sip_buf_put(b, "-", 1);
	sip_buf_u64(b, thread);
	sip_buf_put(b, "-", 1);
	sip_buf_u64(b, slot);
	sip_buf_put(b, "-", 1);
	sip_buf_u64(b, gen);
}

void bench_put_host(struct sip_buf *b, const struct bench_local *lo)
{
	if (lo->v6) {
		sip_buf_put(b, "[", 1);
		sip_buf_puts(b, lo->ip);
		sip_buf_put(b, "]", 1);
	} else {
		sip_buf_puts(b, lo->ip);
	}
}

static void put_nc(struct sip_buf *b, uint32_t nc)
{
	static const char hex[] = "0123456789abcdef";
	char s[8];

	for (int i = 7; i >= 0; i--, nc >>= 4)
		s[i] = hex[nc & 15];
	sip_buf_put(b, s, 8);
}

int bench_put_auth(struct sip_buf *b, const struct bench_cfg *cfg, const char *hdr, const char *method,
		   const char *uri, uint32_t user, uint32_t slot, uint32_t gen, uint32_t nc,
		   const struct bench_chal *chal)
{
	const char *name = cfg->users[user];
	char ha1[SW_MAX_HASH_HEX + 1], resp[SW_MAX_HASH_HEX + 1];
	char ncs[9], cnonce[24];
	struct sip_buf t;
	enum auth_algo algo = (enum auth_algo)chal->algo;
	size_t hexlen = auth_algo_hexlen(algo);

	if (algo == AUTH_ALGO_MD5) {
		memcpy(ha1, cfg->ha1[user], 33);
	} else {
		char pw[SW_MAX_PASSWORD + 1];
		int n = bench_format_user(cfg->pass_fmt, cfg->first_user + user, pw, sizeof(pw));

		if (n < 0)
			return n;
		auth_digest_ha1(algo, slice_cstr(name), slice_cstr(cfg->realm), slice_from(pw, (size_t)n), ha1);
		base_wipe(pw, sizeof(pw));
	}
	sip_buf_init(&t, ncs, sizeof(ncs));
	put_nc(&t, nc);
	sip_buf_init(&t, cnonce, sizeof(cnonce));
	sip_buf_u64(&t, slot);
	sip_buf_put(&t, "x", 1);
	sip_buf_u64(&t, gen);
	struct auth_digest_in in = {
		.algo = algo,
		.ha1 = slice_from(ha1, hexlen),
		.nonce = slice_from(chal->nonce, chal->nonce_len),
		.nc = chal->qop_auth ? slice_from(ncs, 8) : SLICE_NULL,
		.cnonce = chal->qop_auth ? slice_from(cnonce, t.len) : SLICE_NULL,
		.qop = chal->qop_auth ? slice_cstr("auth") : SLICE_NULL,
		.method = slice_cstr(method),
		.uri = slice_from(uri, strlen(uri)),
	};
	int rc = auth_digest_response(&in, resp);

	memset(ha1, 0, sizeof(ha1));
	if (rc)
		return rc;
	sip_buf_puts(b, hdr);
	sip_buf_puts(b, ": Digest username=\"");
	sip_buf_puts(b, name);
	sip_buf_puts(b, "\", realm=\"");
	sip_buf_puts(b, cfg->realm);
	sip_buf_puts(b, "\", nonce=\"");
	sip_buf_put(b, chal->nonce, chal->nonce_len);
	sip_buf_puts(b, "\", uri=\"");
	sip_buf_puts(b, uri);
	sip_buf_puts(b, "\", response=\"");
	sip_buf_put(b, resp, hexlen);
	sip_buf_puts(b, algo == AUTH_ALGO_MD5 ? "\", algorithm=MD5" : "\", algorithm=SHA-256");
	if (chal->qop_auth) {
		sip_buf_puts(b, ", cnonce=\"");
		sip_buf_put(b, cnonce, t.len);
		sip_buf_puts(b, "\", qop=auth, nc=");
		sip_buf_put(b, ncs, 8);
	}
	if (chal->opaque_len) {
		sip_buf_puts(b, ", opaque=\"");
		sip_buf_put(b, chal->opaque, chal->opaque_len);
		sip_buf_put(b, "\"", 1);
	}
	sip_buf_puts(b, "\r\n");
	return 0;
}

int bench_req_build(const struct bench_cfg *cfg, const struct bench_local *lo, unsigned thread, uint32_t slot,
		    uint32_t gen, uint32_t user, uint32_t cseq, uint32_t nc, const struct bench_chal *chal,
		    char *out, size_t cap)
{
	const char *name = cfg->users[user];
	struct sip_buf b;

	sip_buf_init(&b, out, cap);
	sip_buf_puts(&b, "REGISTER sip:");
	sip_buf_puts(&b, cfg->domain);
	sip_buf_puts(&b, cfg->tcp ? " SIP/2.0\r\nVia: SIP/2.0/TCP " : " SIP/2.0\r\nVia: SIP/2.0/UDP ");
	bench_put_host(&b, lo);
	sip_buf_put(&b, ":", 1);
	sip_buf_u64(&b, lo->port);
	sip_buf_puts(&b, ";branch=z9hG4bK-");
	bench_put_id(&b, cfg, thread, slot, gen);
	sip_buf_put(&b, "-", 1);
	sip_buf_u64(&b, cseq);
	sip_buf_puts(&b, ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:");
	sip_buf_puts(&b, name);
	sip_buf_put(&b, "@", 1);
	sip_buf_puts(&b, cfg->domain);
	sip_buf_puts(&b, ">;tag=");
	bench_put_id(&b, cfg, thread, slot, gen);
	sip_buf_puts(&b, "\r\nTo: <sip:");
	sip_buf_puts(&b, name);
	sip_buf_put(&b, "@", 1);
	sip_buf_puts(&b, cfg->domain);
	sip_buf_puts(&b, ">\r\nCall-ID: ");
	bench_put_id(&b, cfg, thread, slot, gen);
	sip_buf_put(&b, "@", 1);
	bench_put_host(&b, lo);
	sip_buf_puts(&b, "\r\nCSeq: ");
	sip_buf_u64(&b, cseq);
	sip_buf_puts(&b, " REGISTER\r\nContact: <sip:");
	sip_buf_puts(&b, name);
	sip_buf_put(&b, "@", 1);
	bench_put_host(&b, lo);
	sip_buf_puts(&b, ">\r\nExpires: ");
	sip_buf_u64(&b, cfg->expires);
	sip_buf_puts(&b, "\r\n");
	if (cseq >= 2) {
		char uri[SW_MAX_DOMAIN + 8];
		int rc;

		snprintf(uri, sizeof(uri), "sip:%s", cfg->domain);
		rc = bench_put_auth(&b, cfg, "Authorization", "REGISTER", uri, user, slot, gen, nc, chal);

		if (rc)
			return rc;
	}
	sip_buf_puts(&b, "User-Agent: sipwarden-bench\r\nContent-Length: 0\r\n\r\n");
	if (b.overflow)
		return -ENOSPC;
	return (int)b.len;
}

/* Decimal u32 from *p up to stop; advances *p past stop. */
static int take_u32(const char **p, const char *end, char stop, uint32_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return -1;
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s++ - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (s >= end || *s != stop)
		return -1;
	*p = s + 1;
	*out = (uint32_t)v;
	return 0;
}

int bench_resp_parse(const struct bench_cfg *cfg, unsigned thread, char *buf, size_t len, struct sip_msg *msg,
		     struct bench_resp *out)
{
	struct sip_parse_err err;
	uint32_t run, th;

	if (sip_msg_parse(msg, buf, len, &err) || msg->is_request)
		return -EBADMSG;
	const char *p = msg->call_id.p, *end = p + msg->call_id.len;

	if (take_u32(&p, end, '-', &run) || run != cfg->run_id || take_u32(&p, end, '-', &th) || th != thread ||
	    take_u32(&p, end, '-', &out->slot) || take_u32(&p, end, '@', &out->gen))
		return -ENOENT;
	out->method = msg->cseq_method;
	out->status = msg->status;
	out->cseq = msg->cseq;
	return 0;
}

static bool has_qop_auth(struct slice qop)
{
	struct slice cur = qop;

	while (cur.len) {
		size_t i = 0;

		while (i < cur.len && cur.p[i] != ',')
			i++;
		if (slice_caseeq_cstr(slice_trim(slice_from(cur.p, i)), "auth"))
			return true;
		cur = i < cur.len ? slice_from(cur.p + i + 1, cur.len - i - 1) : SLICE_NULL;
	}
	return false;
}

int bench_resp_chal(const struct bench_cfg *cfg, const struct sip_msg *msg, enum sip_hdr_id which,
		    struct bench_chal *out)
{
	struct sip_digest_chal c, pick;
	enum auth_algo best = AUTH_ALGO__COUNT;

	for (const struct sip_hdr *h = sip_msg_hdr(msg, which); h; h = sip_msg_hdr_next(msg, h)) {
		enum auth_algo a;

		if (sip_digest_chal_parse(&c, h->value))
			continue;
		if (auth_algo_parse(c.algorithm, &a))
			continue;
		if (a != AUTH_ALGO_MD5 && a != AUTH_ALGO_SHA256)
			continue;
		if (c.qop.len && !has_qop_auth(c.qop))
			continue;
		if (c.userhash || c.nonce.len > BENCH_MAX_NONCE || c.opaque.len > BENCH_MAX_NONCE)
			continue;
		if (best == AUTH_ALGO__COUNT || (a == AUTH_ALGO_MD5 && best != AUTH_ALGO_MD5)) {
			best = a;
			pick = c;
		}
	}
	if (best == AUTH_ALGO__COUNT)
		return -ENOENT;
	if (!slice_eq_cstr(pick.realm, cfg->realm))
		return -EPERM;
	out->algo = best == AUTH_ALGO_MD5 ? BENCH_ALGO_MD5 : BENCH_ALGO_SHA256;
	out->qop_auth = pick.qop.len != 0;
	out->nonce_len = (uint8_t)pick.nonce.len;
	memcpy(out->nonce, pick.nonce.p, pick.nonce.len);
	out->opaque_len = (uint8_t)pick.opaque.len;
	if (pick.opaque.len)
		memcpy(out->opaque, pick.opaque.p, pick.opaque.len);
	return 0;
}
