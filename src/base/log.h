/* One-line-per-event logging to stderr. Never pass a password, HA1 or a whole
 * Authorization header to these functions: there is deliberately no helper that
 * formats secrets. Security events use a stable key=value form for fail2ban. */
#ifndef SW_LOG_H
#define SW_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set the threshold; messages above it are discarded. */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parse "error|warn|info|debug"; 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "security event=NAME key=value ..." line at warning level, always emitted. */
void log_security(const char *event, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Rate limit for lines a remote peer can trigger (refused connections, failed
 * connects): one line per period, the rest counted. Keep one per thread (or
 * per call site on one thread); zero-initialise it. */
struct log_rate {
	uint64_t last_ms;
	unsigned suppressed;
};
/* True when a line may be written now; *missed then gets how many lines were
 * suppressed since the last one written (and the count restarts). */
bool log_rate_allow(struct log_rate *r, unsigned period_ms, unsigned *missed);

#define LOG_ERR(...) log_write(LOG_LVL_ERR, __VA_ARGS__)
#define LOG_WARN(...) log_write(LOG_LVL_WARN, __VA_ARGS__)
#define LOG_INFO(...) log_write(LOG_LVL_INFO, __VA_ARGS__)
#define LOG_DBG(...)                                                                              \
	do {                                                                                      \
		if (log_get_level() >= LOG_LVL_DEBUG)                                             \
			log_write(LOG_LVL_DEBUG, __VA_ARGS__);                                    \
	} while (0)

#endif
