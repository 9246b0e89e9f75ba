/* Requests handed between workers: when UDP requests are placed by Call-ID
 * (steer.c), a request that reached another worker (its Call-ID past the
 * kernel's scan, in compact form, or the kernel's program refused) is copied
 * once into a post for the worker that owns its Call-ID, which takes it as
 * if it had arrived on its own socket of the same listen address. */
#include "transport/tp_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t n_handed_over;

struct req_post {
	struct tp_post base;
	struct tp_src src;
	size_t len;
	char buf[]; /* len bytes and a NUL, as the receive path leaves them */
};

static void on_post(struct tp_worker *w, struct tp_post *base)
{
	struct req_post *rp = (struct req_post *)base;
	const struct tp_server_cfg *cfg = w->srv->cfg;

	for (unsigned i = 0; i < w->nsocks; i++) {
		if (w->socks[i].lst != rp->src.lst)
			continue;
		/* Replies leave from this worker's socket of the same address
		 * (the same local port), sent at once: no batch is open here. */
		rp->src.fd = w->socks[i].fd;
		rp->src.steered = w->socks[i].steered;
		rp->src.by_call_id = false;
		rp->src.worker = w;
		cfg->on_msg(&rp->src, rp->buf, rp->len, cfg->arg);
		break;
	}
	free(rp);
}

int tp_udp_hand_over(const struct tp_src *src, unsigned index, const char *buf, size_t len)
{
	struct req_post *rp;
	int err;

	if (src->proto != TP_UDP || !src->worker || index >= src->worker->srv->nworkers)
		return -ENOENT;
	rp = malloc(sizeof(*rp) + len + 1);
	if (!rp)
		return -ENOMEM;
	rp->base.fn = on_post;
	rp->src = *src;
	rp->src.peer_identity = NULL;
	rp->len = len;
	memcpy(rp->buf, buf, len);
	rp->buf[len] = '\0';
	err = tp_worker_post_msg(src->worker, index, &rp->base);
	if (err) {
		free(rp);
		return err;
	}
	atomic_fetch_add_explicit(&n_handed_over, 1, memory_order_relaxed);
	return 0;
}

uint64_t tp_requests_handed_over(void)
{
	return atomic_load_explicit(&n_handed_over, memory_order_relaxed);
}
