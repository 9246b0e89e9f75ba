/* Proof that a route set is one we recorded (RFC 3261 §16.12 applies only to
 * those): each Record-Route entry we add carries ;sw=TOKEN, a SipHash-2-4-128
 * MAC of the dialog's Call-ID and the address of the dialog's inside
 * party (the authenticated local caller or trusted peer that sent the
 * initial request, or else the local phone it went to), under a key derived
 * from the node's secret. An in-dialog request is relayed on our
 * Route only when that entry carries the token for its own Call-ID and for
 * the address it comes from or goes to (proxy.c): the far end of a dialog
 * can reach the inside party, never a host of its choosing. Tokens of the
 * earlier form (HMAC-SHA256, truncated) are still recognised, so dialogs
 * recorded before an upgrade survive it when the secret is configured. */
#include "proxy/proxy_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "base/siphash.h"
#include "base/util.h"

/* Key derivation labels: the route keys are never the nonce key itself. */
static const char key_label_hmac[] = "sipwarden record-route key v1";
static const char key_label_siphash[] = "sipwarden record-route key v2";

void proxy_rr_key(const struct auth_ctx *auth, uint8_t key[PROXY_RR_KEY_LEN])
{
	uint8_t full[AUTH_SHA256_LEN];

	auth_ctx_derive_key(auth, key_label_siphash, full);
	memcpy(key, full, BASE_SIPHASH_KEY_LEN);
	base_wipe(full, sizeof(full));
	auth_ctx_derive_key(auth, key_label_hmac, key + BASE_SIPHASH_KEY_LEN);
}

/* The address as it is bound: 4 bytes for IPv4 (also v4-mapped IPv6), 16
 * for IPv6, after a family tag. 0, or -EAFNOSUPPORT. */
static int addr_bytes(const struct sockaddr_storage *ss, uint8_t out[17], size_t *len)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (ss->ss_family == AF_INET) {
		out[0] = 4;
		memcpy(out + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		*len = 5;
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		if (memcmp(a, v4mapped, sizeof(v4mapped)) == 0) {
			out[0] = 4;
			memcpy(out + 1, a + 12, 4);
			*len = 5;
		} else {
			out[0] = 6;
			memcpy(out + 1, a, 16);
			*len = 17;
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

int proxy_rr_token(const uint8_t key[PROXY_RR_KEY_LEN], struct slice call_id, const struct sockaddr_storage *inside,
		   char out[PROXY_RR_TOKEN_LEN + 1])
{
	uint8_t head[17 + 1], buf[512], mac[16];
	size_t n;

	out[0] = '\0';
	if (!call_id.len || !inside || addr_bytes(inside, head, &n))
		return -EINVAL;
	/* SipHash(key, address | 'c' | Call-ID); a Call-ID too long for the
	 * buffer (rare: they are usually under 100 bytes) by its own SipHash */
	head[n++] = 'c';
	memcpy(buf, head, n);
	if (call_id.len <= sizeof(buf) - n) {
		memcpy(buf + n, call_id.p, call_id.len);
		n += call_id.len;
	} else {
		buf[n - 1] = 'h';
		base_siphash128(key, call_id.p, call_id.len, buf + n);
		n += 16;
	}
	base_siphash128(key, buf, n, mac);
	base_hex(mac, PROXY_RR_TOKEN_LEN / 2, out);
	base_wipe(mac, sizeof(mac));
	return 0;
}

/* Call-IDs up to this length are signed as they are in the HMAC form; longer
 * ones by their own HMAC. */
#define RR_CALLID_INLINE 256

int proxy_rr_token_hmac(const uint8_t key[PROXY_RR_KEY_LEN], struct slice call_id,
			const struct sockaddr_storage *inside, char out[PROXY_RR_TOKEN_LEN + 1])
{
	const uint8_t *hkey = key + BASE_SIPHASH_KEY_LEN;
	uint8_t buf[17 + 1 + RR_CALLID_INLINE], mac[AUTH_SHA256_LEN];
	size_t n;

	out[0] = '\0';
	if (!call_id.len || !inside || addr_bytes(inside, buf, &n))
		return -EINVAL;
	/* HMAC(key, address | form | Call-ID or its HMAC) */
	if (call_id.len <= RR_CALLID_INLINE) {
		buf[n++] = 'c';
		memcpy(buf + n, call_id.p, call_id.len);
		n += call_id.len;
	} else {
		buf[n++] = 'h';
		auth_hmac_sha256(hkey, AUTH_SHA256_LEN, call_id.p, call_id.len, buf + n);
		n += AUTH_SHA256_LEN;
	}
	auth_hmac_sha256(hkey, AUTH_SHA256_LEN, buf, n, mac);
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
