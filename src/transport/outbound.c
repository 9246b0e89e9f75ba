/* Sending requests (datagrams, or bytes on a TCP/TLS connection found in the
 * shared index or opened for the purpose), the per-worker loop hook that
 * drives timers, and the lock-free hand-off of items between workers (queue +
 * eventfd, as DESIGN.md asks: no shared lock on the hot path). UDP requests go
 * out of the worker's own SO_REUSEPORT socket, so their responses reach the
 * listen port; bytes for a connection another worker owns are posted to it. */
#include "transport/tp_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
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
static void push(struct tp_worker *to, struct tp_post *p)
{
	struct tp_post *head = atomic_load_explicit(&to->posts, memory_order_relaxed);
	do {
		p->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&to->posts, &head, p, memory_order_release,
							memory_order_relaxed));
	/* The owner runs its queue before it sleeps (tp_worker_going_to_sleep), so
	 * only a sleeping owner needs the eventfd write and the wake-up it costs.
	 * Both sides store, fence, then load the other's flag (Dekker): either the
	 * owner sees this item, or this sees the owner asleep. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(&to->asleep, memory_order_relaxed))
		return;
	uint64_t one = 1;
	ssize_t wr = write(to->wakefd, &one, sizeof(one));
	(void)wr; /* a full counter still wakes the reader */
}

bool tp_worker_going_to_sleep(struct tp_worker *w)
{
	atomic_store_explicit(&w->asleep, true, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&w->posts, memory_order_relaxed) != NULL;
}

int tp_worker_post(struct tp_worker *from, unsigned index, struct tp_post *p)
{
	if (index >= from->srv->nworkers)
		return -ENOENT;
	p->is_msg = false;
	push(&from->srv->workers[index], p);
	return 0;
}

int tp_worker_post_msg(struct tp_worker *from, unsigned index, struct tp_post *p)
{
	if (index >= from->srv->nworkers)
		return -ENOENT;
	struct tp_worker *to = &from->srv->workers[index];
	if (atomic_fetch_add_explicit(&to->posted_msgs, 1, memory_order_relaxed) >= SW_MAX_POSTED_MSGS) {
		atomic_fetch_sub_explicit(&to->posted_msgs, 1, memory_order_relaxed);
		return -ENOBUFS;
	}
	p->is_msg = true;
	push(to, p);
	return 0;
}

unsigned tp_worker_unpost(struct tp_worker *w, bool (*match)(const struct tp_post *p, void *arg), void *arg)
{
	struct tp_post *list = atomic_exchange_explicit(&w->posts, NULL, memory_order_acquire);
	struct tp_post *keep = NULL, *keep_tail = NULL;
	unsigned taken = 0;

	/* list is newest first; keep that order for what goes back. */
	while (list) {
		struct tp_post *next = list->next;
		if (match(list, arg)) {
			if (list->is_msg)
				atomic_fetch_sub_explicit(&w->posted_msgs, 1, memory_order_relaxed);
			taken++;
		} else {
			list->next = NULL;
			if (keep_tail)
				keep_tail->next = list;
			else
				keep = list;
			keep_tail = list;
		}
		list = next;
	}
	if (keep) {
		/* Others may have pushed meanwhile: splice ours under theirs. */
		struct tp_post *head = atomic_load_explicit(&w->posts, memory_order_relaxed);
		do {
			keep_tail->next = head;
		} while (!atomic_compare_exchange_weak_explicit(&w->posts, &head, keep, memory_order_release,
								memory_order_relaxed));
	}
	return taken;
}

void tp_worker_drain_posts(struct tp_worker *w)
{
	uint64_t cnt;
	ssize_t rd = read(w->wakefd, &cnt, sizeof(cnt));
	(void)rd;
	tp_worker_run_posts(w);
}

void tp_worker_run_posts(struct tp_worker *w)
{
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
		if (rev->is_msg)
			atomic_fetch_sub_explicit(&w->posted_msgs, 1, memory_order_relaxed);
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

const struct tp_listen *tp_worker_listen(const struct tp_worker *w, enum tp_proto proto, int family)
{
	for (unsigned i = 0; i < w->nsocks; i++) {
		const struct tp_listen *l = w->socks[i].lst;
		if (l && l->proto == proto && l->addr.ss_family == family)
			return l;
	}
	return NULL;
}

static int send_udp(struct tp_worker *w, const struct sockaddr_storage *dst, const void *buf, size_t len)
{
	for (unsigned i = 0; i < w->nsocks; i++) {
		const struct tp_listen *l = w->socks[i].lst;
		if (!l || l->proto != TP_UDP || l->addr.ss_family != dst->ss_family)
			continue;
		socklen_t dlen = dst->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
		tp_udp_send_pending(w->socks[i].fd); /* replies held on this socket leave first */
		if (sendto(w->socks[i].fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)dst, dlen) < 0)
			return -errno;
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Bytes for a connection another worker owns, copied once. */
struct conn_post {
	struct tp_post base;
	int fd;
	uint32_t gen;
	size_t len;
	char buf[];
};

static void on_conn_post(struct tp_worker *w, struct tp_post *base)
{
	struct conn_post *cp = (struct conn_post *)base;

	if ((unsigned)cp->fd < w->by_fd_cap) {
		struct tp_conn *c = w->by_fd[cp->fd];
		if (c && c->gen == cp->gen)
			tp_conn_send(w, c, cp->buf, cp->len);
	}
	free(cp);
}

int tp_send_dest(struct tp_worker *w, const struct tp_dest *d, const void *buf, size_t len)
{
	unsigned widx;
	int fd, err;
	uint32_t gen;

	if (d->proto == TP_UDP)
		return send_udp(w, &d->addr, buf, len);
	const struct tp_listen *lst = tp_worker_listen(w, d->proto, d->addr.ss_family);
	if (!lst)
		return -EAFNOSUPPORT;
	if (tp_connidx_find(w->srv, d->proto, &d->addr, &widx, &fd, &gen) == 0) {
		if (widx != w->index) {
			struct conn_post *cp = malloc(sizeof(*cp) + len);
			if (!cp)
				return -ENOMEM;
			cp->base.fn = on_conn_post;
			cp->fd = fd;
			cp->gen = gen;
			cp->len = len;
			memcpy(cp->buf, buf, len);
			err = tp_worker_post_msg(w, widx, &cp->base);
			if (err)
				free(cp);
			return err;
		}
		struct tp_conn *c = (unsigned)fd < w->by_fd_cap ? w->by_fd[fd] : NULL;
		if (c && c->gen == gen)
			return tp_conn_send(w, c, buf, len);
	}
	if (d->flags & TP_DEST_REUSE_ONLY)
		return -ENOTCONN;
	struct tp_conn *c = tp_conn_connect(w, d, lst, &err);
	if (!c)
		return err;
	return tp_conn_send(w, c, buf, len);
}

int tp_send_to(struct tp_worker *w, enum tp_proto proto, const struct sockaddr_storage *dst, const void *buf,
	       size_t len)
{
	struct tp_dest d = { .proto = proto, .addr = *dst };

	if (proto == TP_UDP)
		return send_udp(w, dst, buf, len);
	return tp_send_dest(w, &d, buf, len);
}
