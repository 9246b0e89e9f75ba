/* Hand-off of messages between workers (transport/outbound.c) without
 * threads: bytes for a connection another worker owns are queued for it, at
 * most SW_MAX_POSTED_MSGS at a time (a stalled worker must not make the
 * others pile up memory); draining the queue makes room again, and the
 * queued items run in order on the owner. The same cap read directly on
 * tp_worker_post_msg (the proxy hands responses for another worker's
 * transaction through it): per worker, control posts exempt, and quota given
 * back by draining and by unposting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/limits.h"
#include "transport/tp_int.h"

static struct tp_listen tcp_l;
static struct tp_ev socks[2];

static struct tp_server *server(void)
{
	struct tp_server *srv = calloc(1, sizeof(*srv));
	assert_non_null(srv);
	srv->nworkers = 2;
	srv->workers = calloc(2, sizeof(*srv->workers));
	assert_non_null(srv->workers);
	tp_connidx_init(srv);
	assert_int_equal(tp_listen_parse(&tcp_l, "tcp:127.0.0.1:5070"), 0);
	for (unsigned i = 0; i < 2; i++) {
		struct tp_worker *w = &srv->workers[i];
		w->srv = srv;
		w->index = i;
		w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(w->wakefd >= 0);
		socks[i] = (struct tp_ev){ .kind = TP_EV_TCP_LISTEN, .fd = -1, .lst = &tcp_l };
		w->socks = &socks[i];
		w->nsocks = 1;
	}
	return srv;
}

static void server_free(struct tp_server *srv)
{
	for (unsigned i = 0; i < 2; i++) {
		tp_worker_drain_posts(&srv->workers[i]);
		close(srv->workers[i].wakefd);
	}
	tp_connidx_fini(srv);
	free(srv->workers);
	free(srv);
}

static void bytes_for_another_workers_connection_are_bounded(void **state)
{
	(void)state;
	struct tp_server *srv = server();
	/* A connection owned by worker 1 (no socket: its fd is out of worker 1's
	 * table, so a drained item finds nothing and is only freed). */
	struct tp_conn *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(tp_addr_from_text("127.0.0.1", 9, 40000, &c->peer, &c->peerlen), 0);
	c->ev = (struct tp_ev){ .kind = TP_EV_CONN, .fd = 12345, .lst = &tcp_l };
	c->widx = 1;
	c->gen = 7;
	tp_connidx_add(srv, c);

	struct tp_dest d = { .proto = TP_TCP, .addr = c->peer };
	static const char msg[] = "OPTIONS sip:x SIP/2.0\r\n\r\n";
	unsigned sent = 0;
	int err = 0;
	for (unsigned i = 0; i < SW_MAX_POSTED_MSGS + 10; i++) {
		err = tp_send_dest(&srv->workers[0], &d, msg, sizeof(msg) - 1);
		if (err)
			break;
		sent++;
	}
	assert_int_equal(err, -ENOBUFS);
	assert_int_equal(sent, SW_MAX_POSTED_MSGS);
	/* The owner drains its queue: room again. */
	tp_worker_drain_posts(&srv->workers[1]);
	assert_int_equal(tp_send_dest(&srv->workers[0], &d, msg, sizeof(msg) - 1), 0);

	tp_connidx_del(srv, c);
	free(c);
	server_free(srv);
}

static unsigned ran;

static void count_fn(struct tp_worker *w, struct tp_post *p)
{
	(void)w;
	(void)p;
	ran++;
}

/* A post wakes its owner (eventfd write) only when the owner sleeps or is
 * entering epoll_wait; an awake owner finds the item before it sleeps. */
static void posts_wake_only_a_sleeping_owner(void **state)
{
	(void)state;
	struct tp_server *srv = server();
	struct tp_worker *w1 = &srv->workers[1];
	struct tp_post a = { .fn = count_fn }, b = { .fn = count_fn };
	uint64_t cnt = 0;

	ran = 0;
	assert_false(tp_worker_going_to_sleep(w1)); /* nothing queued: may sleep */
	assert_int_equal(tp_worker_post(&srv->workers[0], 1, &a), 0);
	assert_int_equal(read(w1->wakefd, &cnt, sizeof(cnt)), (ssize_t)sizeof(cnt));
	assert_int_equal(cnt, 1);
	atomic_store(&w1->asleep, false); /* woke up */
	assert_int_equal(tp_worker_post(&srv->workers[0], 1, &b), 0);
	assert_int_equal(read(w1->wakefd, &cnt, sizeof(cnt)), -1); /* no write: counter empty */
	assert_true(tp_worker_going_to_sleep(w1)); /* queued: do not sleep */
	tp_worker_run_posts(w1);
	assert_int_equal(ran, 2);
	assert_false(tp_worker_going_to_sleep(w1));
	server_free(srv);
}

static void plain_posts_are_never_refused(void **state)
{
	(void)state;
	struct tp_server *srv = server();
	unsigned n = SW_MAX_POSTED_MSGS + 10;
	struct tp_post *posts = calloc(n, sizeof(*posts));
	assert_non_null(posts);
	/* Items that carry a reference (DNS results, connection snapshots) must
	 * always arrive, even when the message queue is full. */
	static const char msg[] = "x";
	struct tp_conn *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(tp_addr_from_text("127.0.0.1", 9, 40001, &c->peer, &c->peerlen), 0);
	c->ev = (struct tp_ev){ .kind = TP_EV_CONN, .fd = 12346, .lst = &tcp_l };
	c->widx = 1;
	tp_connidx_add(srv, c);
	struct tp_dest d = { .proto = TP_TCP, .addr = c->peer };
	for (unsigned i = 0; i < n && tp_send_dest(&srv->workers[0], &d, msg, 1) == 0; i++)
		;
	ran = 0;
	for (unsigned i = 0; i < n; i++) {
		posts[i].fn = count_fn;
		assert_int_equal(tp_worker_post(&srv->workers[0], 1, &posts[i]), 0);
	}
	tp_worker_drain_posts(&srv->workers[1]);
	assert_int_equal(ran, n);
	tp_connidx_del(srv, c);
	free(c);
	free(posts);
	server_free(srv);
}

/* ---- tp_worker_post_msg directly ---- */

struct probe {
	struct tp_post post;
	unsigned seq;
};

static unsigned probes_ran, last_seq;
static bool in_order;

static void on_probe(struct tp_worker *w, struct tp_post *p)
{
	(void)w;
	struct probe *pr = (struct probe *)p;
	if (probes_ran && pr->seq != last_seq + 1)
		in_order = false;
	last_seq = pr->seq;
	probes_ran++;
}

static void messages_capped_control_posts_not(void **state)
{
	(void)state;
	struct tp_server *srv = server();
	struct probe *pr = calloc(SW_MAX_POSTED_MSGS + 2, sizeof(*pr));
	assert_non_null(pr);

	for (unsigned i = 0; i < SW_MAX_POSTED_MSGS + 2; i++) {
		pr[i].post.fn = on_probe;
		pr[i].seq = i;
	}
	for (unsigned i = 0; i < SW_MAX_POSTED_MSGS; i++)
		assert_int_equal(tp_worker_post_msg(&srv->workers[0], 1, &pr[i].post), 0);
	/* The next message is refused, the queue is left as it was. */
	assert_int_equal(tp_worker_post_msg(&srv->workers[0], 1, &pr[SW_MAX_POSTED_MSGS].post), -ENOBUFS);
	assert_int_equal(atomic_load(&srv->workers[1].posted_msgs), SW_MAX_POSTED_MSGS);
	/* A control post (timer, connection list) still goes through. */
	assert_int_equal(tp_worker_post(&srv->workers[0], 1, &pr[SW_MAX_POSTED_MSGS].post), 0);
	/* Another worker's quota is its own. */
	assert_int_equal(tp_worker_post_msg(&srv->workers[1], 0, &pr[SW_MAX_POSTED_MSGS + 1].post), 0);
	/* No such worker. */
	assert_int_equal(tp_worker_post_msg(&srv->workers[0], 2, &pr[0].post), -ENOENT);

	probes_ran = 0;
	in_order = true;
	tp_worker_drain_posts(&srv->workers[1]);
	assert_int_equal(probes_ran, SW_MAX_POSTED_MSGS + 1);
	assert_true(in_order);
	assert_int_equal(atomic_load(&srv->workers[1].posted_msgs), 0);
	/* Quota back after the drain. */
	assert_int_equal(tp_worker_post_msg(&srv->workers[0], 1, &pr[0].post), 0);
	probes_ran = 0;
	tp_worker_drain_posts(&srv->workers[1]);
	assert_int_equal(probes_ran, 1);
	probes_ran = 0;
	tp_worker_drain_posts(&srv->workers[0]);
	assert_int_equal(probes_ran, 1);
	free(pr);
	server_free(srv);
}

static bool match_even(const struct tp_post *p, void *arg)
{
	(void)arg;
	return ((const struct probe *)p)->seq % 2 == 0;
}

static void unpost_returns_quota(void **state)
{
	(void)state;
	struct tp_server *srv = server();
	struct probe pr[8];

	for (unsigned i = 0; i < 8; i++) {
		pr[i].post.fn = on_probe;
		pr[i].seq = i;
		assert_int_equal(tp_worker_post_msg(&srv->workers[0], 1, &pr[i].post), 0);
	}
	assert_int_equal(tp_worker_unpost(&srv->workers[1], match_even, NULL), 4);
	assert_int_equal(atomic_load(&srv->workers[1].posted_msgs), 4);
	probes_ran = 0;
	tp_worker_drain_posts(&srv->workers[1]);
	assert_int_equal(probes_ran, 4);
	assert_int_equal(last_seq, 7);
	assert_int_equal(atomic_load(&srv->workers[1].posted_msgs), 0);
	server_free(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bytes_for_another_workers_connection_are_bounded),
		cmocka_unit_test(plain_posts_are_never_refused),
		cmocka_unit_test(posts_wake_only_a_sleeping_owner),
		cmocka_unit_test(messages_capped_control_posts_not),
		cmocka_unit_test(unpost_returns_quota),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
