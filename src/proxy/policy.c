/* Authentication policy for proxied requests (seed 001 route[AUTH], RFC 3261
 * §22.3): trusted peers pass; requests whose From domain is served here are
 * challenged with 407 + Proxy-Authenticate and verified with the same digest
 * core as REGISTER; the authenticated user must be the From user; a disabled
 * account gets 403. ACK and CANCEL are never challenged (they cannot be
 * resubmitted with credentials, §22.1). In-dialog requests are challenged
 * only with challenge_in_dialog; otherwise credentials they carry are checked
 * on demand (proxy_policy_prove) without answering. Never logs credentials. */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"

/* Through st, or without a transaction when st is NULL (a challenge-only
 * request, proxy.c). */
static void answer(struct proxy_worker *pw, struct txn_server *st, const struct tp_src *src,
		   const struct sip_msg *msg, int code, const char *reason, const char *extra)
{
	if (st)
		proxy_reply(pw, st, msg, code, reason, extra);
	else
		proxy_reply_stateless(pw, src, msg, code, reason, extra);
}

static void challenge(struct proxy_worker *pw, struct txn_server *st, const struct tp_src *src,
		      const struct sip_msg *msg, struct slice realm, bool stale, const char *ip, uint64_t now)
{
	struct sip_buf h;

	sip_buf_init(&h, pw->hdrs, sizeof(pw->hdrs));
	if (auth_challenge_add(pw->p->auth, realm, stale, true, ip, now, &h) || (sip_buf_put(&h, "", 1), h.overflow)) {
		answer(pw, st, src, msg, 500, "Challenge Too Large", NULL);
		return;
	}
	answer(pw, st, src, msg, 407, "Proxy Authentication Required", h.p);
}

/* The digest check of a local caller, realm = its From domain in lower case
 * ($fd: stored HA1s use it). 0: authenticated, caller filled. Else the
 * status to answer: 407 (*stale), 403 (*reason), 400 or 503; or -1 for no
 * answer at all (a slowed or dropped source). ip is the source's text. */
static int prove(struct proxy_worker *pw, const struct sip_msg *msg, const char *ip, struct proxy_caller *caller,
		 const char **reason, bool *stale)
{
	const struct sip_uri *from = &msg->from.uri;

	for (size_t i = 0; i < from->host.len; i++) {
		char c = from->host.p[i];
		caller->realm[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	caller->realm[from->host.len] = '\0';
	struct slice realm = slice_from(caller->realm, from->host.len);
	struct auth_result res;
	memset(&res, 0, sizeof(res));
	struct auth_req areq = {
		.msg = msg,
		.hdr = SIP_HDR_PROXY_AUTHORIZATION,
		.realm = realm,
		.src_ip = ip,
		.now_s = base_wall_s(),
		.creds = pw->creds,
	};
	*reason = NULL;
	*stale = false;
	enum auth_verdict v = auth_verify(pw->p->auth, pw->store, &areq, &res);
	switch (v) {
	case AUTH_OK:
		break;
	case AUTH_DENIED:  /* logged by the auth layer; a fresh challenge as for none */
	case AUTH_REPLAYED:
	case AUTH_CHALLENGE:
	case AUTH_STALE:
		*stale = v == AUTH_STALE;
		return 407;
	case AUTH_FORBIDDEN:
		*reason = res.reason ? res.reason : "Forbidden";
		return 403;
	case AUTH_BLOCKED:
		*reason = res.reason ? res.reason : "Forbidden";
		return auth_block_drops(pw->p->auth) ? -1 : 403;
	case AUTH_SLOWED:
		return -1; /* no answer: the transaction ends by its own timer */
	case AUTH_MALFORMED:
		*reason = "Malformed Proxy-Authorization Header";
		return 400;
	case AUTH_UNAVAILABLE:
		return 503;
	}
	int status = res.cred.status;
	snprintf(caller->rpid, sizeof(caller->rpid), "%s", res.cred.rpid);
	store_cred_wipe(&res.cred);
	/* seed 001: the authenticated user must be the From user (or an alias of it). */
	int idc = auth_identity_check(pw->store, res.username, realm, from);
	if (idc == -EAGAIN || idc == -EIO)
		return 503;
	if (idc) {
		char au[80], fu[80];
		auth_log_value(res.username, au, sizeof(au));
		auth_log_value(from->user, fu, sizeof(fu));
		log_security("identity_mismatch", "src=%s user=%s from_user=%s realm=%s method=%.*s", ip, au, fu,
			     caller->realm, (int)msg->method_name.len, msg->method_name.p);
		*reason = "Forbidden auth ID";
		return 403;
	}
	if (status != 0) {
		*reason = "Account Disabled";
		return 403;
	}
	caller->authenticated = true;
	caller->cred_hdr = res.cred_hdr;
	slice_copy(from->user.len <= SW_MAX_USER ? from->user : SLICE_NULL, caller->user, sizeof(caller->user));
	return 0;
}

bool proxy_policy_would_challenge(struct proxy_worker *pw, const struct tp_src *src, const struct sip_msg *msg)
{
	const struct sip_uri *from = &msg->from.uri;

	if (msg->method == SIP_ACK || msg->method == SIP_CANCEL || sip_msg_hdr(msg, SIP_HDR_PROXY_AUTHORIZATION))
		return false;
	if (!(from->is_sip && from->host.len && from->host.len <= SW_MAX_DOMAIN &&
	      registrar_domain_is_local(pw->p->reg, from->host)))
		return false;
	return !proxy_trusted_find(pw->p->cfg, &src->peer);
}

int proxy_policy_check(struct proxy_worker *pw, struct txn_server *st, const struct tp_src *src,
		       const struct sip_msg *msg, bool in_dialog, struct proxy_caller *caller)
{
	const struct sip_uri *from = &msg->from.uri;
	char ip[48];
	uint16_t port;
	const char *reason;
	bool stale;

	memset(caller, 0, sizeof(*caller));
	caller->src = src->peer;
	caller->trusted = proxy_trusted_find(pw->p->cfg, &src->peer);
	caller->local = from->is_sip && from->host.len && from->host.len <= SW_MAX_DOMAIN &&
			registrar_domain_is_local(pw->p->reg, from->host);
	if (caller->trusted) {
		tp_addr_text(&src->peer, ip, sizeof(ip), &port);
		LOG_DBG("%.*s from trusted peer %s (%s): not challenged", (int)msg->method_name.len,
			msg->method_name.p, caller->trusted->name[0] ? caller->trusted->name : "unnamed", ip);
		return 0;
	}
	if (!caller->local || msg->method == SIP_ACK || msg->method == SIP_CANCEL)
		return 0;
	if (in_dialog && !pw->p->cfg->challenge_in_dialog)
		return 0;

	tp_addr_text(&src->peer, ip, sizeof(ip), &port);
	int code = prove(pw, msg, ip, caller, &reason, &stale);
	switch (code) {
	case 0:
		return 0;
	case 407:
		challenge(pw, st, src, msg, slice_cstr(caller->realm), stale, ip, base_wall_s());
		return 407;
	case 503:
		answer(pw, st, src, msg, 503, "Service Unavailable", "Retry-After: 5\r\n");
		return 503;
	case -1:
		return 403;
	default:
		answer(pw, st, src, msg, code, reason, NULL);
		return code;
	}
}

int proxy_policy_prove(struct proxy_worker *pw, const struct tp_src *src, const struct sip_msg *msg,
		       struct proxy_caller *caller)
{
	char ip[48];
	uint16_t port;
	const char *reason;
	bool stale;

	/* No credentials: nothing to check (and nothing for the limiter to count). */
	if (!caller->local || msg->method == SIP_ACK || msg->method == SIP_CANCEL ||
	    !sip_msg_hdr(msg, SIP_HDR_PROXY_AUTHORIZATION))
		return -EACCES;
	tp_addr_text(&src->peer, ip, sizeof(ip), &port);
	return prove(pw, msg, ip, caller, &reason, &stale) == 0 ? 0 : -EACCES;
}
