/* Response steering (transport/steer.c) on real loopback sockets: three
 * SO_REUSEPORT sockets on one port with the program attached; datagrams sent
 * from many source ports. A response naming worker i in its top Via's branch
 * (one or two digits) reaches socket i from every source; requests, responses
 * whose prefix differs, short ones and ones whose branch lies past the scan
 * are placed by the kernel's address hash (spread over the sockets). Also the
 * program's size and the refused prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/tp_int.h"

#define NSOCK 3
#define SOURCES 24
#define PREFIX "z9hG4bKsw"

struct group {
	int fd[NSOCK];
	struct sockaddr_in addr;
	size_t scan; /* bytes scanned, as attached */
};

static int bind_reuseport(struct sockaddr_in *a)
{
	int one = 1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
	return fd;
}

static void group_open(struct group *g)
{
	socklen_t len = sizeof(g->addr);

	g->addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	g->fd[0] = bind_reuseport(&g->addr);
	assert_int_equal(getsockname(g->fd[0], (struct sockaddr *)&g->addr, &len), 0);
	for (int i = 1; i < NSOCK; i++)
		g->fd[i] = bind_reuseport(&g->addr);
	assert_int_equal(tp_steer_attach(g->fd[0], PREFIX, &g->scan), 0);
	assert_true(g->scan >= 128);
}

static void group_close(struct group *g)
{
	for (int i = 0; i < NSOCK; i++)
		close(g->fd[i]);
}

/* Sends msg from SOURCES fresh sockets; counts[i] = datagrams socket i got. */
static void send_from_many(struct group *g, const char *msg, size_t len, int counts[NSOCK])
{
	char buf[4096];

	memset(counts, 0, NSOCK * sizeof(int));
	for (int s = 0; s < SOURCES; s++) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		assert_true(fd >= 0);
		assert_int_equal(sendto(fd, msg, len, 0, (struct sockaddr *)&g->addr, sizeof(g->addr)), (ssize_t)len);
		close(fd);
	}
	int got = 0;
	for (int tries = 0; got < SOURCES && tries < 200; tries++) {
		struct pollfd p[NSOCK];
		for (int i = 0; i < NSOCK; i++)
			p[i] = (struct pollfd){ .fd = g->fd[i], .events = POLLIN };
		if (poll(p, NSOCK, 10) <= 0)
			continue;
		for (int i = 0; i < NSOCK; i++)
			while (recv(g->fd[i], buf, sizeof(buf), 0) > 0) {
				counts[i]++;
				got++;
			}
	}
	assert_int_equal(got, SOURCES);
}

static size_t response(char *out, size_t cap, const char *branch, size_t pad)
{
	char padding[2048];

	assert_true(pad < sizeof(padding));
	memset(padding, 'a', pad);
	padding[pad] = '\0';
	int n = snprintf(out, cap,
			 "SIP/2.0 200 OK\r\n%s%s%s"
			 "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=%s\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.7:5062;branch=z9hG4bKcaller1\r\n"
			 "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\n"
			 "Call-ID: steer@test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
			 pad ? "X-Pad: " : "", padding, pad ? "\r\n" : "", branch);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static int sockets_used(const int counts[NSOCK])
{
	int n = 0;
	for (int i = 0; i < NSOCK; i++)
		n += counts[i] > 0;
	return n;
}

static void test_responses_reach_the_named_worker(void **state)
{
	(void)state;
	struct group g;
	char msg[4096], branch[64];
	int counts[NSOCK];

	group_open(&g);
	for (int w = 0; w < NSOCK; w++) {
		snprintf(branch, sizeof(branch), PREFIX "%dx1f2e3d", w);
		send_from_many(&g, msg, response(msg, sizeof(msg), branch, 0), counts);
		assert_int_equal(counts[w], SOURCES);
		/* the same with two digits ("02" is worker 2) and the branch near
		 * the end of the scanned bytes */
		snprintf(branch, sizeof(branch), PREFIX "0%dx9", w);
		send_from_many(&g, msg, response(msg, sizeof(msg), branch, g.scan - 64), counts);
		assert_int_equal(counts[w], SOURCES);
	}
	group_close(&g);
}

static void test_everything_else_is_placed_by_address(void **state)
{
	(void)state;
	struct group g;
	char msg[4096];
	int counts[NSOCK];
	size_t n;

	group_open(&g);
	/* a request carrying the same text */
	n = (size_t)snprintf(msg, sizeof(msg),
			     "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=" PREFIX
			     "1x77\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
			     "Call-ID: r@test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	send_from_many(&g, msg, n, counts);
	assert_true(sockets_used(counts) >= 2);
	/* another prefix ending in the same four bytes; no 'x' after the index;
	 * an index of three digits; an index no socket has (7) */
	const char *other[] = { "z9hG5bKsw1x77", PREFIX "1y77", PREFIX "101x7", PREFIX "7x1" };
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		send_from_many(&g, msg, response(msg, sizeof(msg), other[i], 0), counts);
		assert_true(sockets_used(counts) >= 2);
	}
	/* the branch past the scanned bytes */
	send_from_many(&g, msg, response(msg, sizeof(msg), PREFIX "1x77", g.scan), counts);
	assert_true(sockets_used(counts) >= 2);
	/* too short to be scanned */
	n = (size_t)snprintf(msg, sizeof(msg), "SIP/2.0 200 OK\r\nVia: x;branch=" PREFIX "1x7\r\n\r\n");
	send_from_many(&g, msg, n, counts);
	assert_true(sockets_used(counts) >= 2);
	group_close(&g);
}

static void test_program_shape(void **state)
{
	(void)state;
	static struct sock_filter prog[BPF_MAXINSNS];
	int n = tp_steer_build(PREFIX, 1024, prog, BPF_MAXINSNS);

	assert_true(n > 3000 && n <= BPF_MAXINSNS); /* the longest scan fits classic BPF's limit */
	assert_int_equal(prog[n - 1].code, BPF_RET | BPF_K); /* ends in a return */
	assert_true(tp_steer_build(PREFIX, 128, prog, BPF_MAXINSNS) < n / 4);
	assert_int_equal(tp_steer_build("bKsw1", 1024, prog, BPF_MAXINSNS), -EINVAL);
	assert_int_equal(tp_steer_build("z9hG4bKsw-too-long", 1024, prog, BPF_MAXINSNS), -EINVAL);
	assert_int_equal(tp_steer_build(PREFIX, 100, prog, BPF_MAXINSNS), -EINVAL);
	assert_int_equal(tp_steer_build(PREFIX, 1024, prog, 100), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_responses_reach_the_named_worker),
		cmocka_unit_test(test_everything_else_is_placed_by_address),
		cmocka_unit_test(test_program_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
