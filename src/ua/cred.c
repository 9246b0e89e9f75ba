/* Credentials per realm (cleartext or HA1) and the nonce cache that lets the
 * next request carry Authorization pre-emptively with an incremented nc
 * (RFC 7616 §3.4, §3.5 nextnonce). Secrets are wiped when replaced or freed. */
#include "ua/ua_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

int ua_copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap) {
		dst[0] = '\0';
		return -ENOSPC;
	}
	memcpy(dst, src ? src : "", n + 1);
	return 0;
}

static struct ua_cred *slot(struct sw_ua *ua, const char *realm)
{
	bool any = !realm || !realm[0];
	struct ua_cred *free_slot = NULL;

	for (size_t i = 0; i < UA_MAX_CREDS; i++) {
		struct ua_cred *c = &ua->creds[i];

		if (!c->used) {
			if (!free_slot)
				free_slot = c;
			continue;
		}
		if (c->any_realm == any && (any || strcmp(c->realm, realm) == 0)) {
			base_wipe(c, sizeof(*c));
			return c;
		}
	}
	return free_slot;
}

static int add(struct sw_ua *ua, const char *realm, const char *user, struct ua_cred *tmpl)
{
	struct ua_cred *c;

	if (!ua || !user || !user[0])
		return -EINVAL;
	c = slot(ua, realm);
	if (!c)
		return -ENOMEM;
	*c = *tmpl;
	c->used = true;
	c->any_realm = !realm || !realm[0];
	if (ua_copy(c->realm, sizeof(c->realm), c->any_realm ? "" : realm) ||
	    ua_copy(c->user, sizeof(c->user), user)) {
		base_wipe(c, sizeof(*c));
		return -EINVAL;
	}
	return 0;
}

int sw_ua_add_credentials(struct sw_ua *ua, const char *realm, const char *user, const char *password)
{
	struct ua_cred t = { 0 };
	int err;

	if (!password || ua_copy(t.password, sizeof(t.password), password))
		return -EINVAL;
	err = add(ua, realm, user, &t);
	base_wipe(&t, sizeof(t));
	return err;
}

int sw_ua_add_ha1(struct sw_ua *ua, const char *realm, const char *user, enum sw_ua_algo algo,
		  const char *ha1hex)
{
	struct ua_cred t = { 0 };
	size_t want = (algo == SW_UA_MD5 || algo == SW_UA_MD5_SESS) ? 32 : 64;
	int err;

	if (!ha1hex || strlen(ha1hex) != want || strspn(ha1hex, "0123456789abcdefABCDEF") != want)
		return -EINVAL;
	t.has_ha1 = true;
	t.ha1_algo = algo;
	memcpy(t.ha1, ha1hex, want + 1);
	err = add(ua, realm, user, &t);
	base_wipe(&t, sizeof(t));
	return err;
}

const struct ua_cred *ua_cred_find(const struct sw_ua *ua, const char *realm)
{
	const struct ua_cred *any = NULL;

	for (size_t i = 0; i < UA_MAX_CREDS; i++) {
		const struct ua_cred *c = &ua->creds[i];

		if (!c->used)
			continue;
		if (c->any_realm)
			any = c;
		else if (strcmp(c->realm, realm) == 0)
			return c;
	}
	return any;
}

/* An HA1 fixes the hash: MD5 HA1 answers MD5 and MD5-sess only, and so on. */
bool ua_cred_can(const struct ua_cred *c, enum sw_ua_algo algo)
{
	return !c->has_ha1 || (int)c->ha1_algo / 2 == (int)algo / 2;
}

static struct ua_nonce *nonce_find(struct sw_ua *ua, bool proxy, const char *realm)
{
	for (size_t i = 0; i < UA_MAX_NONCES; i++) {
		struct ua_nonce *n = &ua->nonces[i];

		if (n->used && n->proxy == proxy && strcmp(n->realm, realm) == 0)
			return n;
	}
	return NULL;
}

int ua_nonce_store(struct sw_ua *ua, const struct sw_ua_challenge *ch)
{
	struct ua_nonce *n = nonce_find(ua, ch->proxy, ch->realm);

	for (size_t i = 0; !n && i < UA_MAX_NONCES; i++)
		if (!ua->nonces[i].used)
			n = &ua->nonces[i];
	if (!n)
		return -ENOSPC;
	memset(n, 0, sizeof(*n));
	n->used = true;
	n->proxy = ch->proxy;
	if (ua_copy(n->realm, sizeof(n->realm), ch->realm) || ua_copy(n->nonce, sizeof(n->nonce), ch->nonce) ||
	    ua_copy(n->opaque, sizeof(n->opaque), ch->opaque)) {
		n->used = false;
		return -ENOSPC;
	}
	n->algo = ch->algo;
	strcpy(n->qop, ch->qop_auth ? "auth" : ch->qop_auth_int ? "auth-int" : "");
	ua_rand_hex(n->cnonce, 8);
	n->nc = 0;
	return 0;
}

void ua_cred_put_auth(struct sw_ua *ua, struct sip_buf *b, const char *method, const char *uri,
		      const char *body, size_t body_len)
{
	char val[2048];

	for (size_t i = 0; i < UA_MAX_NONCES; i++) {
		struct ua_nonce *n = &ua->nonces[i];
		const struct ua_cred *c;
		struct sw_ua_challenge ch = { 0 };
		struct sw_ua_auth_input in = { 0 };

		if (!n->used)
			continue;
		c = ua_cred_find(ua, n->realm);
		if (!c || !ua_cred_can(c, n->algo))
			continue;
		ch.proxy = n->proxy;
		ch.algo = n->algo;
		ch.algo_known = true;
		memcpy(ch.realm, n->realm, sizeof(ch.realm));
		memcpy(ch.nonce, n->nonce, sizeof(ch.nonce));
		memcpy(ch.opaque, n->opaque, sizeof(ch.opaque));
		in.user = c->user;
		in.password = c->has_ha1 ? NULL : c->password;
		in.ha1 = c->has_ha1 ? c->ha1 : NULL;
		in.method = method;
		in.uri = uri;
		in.body = body;
		in.body_len = body_len;
		in.cnonce = n->cnonce;
		in.qop = n->qop;
		in.nc = ++n->nc; /* RFC 7616 §3.4: nc counts requests sent with this nonce */
		if (sw_ua_build_authorization(val, sizeof(val), &ch, &in) < 0)
			continue;
		sip_buf_printf(b, "%s: %s\r\n", sw_ua_auth_header_name(&ch), val);
	}
	base_wipe(val, sizeof(val));
}

void ua_nonce_next(struct sw_ua *ua, const struct sip_msg *msg)
{
	for (const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_AUTHENTICATION_INFO); h;
	     h = sip_msg_hdr_next(msg, h)) {
		struct slice cur = h->value, name, val;

		while (sip_auth_param_next(&cur, &name, &val) == 1) {
			if (!slice_caseeq_cstr(name, "nextnonce") || val.len == 0 || val.len >= 256)
				continue;
			/* Authentication-Info does not name its realm: it follows the
			 * WWW credentials we sent (RFC 7616 §3.5). */
			for (size_t i = 0; i < UA_MAX_NONCES; i++) {
				struct ua_nonce *n = &ua->nonces[i];

				if (n->used && !n->proxy) {
					memcpy(n->nonce, val.p, val.len);
					n->nonce[val.len] = '\0';
					n->nc = 0;
					break;
				}
			}
		}
	}
}
