/* sipwarden-bench: the fixed-size latency histogram, counter merging, and the
 * user/password name formats ("u%05d", "pw-%05d-Bench"). */
#include "bench/bench.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static unsigned hist_index(uint64_t us)
{
	unsigned e, sub, idx;

	if (us < 64)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us); /* 6.. */
	sub = (unsigned)(us >> (e - 5)) & (BENCH_HIST_SUB - 1);
	idx = 64u + (e - 6) * BENCH_HIST_SUB + sub;
	return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

/* Upper bound (us) of bucket idx. */
static uint64_t hist_upper(unsigned idx)
{
	unsigned e, sub;

	if (idx < 64)
		return idx;
	e = (idx - 64u) / BENCH_HIST_SUB + 6u;
	sub = (idx - 64u) % BENCH_HIST_SUB;
	return ((uint64_t)(BENCH_HIST_SUB + sub + 1) << (e - 5)) - 1;
}

void bench_hist_add(struct bench_hist *h, uint64_t us)
{
	h->b[hist_index(us)]++;
	h->n++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
}

void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		into->b[i] += from->b[i];
	into->n += from->n;
	into->sum_us += from->sum_us;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
}

uint64_t bench_hist_pct(const struct bench_hist *h, double q)
{
	uint64_t want, seen = 0;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n + 0.999999);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = hist_upper(i);

			return v < h->max_us ? v : h->max_us;
		}
	}
	return h->max_us;
}

void bench_stats_merge(struct bench_stats *into, const struct bench_stats *from)
{
	into->started += from->started;
	into->ok += from->ok;
	into->failed += from->failed;
	into->timeouts += from->timeouts;
	into->not_started += from->not_started;
	into->auth_ok += from->auth_ok;
	into->sent += from->sent;
	into->retrans += from->retrans;
	into->received += from->received;
	into->stray += from->stray;
	into->bad_msg += from->bad_msg;
	into->no_challenge += from->no_challenge;
	into->early_200 += from->early_200;
	into->conn_errors += from->conn_errors;
	for (unsigned i = 0; i < 700; i++)
		into->fail_status[i] += from->fail_status[i];
	bench_hist_merge(&into->flow, &from->flow);
	bench_hist_merge(&into->txn, &from->txn);
}

/* Walks fmt; with out == NULL only checks it. */
static int format_walk(const char *fmt, unsigned i, char *out, size_t cap)
{
	size_t o = 0;
	int directives = 0;

	for (const char *p = fmt; *p; p++) {
		char num[32];
		size_t nlen;

		if (*p != '%') {
			if (out && o + 1 < cap)
				out[o] = *p;
			o++;
			continue;
		}
		p++;
		if (*p == '%') {
			if (out && o + 1 < cap)
				out[o] = '%';
			o++;
			continue;
		}
		unsigned width = 0;
		bool zero = false;

		if (*p == '0') {
			zero = true;
			p++;
		}
		while (*p >= '0' && *p <= '9' && width < 100)
			width = width * 10 + (unsigned)(*p++ - '0');
		if (*p != 'd' || width > 20 || ++directives > 1)
			return -EINVAL;
		nlen = (size_t)snprintf(num, sizeof(num), zero ? "%0*u" : "%*u", (int)width, i);
		if (out && o + nlen < cap)
			memcpy(out + o, num, nlen);
		o += nlen;
	}
	if (!out)
		return 0;
	if (o + 1 > cap)
		return -ENOSPC;
	out[o] = '\0';
	return (int)o;
}

int bench_format_check(const char *fmt)
{
	return format_walk(fmt, 0, NULL, 0);
}

int bench_format_user(const char *fmt, unsigned i, char *out, size_t cap)
{
	if (cap == 0)
		return -ENOSPC;
	return format_walk(fmt, i, out, cap);
}
