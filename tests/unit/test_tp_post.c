/* Cross-worker hand-off (transport/outbound.c) without threads: messages
 * posted to a worker are capped at SW_MAX_POSTED_MSGS (the proxy's responses
 * for another worker's transaction and outbound stream sends both go through
 * tp_worker_post_msg), control posts are not, draining runs everything in
 * posting order and frees the quota, and unposting gives the quota back. */
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

struct probe {
	struct tp_post post;
	unsigned seq;
};

static unsigned ran, last_seq;
static bool in_order;

static void on_probe(struct tp_worker *w, struct tp_post *p)
{
	(void)w;
	struct probe *pr = (struct probe *)p;
	if (ran && pr->seq != last_seq + 1)
		in_order = false;
	last_seq = pr->seq;
	ran++;
}

static struct tp_server *two_workers(void)
{
	struct tp_server *srv = calloc(1, sizeof(*srv));
	assert_non_null(srv);
	srv->nworkers = 2;
	srv->workers = calloc(2, sizeof(*srv->workers));
	assert_non_null(srv->workers);
	for (unsigned i = 0; i < 2; i++) {
		srv->workers[i].srv = srv;
		srv->workers[i].index = i;
		srv->workers[i].wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(srv->workers[i].wakefd >= 0);
	}
	return srv;
}

static void free_workers(struct tp_server *srv)
{
	for (unsigned i = 0; i < 2; i++)
		close(srv->workers[i].wakefd);
	free(srv->workers);
	free(srv);
}

static void messages_capped_control_posts_not(void **state)
{
	(void)state;
	struct tp_server *srv = two_workers();
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

	ran = 0;
	in_order = true;
	tp_worker_drain_posts(&srv->workers[1]);
	assert_int_equal(ran, SW_MAX_POSTED_MSGS + 1);
	assert_true(in_order);
	assert_int_equal(atomic_load(&srv->workers[1].posted_msgs), 0);
	/* Quota back after the drain. */
	assert_int_equal(tp_worker_post_msg(&srv->workers[0], 1, &pr[0].post), 0);
	ran = 0;
	tp_worker_drain_posts(&srv->workers[1]);
	assert_int_equal(ran, 1);
	ran = 0;
	tp_worker_drain_posts(&srv->workers[0]);
	assert_int_equal(ran, 1);
	free(pr);
	free_workers(srv);
}

static bool match_even(const struct tp_post *p, void *arg)
{
	(void)arg;
	return ((const struct probe *)p)->seq % 2 == 0;
}

static void unpost_returns_quota(void **state)
{
	(void)state;
	struct tp_server *srv = two_workers();
	struct probe pr[8];

	for (unsigned i = 0; i < 8; i++) {
		pr[i].post.fn = on_probe;
		pr[i].seq = i;
		assert_int_equal(tp_worker_post_msg(&srv->workers[0], 1, &pr[i].post), 0);
	}
	assert_int_equal(tp_worker_unpost(&srv->workers[1], match_even, NULL), 4);
	assert_int_equal(atomic_load(&srv->workers[1].posted_msgs), 4);
	ran = 0;
	tp_worker_drain_posts(&srv->workers[1]);
	assert_int_equal(ran, 4);
	assert_int_equal(last_seq, 7);
	assert_int_equal(atomic_load(&srv->workers[1].posted_msgs), 0);
	free_workers(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(messages_capped_control_posts_not),
		cmocka_unit_test(unpost_returns_quota),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
