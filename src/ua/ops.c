/* Operations of the UA: REGISTER (with refresh), out-of-dialog requests and
 * INVITE/BYE, and what their final responses mean. Built-in security handling
 * lives here: answer every challenge of a 401/407 once per realm (RFC 3261
 * §22.2-§22.3), retry once more on stale=true, and give up after that. */
#include "ua/ua_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static void op_clear(struct ua_op *op)
{
	free(op->target);
	free(op->extra);
	free(op->body);
	free(op->ctype);
	memset(op, 0, sizeof(*op));
}

static void finish(struct sw_ua *ua, enum sw_ua_class cls, int status, struct slice reason)
{
	struct sw_ua_result *r = &ua->op.res;

	ua->txn.active = false;
	r->cls = cls;
	r->status = status;
	if (reason.len >= sizeof(r->reason))
		reason.len = sizeof(r->reason) - 1;
	memcpy(r->reason, reason.p, reason.len);
	r->reason[reason.len] = '\0';
	ua->op.finished = true;
}

void ua_op_fail(struct sw_ua *ua, enum sw_ua_class cls, const char *why)
{
	finish(ua, cls, 0, slice_cstr(why));
}

void ua_op_deliver(struct sw_ua *ua)
{
	struct sw_ua_result res;
	sw_ua_done_fn done;
	void *arg;
	bool refresh;

	if (!ua->op.finished)
		return;
	res = ua->op.res;
	done = ua->op.done;
	arg = ua->op.arg;
	refresh = ua->op.refresh;
	op_clear(&ua->op);
	/* Cleared first, so the callback may start the next operation. */
	if (refresh && ua->on_refresh)
		ua->on_refresh(ua, &res, ua->refresh_arg);
	else if (!refresh && done)
		done(ua, &res, arg);
}

static void new_dialog(struct ua_dialog *d)
{
	memset(d, 0, sizeof(*d));
	ua_rand_hex(d->call_id, 16);
	ua_rand_hex(d->local_tag, 8);
}

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* Open the connection and send the first request of the operation in ua->op. */
static int op_launch(struct sw_ua *ua)
{
	int err = ua_conn_open(ua);

	if (!err) {
		ua->txn.cseq = ++ua->op.dlg->cseq;
		err = ua_txn_start(ua);
	}
	if (err == -ENOSPC || err == -EINVAL) {
		op_clear(&ua->op);
		return err;
	}
	if (err) {
		char why[sizeof(ua->conn_err) + 32];

		ua_conn_why(ua, err, why, sizeof(why));
		ua_op_fail(ua, SW_UA_TRANSPORT, why);
	}
	return 0;
}

static int op_init(struct sw_ua *ua, const char *method, const char *target, const char *extra,
		   const char *body, size_t body_len, const char *ctype, sw_ua_done_fn done, void *arg)
{
	struct ua_op *op = &ua->op;
	bool oom = false;

	if (op->kind != UA_OP_NONE)
		return -EBUSY;
	if (!method || !method[0] || strlen(method) >= sizeof(op->method_name) || !target ||
	    strpbrk(method, " \r\n") || strpbrk(target, " \r\n<>") || (body_len && !ctype))
		return -EINVAL;
	memset(op, 0, sizeof(*op));
	strcpy(op->method_name, method);
	op->method = sip_method_from(slice_cstr(method));
	op->target = dup_or_null(target, &oom);
	op->extra = dup_or_null(extra, &oom);
	op->ctype = dup_or_null(ctype, &oom);
	if (body_len) {
		op->body = malloc(body_len);
		if (op->body)
			memcpy(op->body, body, body_len);
		else
			oom = true;
		op->body_len = body_len;
	}
	if (oom) {
		op_clear(op);
		return -ENOMEM;
	}
	op->done = done;
	op->arg = arg;
	op->res.expires = -1;
	return 0;
}

static int register_start(struct sw_ua *ua, unsigned expires, bool wildcard, const char *extra_headers,
			  sw_ua_done_fn done, void *arg)
{
	char ruri[SW_MAX_DOMAIN + 80];
	int err;

	if (!ua)
		return -EINVAL;
	snprintf(ruri, sizeof(ruri), "%s:%s", ua->sips ? "sips" : "sip", ua->domain);
	err = op_init(ua, "REGISTER", ruri, extra_headers, NULL, 0, NULL, done, arg);
	if (err)
		return err;
	ua->op.kind = UA_OP_REGISTER;
	ua->op.expires = expires;
	ua->op.wildcard = wildcard;
	ua->op.dlg = &ua->reg.d;
	ua->reg.expires = expires;
	ua->reg.refresh_ms = 0;
	return op_launch(ua);
}

int sw_ua_register_start(struct sw_ua *ua, unsigned expires, const char *extra_headers,
			 sw_ua_done_fn done, void *arg)
{
	return register_start(ua, expires, false, extra_headers, done, arg);
}

int sw_ua_unregister_all_start(struct sw_ua *ua, const char *extra_headers, sw_ua_done_fn done, void *arg)
{
	return register_start(ua, 0, true, extra_headers, done, arg);
}

int sw_ua_request_start(struct sw_ua *ua, const struct sw_ua_req *req, sw_ua_done_fn done, void *arg)
{
	char server[300];
	const char *target;
	int err;

	if (!ua || !req)
		return -EINVAL;
	if (req->method && strcasecmp(req->method, "BYE") == 0)
		return sw_ua_bye_start(ua, req->extra_headers, done, arg);
	if (req->method && (strcasecmp(req->method, "REGISTER") == 0 || strcasecmp(req->method, "ACK") == 0))
		return -EINVAL; /* REGISTER has its own call; ACK is sent by the transaction */
	snprintf(server, sizeof(server), strchr(ua->server_host, ':') ? "%s:[%s]:%u%s" : "%s:%s:%u%s",
		 ua->sips ? "sips" : "sip", ua->server_host, ua->server_port,
		 ua->transport == SW_UA_TLS && !ua->sips ? ";transport=tls" : "");
	target = req->target ? req->target : server;
	if (strlen(target) >= sizeof(ua->dlg.remote_uri))
		return -EINVAL;
	err = op_init(ua, req->method, target, req->extra_headers, req->body, req->body ? req->body_len : 0,
		      req->content_type, done, arg);
	if (err)
		return err;
	ua->op.kind = UA_OP_REQUEST;
	if (ua->op.method == SIP_INVITE) {
		new_dialog(&ua->dlg);
		(void)ua_copy(ua->dlg.remote_uri, sizeof(ua->dlg.remote_uri), target); /* length checked above */
		ua->op.dlg = &ua->dlg;
	} else {
		new_dialog(&ua->ood);
		ua->op.dlg = &ua->ood;
	}
	return op_launch(ua);
}

int sw_ua_bye_start(struct sw_ua *ua, const char *extra_headers, sw_ua_done_fn done, void *arg)
{
	int err;

	if (!ua)
		return -EINVAL;
	if (!ua->dlg.confirmed)
		return -ENOTCONN;
	err = op_init(ua, "BYE", ua->dlg.remote_target[0] ? ua->dlg.remote_target : ua->dlg.remote_uri,
		      extra_headers, NULL, 0, NULL, done, arg);
	if (err)
		return err;
	ua->op.kind = UA_OP_REQUEST;
	ua->op.in_dialog = true;
	ua->op.dlg = &ua->dlg;
	return op_launch(ua);
}

static struct ua_try *try_for(struct ua_op *op, const struct sw_ua_challenge *ch)
{
	for (unsigned i = 0; i < op->ntries; i++)
		if (op->tries[i].proxy == ch->proxy && strcmp(op->tries[i].realm, ch->realm) == 0)
			return &op->tries[i];
	if (op->ntries == UA_MAX_NONCES)
		return NULL;
	op->tries[op->ntries].proxy = ch->proxy;
	memcpy(op->tries[op->ntries].realm, ch->realm, sizeof(ch->realm));
	return &op->tries[op->ntries++];
}

/* Collect every WWW-/Proxy-Authenticate Digest challenge into the result. */
static void collect(struct sw_ua *ua, const struct sip_msg *resp)
{
	struct sw_ua_result *r = &ua->op.res;
	static const enum sip_hdr_id ids[2] = { SIP_HDR_WWW_AUTHENTICATE, SIP_HDR_PROXY_AUTHENTICATE };

	r->nchallenges = 0;
	for (int k = 0; k < 2; k++) {
		for (const struct sip_hdr *h = sip_msg_hdr(resp, ids[k]); h; h = sip_msg_hdr_next(resp, h)) {
			struct sw_ua_challenge *ch = &r->challenges[r->nchallenges];
			char val[SW_MAX_HEADER_LEN];

			if (r->nchallenges == SW_UA_MAX_CHALLENGES)
				return;
			if (slice_copy(h->value, val, sizeof(val)) != 0 ||
			    sw_ua_challenge_parse(ch, val, ids[k] == SIP_HDR_PROXY_AUTHENTICATE) != 0)
				continue; /* not Digest, or unusable: other challenges may still do */
			ch->status = resp->status;
			snprintf(ch->method, sizeof(ch->method), "%s", ua->op.method_name);
			snprintf(ch->uri, sizeof(ch->uri), "%s", ua->op.target);
			r->nchallenges++;
		}
	}
}

/* Answer a 401/407 with built-in handling. true when the request was re-sent;
 * false with *why set when the operation must end as an auth failure. */
static bool answer(struct sw_ua *ua, const char **why)
{
	struct sw_ua_result *r = &ua->op.res;
	bool done[SW_UA_MAX_CHALLENGES] = { false };
	unsigned answered = 0;

	if (r->nchallenges == 0) {
		*why = "challenge without a usable Digest header";
		return false;
	}
	if (++ua->op.rounds > UA_MAX_ROUNDS) {
		*why = "too many challenges";
		return false;
	}
	/* RFC 3261 §22.3: each realm (per header kind) gets exactly one answer,
	 * with the strongest algorithm our credentials for it can compute. */
	for (unsigned i = 0; i < r->nchallenges; i++) {
		struct sw_ua_challenge group[SW_UA_MAX_CHALLENGES];
		const struct ua_cred *c;
		unsigned n = 0;
		struct ua_try *t;
		int best;

		if (done[i])
			continue;
		c = ua_cred_find(ua, r->challenges[i].realm);
		for (unsigned j = i; j < r->nchallenges; j++) {
			const struct sw_ua_challenge *cj = &r->challenges[j];

			if (cj->proxy != r->challenges[i].proxy || strcmp(cj->realm, r->challenges[i].realm))
				continue;
			done[j] = true;
			if (c && cj->algo_known && ua_cred_can(c, cj->algo))
				group[n++] = *cj;
		}
		if (!c) {
			*why = "no credentials for the realm";
			return false;
		}
		best = sw_ua_challenge_pick(group, n);
		if (best < 0) {
			*why = "no supported algorithm offered";
			return false;
		}
		t = try_for(&ua->op, &group[best]);
		if (!t) {
			*why = "too many realms";
			return false;
		}
		/* stale=true: our credentials were right, only the nonce aged
		 * (RFC 7616 §3.3); one silent retry. Otherwise a second challenge
		 * for a realm we answered means the credentials were refused. */
		if (group[best].stale && t->stale < 1 && (t->answered || ua->op.sent_auth)) {
			t->stale++;
		} else if (t->answered) {
			*why = "credentials rejected";
			return false;
		} else {
			t->answered++;
		}
		if (ua_nonce_store(ua, &group[best]) != 0) {
			*why = "too many realms";
			return false;
		}
		answered++;
	}
	return answered > 0;
}

static int contact_expires(struct sw_ua *ua, const struct sip_msg *resp)
{
	for (const struct sip_hdr *h = sip_msg_hdr(resp, SIP_HDR_CONTACT); h; h = sip_msg_hdr_next(resp, h)) {
		struct slice cur = h->value, v;
		struct sip_addr a;
		uint64_t e;

		while (sip_addr_list_next(&cur, &a) == 1) {
			char host[64];

			if (slice_copy(a.uri.host, host, sizeof(host)) != 0)
				continue;
			if (host[0] == '[') {
				memmove(host, host + 1, strlen(host));
				host[strcspn(host, "]")] = '\0';
			}
			if (strcasecmp(host, ua->local_ip) != 0 || a.uri.port != ua->local_port)
				continue;
			if (sip_param_find(a.params, "expires", &v) == 0 && slice_to_u64(v, 1u << 30, &e) == 0)
				return (int)e;
		}
	}
	return resp->expires >= 0 ? (int)resp->expires : -1;
}

static void reg_done(struct sw_ua *ua, const struct sip_msg *resp)
{
	int e = contact_expires(ua, resp);

	if (ua->op.expires == 0) {
		ua->reg.registered = false;
		ua->reg.refresh_ms = 0;
		ua->op.res.expires = 0;
		return;
	}
	if (e < 0)
		e = (int)ua->op.expires;
	ua->op.res.expires = e;
	ua->reg.registered = e > 0;
	/* Refresh well before expiry: half-way for short ones, 30 s early otherwise. */
	ua->reg.refresh_ms = e > 0 ? base_mono_ms() + (e <= 60 ? (uint64_t)e * 500 : (uint64_t)(e - 30) * 1000)
				   : 0;
	ua->reg.expires = (unsigned)e;
}

/* RFC 3261 §12.1.2: the UAC's route set is the 2xx's Record-Route entries in
 * reverse order; ACK and BYE then carry them as Route (loose routing, the
 * Request-URI stays the remote target). false when it does not fit. */
static bool save_route_set(struct ua_dialog *d, const struct sip_msg *resp)
{
	struct sip_addr rr[UA_MAX_ROUTES];
	unsigned n = 0;
	struct sip_buf b;

	d->route[0] = '\0';
	for (const struct sip_hdr *h = sip_msg_hdr(resp, SIP_HDR_RECORD_ROUTE); h; h = sip_msg_hdr_next(resp, h)) {
		struct slice cur = h->value;
		struct sip_addr a;
		int r;

		while ((r = sip_addr_list_next(&cur, &a)) == 1) {
			if (n == UA_MAX_ROUTES)
				return false;
			rr[n++] = a;
		}
		if (r < 0)
			return false;
	}
	sip_buf_init(&b, d->route, sizeof(d->route) - 1);
	for (unsigned i = n; i-- > 0;) {
		sip_buf_puts(&b, i + 1 == n ? "<" : ", <");
		sip_buf_slice(&b, rr[i].uri_str);
		sip_buf_puts(&b, ">");
		sip_buf_slice(&b, rr[i].params);
	}
	if (b.overflow) {
		d->route[0] = '\0';
		return false;
	}
	d->route[b.len] = '\0';
	return true;
}

static void invite_final(struct sw_ua *ua, const struct sip_msg *resp)
{
	size_t len;

	if (resp->status >= 200 && resp->status < 300) {
		const struct sip_hdr *h = sip_msg_hdr(resp, SIP_HDR_CONTACT);
		struct sip_addr a;

		slice_copy(resp->to.tag, ua->dlg.remote_tag, sizeof(ua->dlg.remote_tag));
		ua->dlg.remote_target[0] = '\0';
		if (h) {
			struct slice cur = h->value;

			if (sip_addr_list_next(&cur, &a) == 1)
				slice_copy(a.uri_str, ua->dlg.remote_target, sizeof(ua->dlg.remote_target));
		}
		(void)save_route_set(&ua->dlg, resp); /* too long: requests go without it */
		ua->dlg.confirmed = true;
	}
	if (ua_msg_ack(ua, resp, ua->tmp, sizeof(ua->tmp), &len) == 0)
		(void)ua_conn_send(ua, ua->tmp, len);
}

void ua_op_response(struct sw_ua *ua, struct sip_msg *resp)
{
	struct ua_op *op = &ua->op;
	enum sw_ua_class cls;
	const char *why = NULL;

	if (!ua->txn.active || op->finished || !slice_eq_cstr(resp->via1.branch, ua->txn.branch) ||
	    resp->cseq != ua->txn.cseq) {
		/* A retransmitted 2xx to our INVITE: its ACK got lost (RFC 3261 §13.2.2.4). */
		size_t len;

		if (resp->cseq_method == SIP_INVITE && resp->status >= 200 && resp->status < 300 &&
		    ua->dlg.confirmed && slice_eq_cstr(resp->call_id, ua->dlg.call_id) &&
		    ua_msg_ack(ua, resp, ua->tmp, sizeof(ua->tmp), &len) == 0)
			(void)ua_conn_send(ua, ua->tmp, len);
		return;
	}
	if (resp->status < 200) {
		ua->txn.proceeding = true;
		if (ua->txn.invite) {
			/* §17.1.1.2: a 1xx stops Timer A; the callee may ring for long. */
			ua->txn.next_retx_ms = 0;
			ua->txn.deadline_ms = base_mono_ms() + 6 * (uint64_t)ua->timeout_ms;
		} else if (ua->txn.next_retx_ms) {
			ua->txn.next_retx_ms = base_mono_ms() + ua->t2_ms;
		}
		return;
	}
	ua->txn.active = false;
	if (ua->txn.invite)
		invite_final(ua, resp);
	ua_nonce_next(ua, resp);

	if (resp->status == 401 || resp->status == 407) {
		collect(ua, resp);
		if (!ua->security) {
			if (ua->on_chal)
				ua->on_chal(ua, op->res.challenges, op->res.nchallenges, ua->chal_arg);
			finish(ua, SW_UA_AUTH_FAILED, resp->status, resp->reason);
			return;
		}
		if (answer(ua, &why)) {
			int err;

			ua->txn.cseq = ++op->dlg->cseq; /* §22.2: same Call-ID, CSeq + 1 */
			err = ua_txn_start(ua);
			if (err)
				ua_op_fail(ua, SW_UA_TRANSPORT, "transport error on re-send");
			return;
		}
		finish(ua, SW_UA_AUTH_FAILED, resp->status, resp->reason);
		snprintf(op->res.reason + strlen(op->res.reason),
			 sizeof(op->res.reason) - strlen(op->res.reason), " (%s)", why);
		return;
	}
	if (resp->status < 300) {
		cls = SW_UA_OK;
		if (op->kind == UA_OP_REGISTER)
			reg_done(ua, resp);
		if (op->in_dialog && op->method == SIP_BYE)
			ua->dlg.confirmed = false;
	} else if (resp->status == 403 && op->sent_auth) {
		cls = SW_UA_AUTH_FAILED; /* credentials were sent and refused */
	} else {
		cls = SW_UA_SIP_FAILURE;
	}
	if (op->in_dialog && (resp->status == 481 || resp->status == 408))
		ua->dlg.confirmed = false;
	finish(ua, cls, resp->status, resp->reason);
}

void ua_incoming_request(struct sw_ua *ua, struct sip_msg *req)
{
	struct sip_buf b;
	int code = 200;

	switch (req->method) {
	case SIP_ACK:
		return;
	case SIP_BYE:
		if (ua->dlg.confirmed && slice_eq_cstr(req->call_id, ua->dlg.call_id))
			ua->dlg.confirmed = false;
		else
			code = 481;
		break;
	case SIP_OPTIONS:
	case SIP_MESSAGE:
	case SIP_NOTIFY:
		break;
	default:
		code = 501;
		break;
	}
	sip_buf_init(&b, ua->tmp, sizeof(ua->tmp));
	if (sip_reply_build(&b, req, code, sip_reason_phrase(code),
			    ua->dlg.local_tag[0] ? ua->dlg.local_tag : "ua", NULL, NULL) == 0)
		(void)ua_conn_send(ua, ua->tmp, b.len);
}
