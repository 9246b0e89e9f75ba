/* Replies on a TCP connection leave in one write per read (transport/
 * streamhold.c): requests pipelined in one segment get their answers in one
 * send() call, complete and in order; a request the worker sends on the same
 * connection in the middle (tp_send_to) does not overtake the answers made
 * before it; without pipelining every answer still leaves at once, after one
 * read per request. send() and recvmsg() are counted by wrappers defined here
 * (the client writes with write() and reads with read()). */
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

#define PIPELINED 6

static atomic_int n_send, n_recvmsg;

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	atomic_fetch_add(&n_send, 1);
	return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	atomic_fetch_add(&n_recvmsg, 1);
	return syscall(SYS_recvmsg, fd, msg, flags);
}

/* "X: direct": a request to the peer through tp_send_to first; every message
 * is answered "re:" + its X value + "\n". */
static void on_msg(const struct tp_src *src, char *buf, size_t len, void *arg)
{
	char out[64];
	const char *x = strstr(buf, "X: ");
	const char *e = x ? strstr(x, "\r\n") : NULL;
	(void)arg;
	(void)len;

	assert_non_null(e);
	if ((size_t)(e - x - 3) == 6 && memcmp(x + 3, "direct", 6) == 0)
		assert_int_equal(tp_send_to(src->worker, TP_TCP, &src->peer, "request\n", 8), 0);
	int n = snprintf(out, sizeof(out), "re:%.*s\n", (int)(e - x - 3), x + 3);
	assert_int_equal(tp_send_reply(src, out, (size_t)n), 0);
}

static int on_thread(struct tp_worker *w, unsigned index, bool starting, void *arg)
{
	(void)w;
	(void)index;
	(void)starting;
	(void)arg;
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&d, NULL);
}

/* Everything the server sends until want bytes arrived (5 s at most). */
static void read_all(int fd, char *buf, size_t want)
{
	size_t got = 0;

	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		assert_int_equal(poll(&p, 1, 5000), 1);
		ssize_t n = read(fd, buf + got, want - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	buf[got] = '\0';
}

struct fixture {
	struct tp_listen l;
	struct tp_server_cfg cfg;
	struct tp_server *srv;
	int fd;
};

static void start(struct fixture *f)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	char text[64];
	int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(probe, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(probe, (struct sockaddr *)&sa, &salen), 0);
	close(probe);
	snprintf(text, sizeof(text), "tcp:127.0.0.1:%d", ntohs(sa.sin_port));
	assert_int_equal(tp_listen_parse(&f->l, text), 0);
	f->cfg = (struct tp_server_cfg){ .listens = &f->l, .nlistens = 1, .nworkers = 1, .on_msg = on_msg,
					 .on_thread = on_thread };
	assert_int_equal(tp_server_start(&f->srv, &f->cfg), 0);
	f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void stop(struct fixture *f)
{
	close(f->fd);
	tp_server_stop(f->srv);
}

static size_t request(char *out, size_t cap, const char *x)
{
	return (size_t)snprintf(out, cap, "OPTIONS sip:a@b SIP/2.0\r\nX: %s\r\nContent-Length: 0\r\n\r\n", x);
}

static void pipelined(bool with_direct)
{
	struct fixture f;
	char all[4096], want[1024], got[1024];
	size_t n = 0, wn = 0;

	start(&f);
	for (int i = 0; i < PIPELINED; i++) {
		char x[16];
		snprintf(x, sizeof(x), with_direct && i == PIPELINED / 2 ? "direct" : "m%d", i);
		n += request(all + n, sizeof(all) - n, x);
		if (with_direct && i == PIPELINED / 2)
			wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "request\n");
		wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "re:%s\n", x);
	}
	atomic_store(&n_send, 0);
	assert_int_equal(write(f.fd, all, n), (ssize_t)n); /* one segment, one read */
	read_all(f.fd, got, wn);
	assert_string_equal(got, want);
	sleep_ms(50);
	/* one send for all the answers; with the direct request, the answers
	 * before it, the request, then the rest */
	assert_int_equal(atomic_load(&n_send), with_direct ? 3 : 1);
	stop(&f);
}

static void pipelined_answers_leave_in_one_write(void **state)
{
	(void)state;
	pipelined(false);
}

static void direct_request_does_not_overtake_held_answers(void **state)
{
	(void)state;
	pipelined(true);
}

/* One request at a time: each answer leaves right after its request, and
 * each request takes one read (a read that does not fill the buffer ends the
 * read loop; epoll reports the next bytes). */
static void lone_requests_answered_at_once(void **state)
{
	struct fixture f;
	char req[256], got[64];

	(void)state;
	start(&f);
	atomic_store(&n_send, 0);
	atomic_store(&n_recvmsg, 0);
	for (int i = 0; i < 3; i++) {
		char x[16], want[32];
		snprintf(x, sizeof(x), "s%d", i);
		size_t n = request(req, sizeof(req), x);
		assert_int_equal(write(f.fd, req, n), (ssize_t)n);
		snprintf(want, sizeof(want), "re:%s\n", x);
		read_all(f.fd, got, strlen(want));
		assert_string_equal(got, want);
	}
	assert_int_equal(atomic_load(&n_send), 3);
	assert_int_equal(atomic_load(&n_recvmsg), 3);
	stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pipelined_answers_leave_in_one_write),
		cmocka_unit_test(direct_request_does_not_overtake_held_answers),
		cmocka_unit_test(lone_requests_answered_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
