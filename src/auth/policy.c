/* Identity and account policy around digest verification: the auth user must
 * be the To (REGISTER) or From (other requests) user or hold an alias for it
 * (seed 001, Kamailio's check_to/check_from plus a table), account states
 * (disabled, locked, expired), requirements on extra columns loaded with the
 * credentials ([auth] require; seed 001's load_credentials), minimum
 * algorithms (all realms, per realm, per user) with downgrade pinning (RFC
 * 8760 §3: MD5 only where still needed), and the escaping of network values
 * in security events. */
#include "auth/auth_int.h"

#include <errno.h>
#include <string.h>

#include "base/log.h"

void auth_log_value(struct slice v, char *out, size_t cap)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t o = 0, lim = v.len > 64 ? 64 : v.len;

	for (size_t i = 0; i < lim && o + 4 <= cap; i++) {
		unsigned char c = (unsigned char)v.p[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		    c == '_' || c == '@' || c == '+' || c == '-') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		}
	}
	if (!o && cap >= 2)
		out[o++] = '-';
	out[o] = '\0';
}

int auth_identity_check(struct store *store, struct slice auth_user, struct slice realm,
			const struct sip_uri *claimed)
{
	const char *at = memchr(auth_user.p, '@', auth_user.len);
	struct slice u = auth_user;
	int err;

	if (at) {
		/* Kamailio's ha1b form: the domain part must be ours. */
		u = slice_from(auth_user.p, (size_t)(at - auth_user.p));
		if (!slice_caseeq(slice_from(at + 1, auth_user.len - u.len - 1), realm))
			return -EPERM;
	}
	if (slice_eq(u, claimed->user) && slice_caseeq(realm, claimed->host))
		return 0;
	err = store_alias_check(store, u, realm, claimed->user, claimed->host);
	if (err == -ENOENT)
		return -EPERM;
	return err;
}

int auth_min_rank(const struct auth_ctx *ctx, struct slice realm)
{
	int rank = ctx->cfg.min_rank;

	for (unsigned i = 0; i < ctx->cfg.nrealm_min; i++) {
		const struct auth_realm_min *m = &ctx->cfg.realm_min[i];

		if (m->rank > rank && slice_caseeq_cstr(realm, m->realm))
			rank = m->rank;
	}
	return rank;
}

/* Every [auth] require holds for the loaded row. */
static bool requirements_met(const struct auth_ctx *ctx, const struct store_cred *c)
{
	for (unsigned i = 0; i < ctx->cfg.nrequire; i++) {
		const struct auth_require *r = &ctx->cfg.require[i];

		if ((c->extra_unusable >> r->col) & 1u || strcmp(c->extra[r->col], r->value) != 0)
			return false;
	}
	return true;
}

/* Account policy once the password is proven right: NULL when the account
 * may proceed, else the 403 reason phrase (logged as event=account_refused).
 * A failed [auth] require gets the answer of a disabled account. */
const char *auth_policy_refusal(const struct auth_ctx *ctx, const struct store_cred *c, struct slice realm,
				enum auth_algo algo, uint64_t now_s, const char **event_reason)
{
	int rank = auth_algo_rank(algo);

	if (c->status != 0) {
		*event_reason = "disabled";
		return "Account Disabled";
	}
	if (!requirements_met(ctx, c)) {
		*event_reason = "requirement_unmet";
		return "Account Disabled";
	}
	if (c->locked_until > 0 && (uint64_t)c->locked_until > now_s) {
		*event_reason = "locked";
		return "Account Locked";
	}
	if (c->valid_until > 0 && (uint64_t)c->valid_until <= now_s) {
		*event_reason = "expired";
		return "Account Expired";
	}
	if (rank < auth_min_rank(ctx, realm) || rank < c->min_algo) {
		*event_reason = "algorithm_below_minimum";
		return "Stronger Digest Algorithm Required";
	}
	if (rank < c->pin_algo) {
		*event_reason = "algorithm_downgrade";
		return "Stronger Digest Algorithm Required";
	}
	return NULL;
}
