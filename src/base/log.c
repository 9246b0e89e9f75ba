/* stderr logger: timestamp, level, message; one write(2) per line so lines from
 * several worker threads never interleave. */
#include "base/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

static volatile enum log_level threshold = LOG_LVL_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level lvl)
{
	threshold = lvl;
}

enum log_level log_get_level(void)
{
	return threshold;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -EINVAL;
}

__attribute__((format(printf, 3, 0))) static void emit(const char *lvl, const char *prefix, const char *fmt,
							   va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, lvl,
		     prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* Control characters from the network never reach the log verbatim. */
	for (size_t i = (size_t)n; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

void log_write(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > threshold)
		return;
	va_start(ap, fmt);
	emit(level_names[lvl], "", fmt, ap);
	va_end(ap);
}

void log_security(const char *event, const char *fmt, ...)
{
	char prefix[96];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "security event=%s ", event);
	va_start(ap, fmt);
	emit("warn", prefix, fmt, ap);
	va_end(ap);
}

bool log_rate_allow(struct log_rate *r, unsigned period_ms, unsigned *missed)
{
	uint64_t now = base_mono_ms();

	if (r->last_ms && now - r->last_ms < period_ms) {
		r->suppressed++;
		return false;
	}
	r->last_ms = now ? now : 1;
	*missed = r->suppressed;
	r->suppressed = 0;
	return true;
}
