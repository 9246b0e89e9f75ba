/* Client transactions (RFC 3261 §17.1): send the request, retransmit over UDP
 * (Timer A/E from T1 doubling; non-INVITE capped at T2, and at T2 once a 1xx
 * arrived), give up at Timer B/F. TCP is reliable: only the timeout runs. */
#include "ua/ua_int.h"

#include <errno.h>
#include <string.h>

#include "base/util.h"

int ua_txn_start(struct sw_ua *ua)
{
	struct ua_txn *t = &ua->txn;
	uint64_t now = base_mono_ms();
	int err;

	memcpy(t->branch, "z9hG4bK", 7); /* RFC 3261 §8.1.1.7 magic cookie */
	ua_rand_hex(t->branch + 7, 12);
	t->invite = ua->op.method == SIP_INVITE;
	t->proceeding = false;
	err = ua_msg_build(ua);
	if (err)
		return err;
	t->active = true;
	t->interval_ms = ua->t1_ms;
	t->next_retx_ms = ua->transport == SW_UA_UDP ? now + t->interval_ms : 0;
	t->deadline_ms = now + ua->timeout_ms;
	err = ua_conn_send(ua, t->out, t->len);
	if (err)
		t->active = false;
	return err;
}

bool ua_txn_timers(struct sw_ua *ua, uint64_t now)
{
	struct ua_txn *t = &ua->txn;

	if (!t->active)
		return false;
	if (now >= t->deadline_ms) {
		t->active = false;
		return true;
	}
	if (t->next_retx_ms && now >= t->next_retx_ms) {
		/* A send error here is not fatal: the next timer or the deadline decides. */
		(void)ua_conn_send(ua, t->out, t->len);
		if (t->invite)
			t->interval_ms *= 2;
		else if (t->proceeding)
			t->interval_ms = ua->t2_ms;
		else
			t->interval_ms = t->interval_ms * 2 < ua->t2_ms ? t->interval_ms * 2 : ua->t2_ms;
		t->next_retx_ms = now + t->interval_ms;
	}
	return false;
}

int ua_txn_next_ms(const struct sw_ua *ua, uint64_t now)
{
	const struct ua_txn *t = &ua->txn;
	uint64_t at;

	if (!t->active)
		return -1;
	at = t->deadline_ms;
	if (t->next_retx_ms && t->next_retx_ms < at)
		at = t->next_retx_ms;
	return at <= now ? 0 : (int)(at - now);
}
