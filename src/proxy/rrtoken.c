/* Proof that a route set is one we recorded (RFC 3261 §16.12 applies only to
 * those): each Record-Route entry we add carries ;sw=TOKEN, a truncated
 * HMAC-SHA256 of the dialog's Call-ID (the same for every request of the
 * dialog, both ways) under a key derived from the node's secret. An
 * in-dialog request is relayed on our Route only when that entry carries the
 * token for its own Call-ID (proxy.c). */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <string.h>

#include "base/util.h"

/* Key derivation label: the route key is never the nonce key itself. */
static const char key_label[] = "sipwarden record-route key v1";

void proxy_rr_key(const struct auth_ctx *auth, uint8_t key[PROXY_RR_KEY_LEN])
{
	auth_ctx_derive_key(auth, key_label, key);
}

int proxy_rr_token(const uint8_t key[PROXY_RR_KEY_LEN], struct slice call_id, char out[PROXY_RR_TOKEN_LEN + 1])
{
	uint8_t mac[AUTH_SHA256_LEN];

	out[0] = '\0';
	if (!call_id.len)
		return -EINVAL;
	auth_hmac_sha256(key, PROXY_RR_KEY_LEN, call_id.p, call_id.len, mac);
	base_hex(mac, PROXY_RR_TOKEN_LEN / 2, out);
	base_wipe(mac, sizeof(mac));
	return 0;
}

bool proxy_rr_token_match(const char token[PROXY_RR_TOKEN_LEN + 1], const struct sip_uri *route)
{
	struct slice v;
	char given[PROXY_RR_TOKEN_LEN];

	if (!token[0] || sip_param_find(route->params, PROXY_RR_PARAM, &v) || v.len != PROXY_RR_TOKEN_LEN)
		return false;
	/* Hex in either case: an element on the way may change the case. */
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		given[i] = (c >= 'A' && c <= 'F') ? (char)(c + 32) : c;
	}
	return base_ct_equal(given, token, PROXY_RR_TOKEN_LEN);
}
