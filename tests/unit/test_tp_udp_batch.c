/* UDP replies of one receive batch (transport/udp.c): a worker on a loopback
 * socket answers every datagram of a burst; the answers arrive complete and in
 * the order the requests were handled, leave in fewer sendmmsg calls than
 * there are answers (no sendto), and a request sent directly on the same
 * socket in the middle of the batch does not overtake the answers held
 * before it. sendmmsg and sendto are counted by wrappers defined here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "transport/tp.h"

#define BURST 8

static atomic_int n_sendmmsg, n_sendmmsg_msgs, n_sendto;

/* Counting wrappers: the library's calls resolve to these. */
int sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	long r = syscall(SYS_sendmmsg, fd, v, n, flags);
	if (r > 0) {
		atomic_fetch_add(&n_sendmmsg, 1);
		atomic_fetch_add(&n_sendmmsg_msgs, (int)r);
	}
	return (int)r;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
	atomic_fetch_add(&n_sendto, 1);
	return syscall(SYS_sendto, fd, buf, len, flags, to, tolen);
}

static void sleep_ms(long ms)
{
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&d, NULL);
}

/* "hold": the worker sleeps so the burst queues up behind it, then answers.
 * "direct": a request sent with tp_send_to to the same peer, then the answer.
 * Anything else: answered "re:" + the datagram. */
static void on_msg(const struct tp_src *src, char *buf, size_t len, void *arg)
{
	char out[64];
	(void)arg;

	if (len == 4 && memcmp(buf, "hold", 4) == 0)
		sleep_ms(300);
	if (len == 6 && memcmp(buf, "direct", 6) == 0)
		tp_send_to(src->worker, TP_UDP, &src->peer, "request", 7);
	int n = snprintf(out, sizeof(out), "re:%.*s", (int)len, buf);
	tp_send_reply(src, out, (size_t)n);
}

static int on_thread(struct tp_worker *w, unsigned index, bool starting, void *arg)
{
	(void)w;
	(void)index;
	(void)starting;
	(void)arg;
	return 0;
}

static int client_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* One datagram within 5 s into buf (NUL-terminated); its length. */
static size_t recv_one(int fd, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	ssize_t n = recv(fd, buf, cap - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	return (size_t)n;
}

static void burst(void **state, bool with_direct)
{
	struct tp_listen l;
	struct tp_server *srv = NULL;
	struct tp_server_cfg cfg = { .listens = &l, .nlistens = 1, .nworkers = 1, .on_msg = on_msg,
				     .on_thread = on_thread };
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char buf[128];
	int fd, port = 0;

	(void)state;
	/* A free port: bind port 0 once, then listen there. */
	fd = client_socket();
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &salen), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	snprintf(buf, sizeof(buf), "udp:127.0.0.1:%d", port);
	assert_int_equal(tp_listen_parse(&l, buf), 0);
	assert_int_equal(tp_server_start(&srv, &cfg), 0);

	fd = client_socket();
	atomic_store(&n_sendmmsg, 0);
	atomic_store(&n_sendmmsg_msgs, 0);
	atomic_store(&n_sendto, 0);
	sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(sendto(fd, "hold", 4, 0, (struct sockaddr *)&sa, sizeof(sa)), 4);
	sleep_ms(50); /* the worker now sleeps in "hold"; the burst queues up */
	for (int i = 0; i < BURST; i++) {
		char m[16];
		int n = with_direct && i == BURST / 2 ? snprintf(m, sizeof(m), "direct")
						      : snprintf(m, sizeof(m), "m%d", i);
		assert_int_equal(sendto(fd, m, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa)), n);
	}
	recv_one(fd, buf, sizeof(buf));
	assert_string_equal(buf, "re:hold");
	/* Answers in request order; the direct request after the answers
	 * produced before it. */
	for (int i = 0; i < BURST; i++) {
		char want[16];
		if (with_direct && i == BURST / 2) {
			recv_one(fd, buf, sizeof(buf));
			assert_string_equal(buf, "request");
			snprintf(want, sizeof(want), "re:direct");
		} else {
			snprintf(want, sizeof(want), "re:m%d", i);
		}
		recv_one(fd, buf, sizeof(buf));
		assert_string_equal(buf, want);
	}
	tp_server_stop(srv);
	close(fd);
	/* Every answer went out through sendmmsg, several per call; the
	 * client's own sendto calls are counted too. */
	assert_int_equal(atomic_load(&n_sendmmsg_msgs), BURST + 1);
	assert_true(atomic_load(&n_sendmmsg) < BURST);
	assert_int_equal(atomic_load(&n_sendto), BURST + 1 + (with_direct ? 1 : 0));
}

static void answers_leave_together_in_order(void **state)
{
	burst(state, false);
}

static void direct_send_does_not_overtake_held_answers(void **state)
{
	burst(state, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(answers_leave_together_in_order),
		cmocka_unit_test(direct_send_does_not_overtake_held_answers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
