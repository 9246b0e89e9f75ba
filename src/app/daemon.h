/* The daemon's request dispatch: what sipwarden does with each message a
 * worker receives (validation order of RFC 3261 §8.2 / §16.3, then REGISTER to
 * the registrar, OPTIONS answered, everything else refused cleanly). */
#ifndef SW_DAEMON_H
#define SW_DAEMON_H

#include "app/config.h"
#include "auth/auth.h"
#include "proxy/proxy.h"
#include "registrar/registrar.h"
#include "transport/tp.h"

struct daemon {
	const struct sw_config *cfg;
	struct auth_ctx auth;
	struct registrar *reg;
	struct proxy proxy;          /**< cfg, reg and auth set before the workers start */
};

/* Per-worker thread setup/teardown (opens that thread's store handle). */
int daemon_on_thread(struct tp_worker *w, unsigned index, bool starting, void *arg);
/* Once per second on each worker: ends an overload episode that went quiet. */
void daemon_on_tick(struct tp_worker *w, void *arg);
/* Before a worker waits for input: end the batch's shared store snapshot. */
void daemon_on_idle(struct tp_worker *w, void *arg);
/* An outbound connection failed before carrying its requests. */
void daemon_on_conn_fail(struct tp_worker *w, enum tp_proto proto, const struct sockaddr_storage *peer, void *arg);
/* One received message. */
void daemon_on_msg(const struct tp_src *src, char *buf, size_t len, void *arg);

#endif
