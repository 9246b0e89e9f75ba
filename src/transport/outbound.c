/* Outbound datagrams, the per-worker loop hook that drives timers, and the
 * lock-free hand-off of items between workers (queue + eventfd, as DESIGN.md
 * asks: no shared lock on the hot path). Requests a proxy sends go out of the
 * worker's own SO_REUSEPORT socket, so their responses reach the listen port. */
#include "transport/tp_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <unistd.h>

void tp_worker_set_loop(struct tp_worker *w, tp_loop_fn fn, void *arg)
{
	w->loop_fn = fn;
	w->loop_arg = arg;
}

unsigned tp_worker_index(const struct tp_worker *w)
{
	return w->index;
}

unsigned tp_worker_count(const struct tp_worker *w)
{
	return w->srv->nworkers;
}

/* Multi-producer push onto the target's stack; the owner takes the whole
 * stack at once and reverses it, so items run in posting order. */
int tp_worker_post(struct tp_worker *from, unsigned index, struct tp_post *p)
{
	struct tp_server *srv = from->srv;

	if (index >= srv->nworkers)
		return -ENOENT;
	struct tp_worker *to = &srv->workers[index];
	struct tp_post *head = atomic_load_explicit(&to->posts, memory_order_relaxed);
	do {
		p->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&to->posts, &head, p, memory_order_release,
							memory_order_relaxed));
	uint64_t one = 1;
	ssize_t wr = write(to->wakefd, &one, sizeof(one));
	(void)wr; /* a full counter still wakes the reader */
	return 0;
}

void tp_worker_drain_posts(struct tp_worker *w)
{
	uint64_t cnt;
	ssize_t rd = read(w->wakefd, &cnt, sizeof(cnt));
	(void)rd;
	struct tp_post *list = atomic_exchange_explicit(&w->posts, NULL, memory_order_acquire);
	struct tp_post *rev = NULL;
	while (list) {
		struct tp_post *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct tp_post *next = rev->next;
		rev->fn(w, rev);
		rev = next;
	}
}

const struct tp_listen *tp_worker_udp_listen(const struct tp_worker *w, int family)
{
	for (unsigned i = 0; i < w->nsocks; i++) {
		const struct tp_listen *l = w->socks[i].lst;
		if (l && l->proto == TP_UDP && l->addr.ss_family == family)
			return l;
	}
	return NULL;
}

int tp_send_to(struct tp_worker *w, enum tp_proto proto, const struct sockaddr_storage *dst, const void *buf,
	       size_t len)
{
	if (proto != TP_UDP)
		return -EPROTONOSUPPORT;
	for (unsigned i = 0; i < w->nsocks; i++) {
		const struct tp_listen *l = w->socks[i].lst;
		if (!l || l->proto != TP_UDP || l->addr.ss_family != dst->ss_family)
			continue;
		socklen_t dlen = dst->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		if (sendto(w->socks[i].fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)dst, dlen) < 0)
			return -errno;
		return 0;
	}
	return -EAFNOSUPPORT;
}
