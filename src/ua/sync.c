/* Blocking convenience wrappers: start an operation, then poll the UA's socket
 * and timers until it completes. Built only on the public non-blocking API. */
#include "ua/ua_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include "base/util.h"

struct waiter {
	bool done;
	struct sw_ua_result *res;
};

static void on_done(struct sw_ua *ua, const struct sw_ua_result *res, void *arg)
{
	struct waiter *w = arg;

	(void)ua;
	*w->res = *res;
	w->done = true;
}

/* One loop turn: wait for input or the next timer (at most max_ms), then process. */
static int turn(struct sw_ua *ua, int max_ms)
{
	struct pollfd p = { .fd = sw_ua_fd(ua), .events = POLLIN };
	int t = sw_ua_timeout_ms(ua);

	if (t < 0 || t > max_ms)
		t = max_ms;
	if (poll(&p, p.fd >= 0 ? 1 : 0, t) < 0 && errno != EINTR)
		return -errno;
	return sw_ua_process(ua);
}

static int wait_op(struct sw_ua *ua, struct waiter *w, int err)
{
	if (err)
		return err;
	while (!w->done) {
		err = turn(ua, 1000);
		if (err && !w->done && !sw_ua_busy(ua))
			return err;
	}
	return 0;
}

int sw_ua_register_ex(struct sw_ua *ua, unsigned expires, const char *extra_headers,
		      struct sw_ua_result *res)
{
	struct waiter w = { false, res };

	if (!res)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	return wait_op(ua, &w, sw_ua_register_start(ua, expires, extra_headers, on_done, &w));
}

int sw_ua_register(struct sw_ua *ua, unsigned expires, struct sw_ua_result *res)
{
	return sw_ua_register_ex(ua, expires, NULL, res);
}

int sw_ua_unregister(struct sw_ua *ua, struct sw_ua_result *res)
{
	return sw_ua_register_ex(ua, 0, NULL, res);
}

int sw_ua_unregister_all(struct sw_ua *ua, struct sw_ua_result *res)
{
	struct waiter w = { false, res };

	if (!res)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	return wait_op(ua, &w, sw_ua_unregister_all_start(ua, NULL, on_done, &w));
}

int sw_ua_request(struct sw_ua *ua, const char *method, const char *target, const char *extra_headers,
		  const char *body, const char *content_type, struct sw_ua_result *res)
{
	struct waiter w = { false, res };
	struct sw_ua_req req = {
		.method = method,
		.target = target,
		.extra_headers = extra_headers,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.content_type = content_type,
	};

	if (!res)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	return wait_op(ua, &w, sw_ua_request_start(ua, &req, on_done, &w));
}

int sw_ua_bye(struct sw_ua *ua, struct sw_ua_result *res)
{
	struct waiter w = { false, res };

	if (!res)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	return wait_op(ua, &w, sw_ua_bye_start(ua, NULL, on_done, &w));
}

int sw_ua_run(struct sw_ua *ua, unsigned ms)
{
	uint64_t end = base_mono_ms() + ms;

	if (!ua)
		return -EINVAL;
	for (;;) {
		uint64_t now = base_mono_ms();
		int err;

		if (now >= end)
			return 0;
		err = turn(ua, (int)(end - now));
		if (err)
			return err;
	}
}
