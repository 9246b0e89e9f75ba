/* Answers to REGISTER kept for retransmissions (RFC 3261 §17.2.2), in the
 * worker's reply cache (txn/replycache.c). A 200 is kept without its
 * Contact lines, which are most of its bytes (one line per binding of the
 * AOR): a resend lists the AOR's bindings as they are then, the answer a
 * retransmission would get if it were processed again without tripping the
 * nonce-count replay check (the binding rules already treat the same request
 * again as no change). Everything else in the answer (status line, Vias,
 * tags, Authentication-Info) goes out byte for byte as first sent. So the
 * ring holds a few hundred bytes per answer however many bindings the AOR
 * has, and answers that listed many bindings are kept as well.
 *
 * Kept bytes: kind (1), AOR length (1), offset of the left-out Contact lines
 * in the answer (2, native order), the AOR, the answer without them. */
#include <stdint.h>
#include <string.h>

#include "registrar/registrar.h"
#include "txn/txn.h"

enum { KEPT_VERBATIM = 0, KEPT_WITHOUT_CONTACTS = 1 };
#define KEPT_HEAD 4u

void registrar_answer_keep(struct txn_reply_cache *c, uint64_t key, uint64_t now_ms, const char *ans, size_t len,
			   const struct registrar_reply *rep)
{
	char kept[TXN_REPLY_CACHE_ENTRY_MAX];
	const char *cut = NULL;
	size_t cut_len = 0, aor_len = 0;

	if (key == 0)
		return;
	/* The registrar's headers end the answer, before SIP_REPLY_TRAILER
	 * (sip_reply_build); the Contact lines are where it listed them. */
	size_t extra_len = 0, trailer = sizeof(SIP_REPLY_TRAILER) - 1;
	if (rep && rep->code == 200 && !rep->hdrs.overflow && rep->contacts_len && rep->aor_len &&
	    rep->aor_len <= UINT8_MAX)
		extra_len = strnlen(rep->hdrs.p, rep->hdrs.len);
	if (extra_len && len >= trailer + extra_len && rep->contacts_at + rep->contacts_len <= extra_len &&
	    memcmp(ans + len - trailer, SIP_REPLY_TRAILER, trailer) == 0) {
		size_t at = len - trailer - extra_len + rep->contacts_at;
		if (at <= UINT16_MAX && memcmp(ans + at, rep->hdrs.p + rep->contacts_at, rep->contacts_len) == 0) {
			cut = ans + at;
			cut_len = rep->contacts_len;
			aor_len = rep->aor_len;
		}
	}
	if (len - cut_len > TXN_REPLY_CACHE_MAX)
		return; /* not kept: its retransmission is processed again */
	size_t total = KEPT_HEAD + aor_len + len - cut_len;
	if (total > sizeof(kept))
		return;
	uint16_t at = cut ? (uint16_t)(cut - ans) : 0;
	kept[0] = cut ? KEPT_WITHOUT_CONTACTS : KEPT_VERBATIM;
	kept[1] = (char)aor_len;
	memcpy(kept + 2, &at, 2);
	char *p = kept + KEPT_HEAD;
	memcpy(p, rep ? rep->aor : "", aor_len);
	p += aor_len;
	if (cut) {
		memcpy(p, ans, at);
		memcpy(p + at, cut + cut_len, len - at - cut_len);
	} else {
		memcpy(p, ans, len);
	}
	txn_reply_cache_put(c, key, now_ms, kept, total);
}

size_t registrar_answer_again(struct registrar *r, struct txn_reply_cache *c, uint64_t key, uint64_t now_ms,
			      uint64_t now_s, char *out, size_t cap)
{
	size_t len;
	const char *kept = txn_reply_cache_find(c, key, now_ms, &len);
	uint16_t at;

	if (!kept || len < KEPT_HEAD)
		return 0;
	size_t aor_len = (uint8_t)kept[1];
	memcpy(&at, kept + 2, 2);
	if (len < KEPT_HEAD + aor_len || at > len - KEPT_HEAD - aor_len)
		return 0;
	const char *aor = kept + KEPT_HEAD;
	const char *ans = aor + aor_len;
	size_t ans_len = len - KEPT_HEAD - aor_len;
	struct sip_buf b;

	sip_buf_init(&b, out, cap);
	if (kept[0] == KEPT_WITHOUT_CONTACTS) {
		sip_buf_put(&b, ans, at);
		registrar_contact_lines(r, slice_from(aor, aor_len), now_s, &b);
		sip_buf_put(&b, ans + at, ans_len - at);
	} else {
		sip_buf_put(&b, ans, ans_len);
	}
	return b.overflow ? 0 : b.len;
}
