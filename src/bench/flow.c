/* sipwarden-bench: the flow state machine of a load thread. A flow takes a
 * slot, sends its first request, and moves on with each final answer (401 ->
 * answered REGISTER -> 200 [-> refreshes]; calls: 407 -> ACK + answered INVITE
 * -> 200 -> ACK + BYE -> 200) or ends on a wrong answer or a timeout. A 1 ms
 * timer wheel drives UDP retransmissions (T1 doubling to T2) and the
 * per-request timeouts. */
#include "bench/worker_int.h"

#include <errno.h>

/* ---------------------------------------------------------------- timers */

static void timer_unlink(struct worker *w, uint32_t slot)
{
	struct flow *f = &w->flows[slot];

	if (!f->armed)
		return;
	if (f->tprev >= 0)
		w->flows[f->tprev].tnext = f->tnext;
	else
		w->wheel[f->tbucket] = f->tnext;
	if (f->tnext >= 0)
		w->flows[f->tnext].tprev = f->tprev;
	f->armed = false;
}

static void timer_arm(struct worker *w, uint32_t slot, uint64_t due)
{
	struct flow *f = &w->flows[slot];
	uint64_t ms = (due + 999999u) / 1000000u; /* the first tick at or after due */
	uint32_t b;

	timer_unlink(w, slot);
	/* never into a bucket already passed: it would wait a whole wheel turn */
	if (ms <= w->tick)
		ms = w->tick + 1;
	f->due = due;
	b = (uint32_t)ms & WHEEL_MASK;
	f->tbucket = b;
	f->tprev = -1;
	f->tnext = w->wheel[b];
	if (f->tnext >= 0)
		w->flows[f->tnext].tprev = (int32_t)slot;
	w->wheel[b] = (int32_t)slot;
	f->armed = true;
}

/* (Re)send the flow's current request. */
static int send_req(struct worker *w, uint32_t slot, bool retrans)
{
	return bench_send_msg(w, slot, retrans, false, 0, false);
}

static void flow_end(struct worker *w, uint32_t slot)
{
	struct flow *f = &w->flows[slot];

	timer_unlink(w, slot);
	f->active = false;
	f->gen++;
	w->free_slots[w->nfree++] = slot;
	w->active--;
}

static void flow_fail(struct worker *w, uint32_t slot, int status)
{
	if (status >= 100 && status < 700)
		w->st->fail_status[status]++;
	w->st->failed++;
	flow_end(w, slot);
}

/* Send the flow's request for cseq (first transmission) and arm its timer. */
static void flow_step(struct worker *w, uint32_t slot, uint64_t now)
{
	struct flow *f = &w->flows[slot];

	f->t_sent = now;
	f->deadline = now + (uint64_t)w->cfg->timeout_ms * 1000000u;
	f->rtx_ms = BENCH_T1_MS;
	if (send_req(w, slot, false)) {
		w->st->conn_errors++;
		flow_fail(w, slot, 0);
		return;
	}
	if (w->cfg->tcp)
		timer_arm(w, slot, f->deadline);
	else
		timer_arm(w, slot, now + (uint64_t)f->rtx_ms * 1000000u < f->deadline ?
					   now + (uint64_t)f->rtx_ms * 1000000u : f->deadline);
}

void bench_flow_start(struct worker *w, uint64_t k, uint64_t now)
{
	const struct bench_cfg *cfg = w->cfg;
	uint32_t slot;
	struct flow *f;

	if (w->nfree == 0) {
		w->st->not_started++;
		return;
	}
	slot = w->free_slots[--w->nfree];
	f = &w->flows[slot];
	f->active = true;
	f->user = (uint32_t)(k % cfg->nusers);
	f->cseq = 1;
	f->nc = 0;
	f->dlg.tag_len = 0;
	f->dlg.target_len = 0;
	f->dlg.route_len = 0;
	f->busy_ns = 0;
	f->conn = (uint16_t)((k / cfg->threads) % w->nconns);
	w->active++;
	w->st->started++;
	flow_step(w, slot, now);
}

static void flow_timer(struct worker *w, uint32_t slot, uint64_t now)
{
	struct flow *f = &w->flows[slot];
	uint64_t next;

	f->armed = false;
	if (now >= f->deadline || w->cfg->tcp) {
		w->st->timeouts++;
		flow_end(w, slot);
		return;
	}
	if (send_req(w, slot, true)) {
		w->st->conn_errors++;
		flow_fail(w, slot, 0);
		return;
	}
	f->rtx_ms = f->rtx_ms * 2 < BENCH_T2_MS ? f->rtx_ms * 2 : BENCH_T2_MS;
	next = now + (uint64_t)f->rtx_ms * 1000000u;
	timer_arm(w, slot, next < f->deadline ? next : f->deadline);
}

void bench_timers_run(struct worker *w, uint64_t now)
{
	uint64_t now_ms = now / 1000000u, from = w->tick + 1;

	if (now_ms < from)
		return;
	if (now_ms - from >= WHEEL_SIZE)
		from = now_ms - WHEEL_SIZE + 1;
	w->tick = now_ms;
	for (uint64_t t = from; t <= now_ms; t++) {
		int32_t i = w->wheel[t & WHEEL_MASK];

		while (i >= 0) {
			int32_t next = w->flows[i].tnext;

			if (w->flows[i].due <= now) {
				timer_unlink(w, (uint32_t)i);
				flow_timer(w, (uint32_t)i, now);
			}
			i = next;
		}
	}
}

/* Scenario 3: a response to one of the call's requests. */
static void on_call_response(struct worker *w, uint32_t slot, const struct bench_resp *r, uint64_t at, uint64_t now)
{
	const struct bench_cfg *cfg = w->cfg;
	struct flow *f = &w->flows[slot];
	bool invite = r->method == SIP_INVITE;

	if (invite && r->cseq < f->cseq && r->cseq <= 2 && r->status >= 200) {
		/* a final answer retransmitted: our ACK was lost, send it again */
		if (bench_send_msg(w, slot, true, true, r->cseq, r->status < 300) == 0)
			w->st->sent--; /* counted as a retransmission only */
		return;
	}
	if (r->cseq != f->cseq || invite != (f->cseq <= 2) || (!invite && r->method != SIP_BYE)) {
		w->st->stray++;
		return;
	}
	if (r->status < 200) {
		/* INVITE: a provisional answer stops the retransmissions (Timer A) */
		if (invite && f->armed)
			timer_arm(w, slot, f->deadline);
		return;
	}
	if (at < f->t_sent)
		at = f->t_sent;
	bench_hist_add(&w->st->txn, (at - f->t_sent) / 1000u);
	f->busy_ns += at - f->t_sent;
	if (f->cseq == 1) {
		if (r->status < 300) {
			/* correctness: a call without credentials must be challenged */
			w->st->early_200++;
			flow_fail(w, slot, r->status);
			return;
		}
		if (bench_dialog_take(&w->msg, false, &f->dlg) || bench_send_msg(w, slot, false, true, 1, false)) {
			flow_fail(w, slot, r->status);
			return;
		}
		if (r->status != 407) {
			flow_fail(w, slot, r->status);
			return;
		}
		if (bench_resp_chal(cfg, &w->msg, SIP_HDR_PROXY_AUTHENTICATE, &f->chal)) {
			w->st->no_challenge++;
			flow_fail(w, slot, 407);
			return;
		}
		f->cseq = 2;
		flow_step(w, slot, now);
		return;
	}
	if (f->cseq == 2) {
		bool ok = r->status < 300;

		/* a 407 (or anything else) to the answered INVITE fails the call */
		if (bench_dialog_take(&w->msg, ok, &f->dlg) || bench_send_msg(w, slot, false, true, 2, ok) || !ok) {
			flow_fail(w, slot, r->status);
			return;
		}
		w->st->auth_ok++;
		f->cseq = 3; /* the BYE, at once (no hold time, as call_uac.xml) */
		flow_step(w, slot, now);
		return;
	}
	if (r->status != 200) {
		flow_fail(w, slot, r->status);
		return;
	}
	bench_hist_add(&w->st->flow, f->busy_ns / 1000u);
	w->st->ok++;
	flow_end(w, slot);
}

/* One response, arrived at `at`: advance, finish or fail its flow (a next
 * request goes out now). */
void bench_on_response(struct worker *w, char *buf, size_t len, uint64_t at, uint64_t now)
{
	const struct bench_cfg *cfg = w->cfg;
	struct bench_resp r;
	struct flow *f;
	int rc;

	w->st->received++;
	rc = bench_resp_parse(cfg, w->th->index, buf, len, &w->msg, &r);
	if (rc == -EBADMSG) {
		w->st->bad_msg++;
		return;
	}
	if (rc || r.slot >= cfg->inflight) {
		w->st->stray++;
		return;
	}
	f = &w->flows[r.slot];
	if (f->active && f->gen == r.gen && cfg->scenario == BENCH_CALL) {
		on_call_response(w, r.slot, &r, at, now);
		return;
	}
	if (!f->active || f->gen != r.gen || f->cseq != r.cseq || r.method != SIP_REGISTER) {
		w->st->stray++; /* late answer to a retransmission, or to an ended flow */
		return;
	}
	if (r.status < 200)
		return;
	if (at < f->t_sent)
		at = f->t_sent;
	bench_hist_add(&w->st->txn, (at - f->t_sent) / 1000u);
	f->busy_ns += at - f->t_sent;
	if (f->cseq == 1) {
		/* correctness: the first REGISTER has no credentials; only a
		 * challenge is right, a 200 here means no digest was checked */
		if (r.status == 200) {
			w->st->early_200++;
			flow_fail(w, r.slot, 200);
			return;
		}
		if (r.status != 401) {
			flow_fail(w, r.slot, r.status);
			return;
		}
		if (bench_resp_chal(cfg, &w->msg, SIP_HDR_WWW_AUTHENTICATE, &f->chal)) {
			w->st->no_challenge++;
			flow_fail(w, r.slot, 401);
			return;
		}
		f->cseq = 2;
		f->nc = 1;
		flow_step(w, r.slot, now);
		return;
	}
	if (r.status != 200) {
		/* a 401/403 (or anything else) to the digest answer is a failure */
		flow_fail(w, r.slot, r.status);
		return;
	}
	w->st->auth_ok++;
	if (f->cseq - 1 < w->steps - 1) {
		/* scenario 2: refresh on the same Call-ID, same nonce, next nc */
		f->cseq++;
		f->nc++;
		flow_step(w, r.slot, now);
		return;
	}
	/* the generator's own time between an answer and the next request
	 * (up to one tick) is not the server's: left out */
	bench_hist_add(&w->st->flow, f->busy_ns / 1000u);
	w->st->ok++;
	flow_end(w, r.slot);
}
