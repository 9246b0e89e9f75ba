/* Overload episodes of one worker: measures a request's queueing delay from
 * a kernel receive timestamp, decides whether a new request is shed (its
 * queueing delay passed the bound) and logs once per episode,
 * "overload: shedding started" on the first shed request and
 * "overload: shedding ended, N shed" after SW_OVERLOAD_QUIET_MS without one.
 * Owned by one thread; no locks. */
#ifndef SW_OVERLOAD_H
#define SW_OVERLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "base/limits.h"

struct overload {
	unsigned bound_ms;       /**< shed past this queueing delay; 0 = never */
	unsigned worker;         /**< for the log lines */
	bool shedding;           /**< inside an episode */
	uint64_t episode_shed;   /**< shed in the current episode */
	uint64_t total_shed;     /**< shed since start */
	uint64_t last_shed_ms;   /**< monotonic ms of the latest shed */
	uint32_t max_delay_ms;   /**< worst delay seen in the episode */
};

/* Milliseconds from rx_ns, a kernel receive timestamp (SO_TIMESTAMPNS,
 * CLOCK_REALTIME, in ns; 0 = none), to now_ns on the same clock. 0 when there
 * is none or the wall clock stepped: a negative delay, or one over a minute
 * (no socket buffer holds that much), is not a queue. */
uint32_t overload_queued_ms(int64_t rx_ns, int64_t now_ns);

void overload_init(struct overload *o, unsigned bound_ms, unsigned worker);
/* true when a new request that waited delay_ms must be shed. */
bool overload_exceeded(const struct overload *o, uint32_t delay_ms);
/* Count one shed request at now_ms (starts an episode, logged, when none runs). */
void overload_note_shed(struct overload *o, uint32_t delay_ms, uint64_t now_ms);
/* Ends the episode (logged with its count) once SW_OVERLOAD_QUIET_MS passed
 * since the last shed; call periodically. true when it ended just now. */
bool overload_tick(struct overload *o, uint64_t now_ms);

#endif
