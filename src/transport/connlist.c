/* Snapshots of the TCP/TLS connections for the control socket. Each worker
 * owns its connection list, so the request is posted to every worker
 * (tp_worker_post) and each copies its own list on its own thread; the caller
 * waits with a deadline. The shared request is reference-counted: a worker
 * that answers after the caller gave up still finds it alive, and whoever
 * drops the last reference frees it. */
#include "transport/tp_int.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"

struct list_req;

struct list_slot {
	struct tp_post post;        /**< first: the worker gets this pointer back */
	struct list_req *req;
	struct tp_conn_info *items; /**< filled by the worker, freed with the request */
	size_t n;
	bool truncated;
	bool done;
};

struct list_req {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned refs;              /**< caller + each worker not yet answered */
	unsigned answered;
	unsigned nslots;
	struct list_slot slots[];
};

static void req_free(struct list_req *r)
{
	for (unsigned i = 0; i < r->nslots; i++)
		free(r->slots[i].items);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* Drop one reference; frees r when it was the last. */
static void req_put(struct list_req *r)
{
	pthread_mutex_lock(&r->mu);
	bool last = --r->refs == 0;
	pthread_mutex_unlock(&r->mu);
	if (last)
		req_free(r);
}

static void fill_info(struct tp_conn_info *ci, const struct tp_worker *w, const struct tp_conn *c, uint64_t now)
{
	memset(ci, 0, sizeof(*ci));
	ci->worker = w->index;
	if (c->ev.lst) {
		ci->proto = c->ev.lst->proto;
		snprintf(ci->listen, sizeof(ci->listen), "%s", c->ev.lst->text);
	} else {
		/* a connection this side opened has no listen address */
		ci->proto = c->ssl ? TP_TLS : TP_TCP;
		snprintf(ci->listen, sizeof(ci->listen), "outbound");
	}
	tp_addr_text(&c->peer, ci->peer_ip, sizeof(ci->peer_ip), &ci->peer_port);
	ci->age_ms = now > c->accepted_ms ? now - c->accepted_ms : 0;
	ci->idle_ms = now > c->last_active_ms ? now - c->last_active_ms : 0;
	ci->buffered = c->len;
	ci->handshaking = c->handshaking;
	if (c->ssl && !c->handshaking)
		snprintf(ci->tls_version, sizeof(ci->tls_version), "%s", SSL_get_version(c->ssl));
	snprintf(ci->peer_identity, sizeof(ci->peer_identity), "%s", c->peer_identity);
}

/* Runs on the worker that owns the connections. */
static void snapshot(struct tp_worker *w, struct tp_post *p)
{
	struct list_slot *s = (struct list_slot *)p;
	struct list_req *r = s->req;
	size_t cap = w->nconns < SW_CTL_MAX_LISTED ? w->nconns : SW_CTL_MAX_LISTED;
	struct tp_conn_info *items = cap ? malloc(cap * sizeof(*items)) : NULL;
	size_t n = 0;
	bool truncated = false;
	uint64_t now = base_mono_ms();

	for (const struct tp_conn *c = w->conns; c; c = c->next) {
		if (n == cap || !items) {
			truncated = true;
			break;
		}
		fill_info(&items[n++], w, c, now);
	}
	pthread_mutex_lock(&r->mu);
	s->items = items;
	s->n = n;
	s->truncated = truncated;
	s->done = true;
	r->answered++;
	bool last = --r->refs == 0;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (last)
		req_free(r);
}

unsigned tp_server_worker_count(const struct tp_server *srv)
{
	return srv->nworkers;
}

uint64_t tp_server_worker_datagrams(const struct tp_server *srv, unsigned i)
{
	if (i >= srv->nworkers)
		return 0;
	return atomic_load_explicit(&srv->workers[i].udp_datagrams, memory_order_relaxed);
}

int tp_server_conn_list(struct tp_server *srv, unsigned timeout_ms, struct tp_conn_info **out, size_t *n,
			unsigned *workers_answered, bool *truncated)
{
	unsigned nw = srv->nworkers;
	struct list_req *r = calloc(1, sizeof(*r) + nw * sizeof(r->slots[0]));
	pthread_condattr_t ca;
	struct timespec deadline;
	int err = 0;

	*out = NULL;
	*n = 0;
	*workers_answered = 0;
	*truncated = false;
	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
	r->nslots = nw;
	r->refs = 1;
	pthread_mutex_lock(&r->mu);
	for (unsigned i = 0; i < nw; i++) {
		r->slots[i].req = r;
		r->slots[i].post.fn = snapshot;
		r->refs++;
		if (tp_worker_post(&srv->workers[0], i, &r->slots[i].post))
			r->refs--;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (r->answered < nw)
		if (pthread_cond_timedwait(&r->cv, &r->mu, &deadline) == ETIMEDOUT)
			break;
	size_t total = 0;
	for (unsigned i = 0; i < nw; i++)
		if (r->slots[i].done)
			total += r->slots[i].n;
	struct tp_conn_info *all = total ? malloc(total * sizeof(*all)) : NULL;
	if (total && !all) {
		err = -ENOMEM;
	} else {
		for (unsigned i = 0; i < nw; i++) {
			const struct list_slot *s = &r->slots[i];
			if (!s->done)
				continue;
			if (s->n)
				memcpy(all + *n, s->items, s->n * sizeof(*all));
			*n += s->n;
			*truncated = *truncated || s->truncated;
		}
		*workers_answered = r->answered;
		*out = all;
	}
	pthread_mutex_unlock(&r->mu);
	req_put(r);
	return err;
}
