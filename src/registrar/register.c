/* REGISTER handling (RFC 3261 §10.3, §22): served domain, digest challenge and
 * verification, account status, auth user == To user, then the binding rules.
 * Unknown user and wrong password produce the very same 401. */
#include <errno.h>
#include <malloc.h>
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
	if (!err && cfg->db_url && cfg->persist)
		err = persist_load(&r->loc, cfg->db_url, (int64_t)base_wall_s());
	/* The restore read the whole table through SQLite's page cache, freed now
	 * but lying below the restored bindings: give its pages back. */
	if (!err && cfg->db_url && cfg->persist)
		malloc_trim(0);
	/* Without persistence the thread still sweeps expired bindings and writes
	 * the first-use records; it writes no binding. */
	if (!err && cfg->db_url)
		err = persist_start(&r->persist, &r->loc, cfg->db_url, cfg->flush_interval_ms, cfg->pins,
				    cfg->persist);
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
	/* [auth] tls_only_domains: no digest exchange in the clear (RFC 3261 §26.3.1). */
	if (!req->secure && registrar_tls_required(&r->cfg, to->host)) {
		log_security("tls_required", "src=%s realm=\"%.*s\"", req->src_ip, (int)to->host.len, to->host.p);
		reply(rep, 403, "TLS Required");
		return;
	}
	/* [tls] require_cert_identity_match: the client certificate names this AOR. */
	if (req->secure && r->cfg.require_cert_identity &&
	    !registrar_cert_identity_matches(req->peer_identity, to->user, to->host)) {
		log_security("cert_identity_mismatch", "src=%s to_user=\"%.*s\" realm=\"%.*s\" cert=\"%s\"",
			     req->src_ip, (int)to->user.len, to->user.p, (int)to->host.len, to->host.p,
			     req->peer_identity ? req->peer_identity : "(none)");
		reply(rep, 403, "Certificate Does Not Match");
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
	struct auth_req areq = { .msg = msg, .hdr = SIP_HDR_AUTHORIZATION, .realm = realm,
				 .src_ip = req->src_ip, .now_s = req->now_s, .creds = req->creds };
	enum auth_verdict v = auth_verify(req->auth, req->store, &areq, &res);
	switch (v) {
	case AUTH_OK:
		break;
	case AUTH_DENIED:   /* logged and counted by auth_verify */
	case AUTH_REPLAYED: /* a replay learns nothing: the same fresh challenge */
	case AUTH_CHALLENGE:
	case AUTH_STALE:
		if (auth_challenge_add(req->auth, realm, v == AUTH_STALE, false, req->src_ip, req->now_s,
				       &rep->hdrs)) {
			reply(rep, 500, "Challenge Too Large");
			return;
		}
		reply(rep, 401, "Unauthorized");
		return;
	case AUTH_FORBIDDEN:
		reply(rep, 403, res.reason);
		return;
	case AUTH_BLOCKED:
		/* [auth] block_response = drop: no answer at all (code 0). */
		reply(rep, auth_block_drops(req->auth) ? 0 : 403, res.reason);
		return;
	case AUTH_SLOWED:
		reply(rep, 0, NULL); /* answered by silence: the client's retransmission waits */
		return;
	case AUTH_MALFORMED:
		reply(rep, 400, "Malformed Authorization Header");
		return;
	case AUTH_UNAVAILABLE:
		sip_buf_puts(&rep->hdrs, "Retry-After: 5\r\n");
		reply(rep, 503, "Service Unavailable");
		return;
	}

	/* Seed 001 ($au == $tU) or an alias granted in the store (auth_identity_check). */
	int id = auth_identity_check(req->store, res.username, realm, to);
	if (id) {
		char u[200], tu[200];

		auth_log_value(res.username, u, sizeof(u));
		auth_log_value(to->user, tu, sizeof(tu));
		store_cred_wipe(&res.cred);
		if (id != -EPERM) {
			sip_buf_puts(&rep->hdrs, "Retry-After: 5\r\n");
			reply(rep, 503, "Service Unavailable");
			return;
		}
		log_security("identity_mismatch", "src=%s user=\"%s\" to_user=\"%s\" realm=\"%.*s\"", req->src_ip, u, tu,
			     (int)realm.len, realm.p);
		reply(rep, 403, "Forbidden auth ID");
		return;
	}
	store_cred_wipe(&res.cred);
	/* RFC 7616 §3.5: let the client authenticate us (and skip a round trip). */
	if (auth_info_add(req->auth, &res, false, req->src_ip, req->now_s, &rep->hdrs)) {
		reply(rep, 500, "Reply Too Large");
		return;
	}

	/* AOR key: user as sent, domain lower-cased. */
	memcpy(aor, to->user.p, to->user.len);
	aor[to->user.len] = '@';
	memcpy(aor + to->user.len + 1, realm.p, realm.len);
	aor[to->user.len + 1 + realm.len] = '\0';
	registrar_save(r, req, slice_from(aor, to->user.len + 1 + to->host.len), rep);
}

int registrar_lookup_bindings(struct registrar *r, struct slice aor, uint64_t now_s, registrar_binding_fn fn,
			      void *arg)
{
	uint64_t h = location_hash(aor);
	struct loc_shard *sh = location_shard(&r->loc, h);
	int n = 0;

	pthread_mutex_lock(&sh->lock);
	struct aor_rec *rec = location_find(sh, aor, h);
	for (struct binding *b = rec ? rec->bindings : NULL; b; b = b->next) {
		if (b->expires <= (int64_t)now_s)
			continue;
		if (fn) {
			char rcv[LOC_MAX_RECEIVED + 1];
			struct registrar_contact c = {
				.contact = binding_contact(b),
				.contact_len = b->contact_len,
				.received = rcv,
				.received_len = binding_received(b, rcv),
				.expires = b->expires,
				.q = b->q,
			};
			fn(&c, arg);
		}
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
