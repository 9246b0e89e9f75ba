/* Overload episode bookkeeping: queueing delay from a receive timestamp, the
 * shedding decision and its log lines. */
#include "base/overload.h"

#include <string.h>

#include "base/log.h"

uint32_t overload_queued_ms(int64_t rx_ns, int64_t now_ns)
{
	int64_t ns = now_ns - rx_ns;

	if (rx_ns <= 0 || ns <= 0 || ns > (int64_t)60 * 1000000000)
		return 0;
	return (uint32_t)(ns / 1000000);
}

void overload_init(struct overload *o, unsigned bound_ms, unsigned worker)
{
	memset(o, 0, sizeof(*o));
	o->bound_ms = bound_ms;
	o->worker = worker;
}

bool overload_exceeded(const struct overload *o, uint32_t delay_ms)
{
	return o->bound_ms && delay_ms > o->bound_ms;
}

void overload_note_shed(struct overload *o, uint32_t delay_ms, uint64_t now_ms)
{
	if (!o->shedding) {
		o->shedding = true;
		o->episode_shed = 0;
		o->max_delay_ms = 0;
		LOG_WARN("overload: shedding started on worker %u (queueing delay %u ms > %u ms)", o->worker,
			 (unsigned)delay_ms, o->bound_ms);
	}
	o->episode_shed++;
	o->total_shed++;
	o->last_shed_ms = now_ms;
	if (delay_ms > o->max_delay_ms)
		o->max_delay_ms = delay_ms;
}

bool overload_tick(struct overload *o, uint64_t now_ms)
{
	if (!o->shedding || now_ms - o->last_shed_ms < SW_OVERLOAD_QUIET_MS)
		return false;
	o->shedding = false;
	LOG_WARN("overload: shedding ended on worker %u, %llu shed (max queueing delay %u ms, %llu since start)",
		 o->worker, (unsigned long long)o->episode_shed, (unsigned)o->max_delay_ms,
		 (unsigned long long)o->total_shed);
	return true;
}
