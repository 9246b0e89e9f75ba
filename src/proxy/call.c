/* Stateful forwarding of one request (RFC 3261 §16.7, §16.10): branches to
 * every target in parallel, provisional responses relayed at once, 2xx relayed
 * at once (and the other branches cancelled), 6xx ends the search, otherwise
 * the best final response is sent when every branch has answered: 6xx first,
 * then the lowest class (§16.7 step 6), a 503 becoming 500, a 401/407 with
 * every branch's challenges (merge.c). A call lives
 * while any of its transactions does (refs). */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

struct proxy_call *proxy_call_new(struct proxy_worker *pw, struct txn_server *st, enum sip_method method)
{
	struct proxy_call *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->pw = pw;
	c->st = st;
	c->method = method;
	c->refs = 1;
	txn_server_set_user(st, c);
	return c;
}

void proxy_call_unref(struct proxy_call *c)
{
	if (--c->refs)
		return;
	free(c->best);
	free(c->chal);
	free(c);
}

int proxy_call_branch(struct proxy_call *c, const char *branch, const struct tp_dest *dst, const char *req,
		      size_t len)
{
	struct txn_client *ct;

	if (c->nbranches == PROXY_MAX_BRANCHES)
		return -ENOSPC;
	int err = txn_client_start(&ct, c->pw->tl, c->method, branch, dst, req, len, c);
	if (err)
		return err;
	c->ct[c->nbranches] = ct;
	c->code[c->nbranches] = 0;
	c->nbranches++;
	c->refs++;
	return 0;
}

void proxy_call_cancel(struct proxy_call *c)
{
	if (c->resolving && !c->final_sent && c->st && txn_server_request(c->st, &c->pw->rmsg) == 0) {
		c->final_sent = true;
		proxy_reply(c->pw, c->st, &c->pw->rmsg, 487, "Request Terminated", NULL);
	}
	for (unsigned i = 0; i < c->nbranches; i++)
		if (c->ct[i] && c->code[i] == 0)
			txn_client_cancel(c->ct[i]);
}

void proxy_call_started(struct proxy_call *c, const struct sip_msg *req, int fail_code, const char *fail_reason)
{
	if (c->nbranches == 0 && c->st) {
		proxy_reply(c->pw, c->st, req, fail_code, fail_reason, NULL);
		c->final_sent = true;
	}
}

/* §16.7 step 6 ranking: lower is better. Among 4xx the ones the caller can
 * act on (401, 407, 415, 420, 484) come first. */
static int rank(int code)
{
	int cls = code / 100;
	if (cls == 6)
		return 0;
	if (cls == 2)
		return 10;
	if (cls == 4)
		return code == 401 || code == 407 || code == 415 || code == 420 || code == 484 ? 40 : 41;
	return cls * 10;
}

static int branch_of(const struct proxy_call *c, const struct txn_client *ct)
{
	for (unsigned i = 0; i < c->nbranches; i++)
		if (c->ct[i] == ct)
			return (int)i;
	return -1;
}

static bool all_done(const struct proxy_call *c)
{
	for (unsigned i = 0; i < c->nbranches; i++)
		if (c->code[i] == 0)
			return false;
	return true;
}

/* Send the stored best response, or a local one when none was kept. */
static void finish(struct proxy_call *c)
{
	if (c->final_sent || !c->st)
		return;
	c->final_sent = true;
	if (c->best) {
		int err = proxy_merge_apply(c, c->pw->out, sizeof(c->pw->out));
		if (err)
			LOG_DBG("challenges not merged: %s", strerror(-err));
		txn_server_send(c->st, c->best_code, c->best, c->best_len);
		return;
	}
	struct sip_msg *req = &c->pw->rmsg;
	if (txn_server_request(c->st, req) == 0)
		proxy_reply(c->pw, c->st, req, c->best_code ? c->best_code : 408,
			    sip_reason_phrase(c->best_code ? c->best_code : 408), NULL);
}

static bool only_our_via(const struct sip_msg *rsp)
{
	const struct sip_hdr *h = sip_msg_hdr(rsp, SIP_HDR_VIA);
	struct sip_via v;
	struct slice rest;

	if (!h || sip_via_parse(&v, h->value, &rest))
		return true;
	return rest.len == 0 && !sip_msg_hdr_next(rsp, h);
}

static void on_response(struct txn_client *ct, const struct sip_msg *rsp, void *user)
{
	struct proxy_call *c = user;
	struct proxy_worker *pw = c->pw;
	int i = branch_of(c, ct);
	int code = rsp->status;
	struct sip_buf b;

	if (i < 0)
		return;
	/* RFC 3261 §16.7 step 3: our Via goes. The 100 stays hop-by-hop (step 5). */
	if (code == 100)
		return;
	sip_buf_init(&b, pw->out, sizeof(pw->out));
	if (proxy_build_response(&b, rsp)) {
		LOG_DBG("response %d not relayed: cannot rebuild", code);
		return;
	}
	if (code < 200) {
		if (!c->final_sent && c->st)
			txn_server_send(c->st, code, b.p, b.len);
		return;
	}
	if (code < 300) {
		/* 2xx: relayed at once, retransmissions too (§16.7 step 5; the
		 * ACK and any later 2xx are end-to-end). */
		c->code[i] = code;
		if (c->st) {
			if (!c->final_sent)
				txn_server_send(c->st, code, b.p, b.len);
			else
				tp_send_reply(txn_server_src(c->st), b.p, b.len);
		}
		c->final_sent = true;
		proxy_call_cancel(c);
		return;
	}
	c->code[i] = code;
	if (proxy_merge_collect(c, rsp))
		LOG_DBG("challenges of a %d not all kept", code);
	if (only_our_via(rsp)) {
		/* A UAS that answered with the Via of our CANCEL (not of the
		 * INVITE) left nothing to route upstream: answer from the request. */
		if (!c->best && (!c->best_code || rank(code) < rank(c->best_code)))
			c->best_code = code;
	} else if (!c->best || rank(code) < rank(c->best_code)) {
		char *p = realloc(c->best, b.len);
		if (p) {
			memcpy(p, b.p, b.len);
			c->best = p;
			c->best_len = b.len;
			c->best_code = code;
		}
	}
	if (code >= 600)
		proxy_call_cancel(c); /* §16.7 step 5: 6xx ends the search */
	if (code >= 600 || all_done(c)) {
		if (c->best_code == 503 && c->best) {
			/* §16.7 step 6: a 503 is not passed upstream as is. */
			free(c->best);
			c->best = NULL;
			c->best_code = 500;
		}
		finish(c);
	}
}

static void on_timeout(struct txn_client *ct, void *user)
{
	struct proxy_call *c = user;
	int i = branch_of(c, ct);

	if (i < 0)
		return;
	c->code[i] = 408;
	if (!c->best && !c->best_code)
		c->best_code = 408;
	if (all_done(c))
		finish(c);
}

static void on_gone(void *user, bool server, void *txn)
{
	struct proxy_call *c = user;

	if (server) {
		c->st = NULL;
	} else {
		int i = branch_of(c, txn);
		if (i >= 0) {
			c->ct[i] = NULL;
			if (c->code[i] == 0)
				c->code[i] = 408;
		}
	}
	proxy_call_unref(c);
}

const struct txn_ops proxy_txn_ops = {
	.on_response = on_response,
	.on_timeout = on_timeout,
	.on_gone = on_gone,
};
