/* REGISTER handling (RFC 3261 §10.3, §22): served domain, digest challenge and
 * verification, account status, auth user == To user, then the binding rules.
 * Unknown user and wrong password produce the very same 401. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/util.h"
#include "registrar/reg_int.h"

int registrar_new(struct registrar **out, const struct registrar_cfg *cfg)
{
	struct registrar *r = calloc(1, sizeof(*r));
	int err;

	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	if (!r->cfg.max_contacts)
		r->cfg.max_contacts = SW_DEFAULT_MAX_CONTACTS;
	err = location_init(&r->loc);
	if (!err && cfg->db_url)
		err = persist_load(&r->loc, cfg->db_url, (int64_t)base_wall_s());
	if (!err && cfg->db_url)
		err = persist_start(&r->persist, &r->loc, cfg->db_url, cfg->flush_interval_ms);
	if (err) {
		location_fini(&r->loc);
		free(r);
		return err;
	}
	*out = r;
	return 0;
}

void registrar_free(struct registrar *r)
{
	if (!r)
		return;
	persist_stop(r->persist);
	location_fini(&r->loc);
	free(r);
}

bool registrar_domain_is_local(const struct registrar *r, struct slice domain)
{
	if (r->cfg.ndomains == 0)
		return true;
	for (unsigned i = 0; i < r->cfg.ndomains; i++)
		if (slice_caseeq_cstr(domain, r->cfg.domains[i]))
			return true;
	return false;
}

static void reply(struct registrar_reply *rep, int code, const char *reason)
{
	rep->code = code;
	rep->reason = reason;
}

/* The auth username must name the To user (seed 001: $au == $tU). A username
 * of the form user@domain (Kamailio's ha1b) must also name the To domain. */
static bool identity_matches(struct slice auth_user, const struct sip_uri *to)
{
	const char *at = memchr(auth_user.p, '@', auth_user.len);

	if (!at)
		return slice_eq(auth_user, to->user);
	struct slice u = slice_from(auth_user.p, (size_t)(at - auth_user.p));
	struct slice d = slice_from(at + 1, auth_user.len - u.len - 1);
	return slice_eq(u, to->user) && slice_caseeq(d, to->host);
}

void registrar_handle(struct registrar *r, const struct registrar_req *req, struct registrar_reply *rep)
{
	const struct sip_msg *msg = req->msg;
	const struct sip_uri *to = &msg->to.uri;
	struct auth_result res;
	char aor[SW_MAX_USER + SW_MAX_DOMAIN + 2];

	if (!to->is_sip || to->user.len == 0) {
		reply(rep, 400, "To Must Name A SIP User");
		return;
	}
	if (to->user.len > SW_MAX_USER || to->host.len > SW_MAX_DOMAIN || msg->call_id.len > 255) {
		reply(rep, 400, "Identifier Too Long");
		return;
	}
	if (!registrar_domain_is_local(r, to->host)) {
		reply(rep, 403, "Domain Not Served");
		return;
	}

	/* The realm is the domain in lower case: stored HA1s were computed with it. */
	char realm_buf[SW_MAX_DOMAIN + 1];
	for (size_t i = 0; i < to->host.len; i++) {
		char c = to->host.p[i];
		realm_buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
	}
	struct slice realm = slice_from(realm_buf, to->host.len);

	memset(&res, 0, sizeof(res));
	enum auth_verdict v = auth_check(req->auth, req->store, msg, SIP_HDR_AUTHORIZATION, realm, req->now_s, &res);
	switch (v) {
	case AUTH_OK:
		break;
	case AUTH_DENIED:
		log_security("auth_failed", "src=%s user=\"%.*s\" realm=\"%.*s\" method=REGISTER reason=\"%s\"",
			     req->src_ip, (int)(res.username.len > 64 ? 64 : res.username.len),
			     res.username.p ? res.username.p : "", (int)to->host.len, to->host.p,
			     res.detail ? res.detail : "denied");
		/* a fresh challenge, exactly as for no credentials */
		/* fall through */
	case AUTH_CHALLENGE:
	case AUTH_STALE:
		if (auth_challenge_build(req->auth, realm, v == AUTH_STALE, false, req->now_s, &rep->hdrs)) {
			reply(rep, 500, "Challenge Too Large");
			return;
		}
		reply(rep, 401, "Unauthorized");
		return;
	case AUTH_MALFORMED:
		reply(rep, 400, "Malformed Authorization Header");
		return;
	case AUTH_UNAVAILABLE:
		sip_buf_puts(&rep->hdrs, "Retry-After: 5\r\n");
		reply(rep, 503, "Service Unavailable");
		return;
	}

	int status = res.cred.status;
	store_cred_wipe(&res.cred);
	if (!identity_matches(res.username, to)) {
		log_security("identity_mismatch", "src=%s user=\"%.*s\" to_user=\"%.*s\" realm=\"%.*s\"",
			     req->src_ip, (int)(res.username.len > 64 ? 64 : res.username.len), res.username.p,
			     (int)to->user.len, to->user.p, (int)to->host.len, to->host.p);
		reply(rep, 403, "Forbidden auth ID");
		return;
	}
	if (status != 0) {
		log_security("account_disabled", "src=%s user=\"%.*s\" realm=\"%.*s\"", req->src_ip,
			     (int)to->user.len, to->user.p, (int)to->host.len, to->host.p);
		reply(rep, 403, "Account Disabled");
		return;
	}

	/* AOR key: user as sent, domain lower-cased. */
	memcpy(aor, to->user.p, to->user.len);
	aor[to->user.len] = '@';
	memcpy(aor + to->user.len + 1, realm.p, realm.len);
	aor[to->user.len + 1 + realm.len] = '\0';
	registrar_save(r, req, slice_from(aor, to->user.len + 1 + to->host.len), rep);
}

int registrar_lookup(struct registrar *r, struct slice aor, uint64_t now_s, registrar_contact_fn fn, void *arg)
{
	uint64_t h = location_hash(aor);
	struct loc_shard *sh = location_shard(&r->loc, h);
	int n = 0;

	pthread_mutex_lock(&sh->lock);
	struct aor_rec *rec = location_find(sh, aor, h);
	for (struct binding *b = rec ? rec->bindings : NULL; b; b = b->next) {
		if (b->expires <= (int64_t)now_s)
			continue;
		if (fn)
			fn(binding_contact(b), b->contact_len, b->expires, arg);
		n++;
	}
	pthread_mutex_unlock(&sh->lock);
	return n;
}

void registrar_counts(struct registrar *r, uint64_t *aors, uint64_t *bindings)
{
	*aors = *bindings = 0;
	for (unsigned i = 0; i < LOC_SHARDS; i++) {
		struct loc_shard *sh = &r->loc.shards[i];
		pthread_mutex_lock(&sh->lock);
		*aors += sh->count;
		*bindings += sh->nbindings;
		pthread_mutex_unlock(&sh->lock);
	}
}
