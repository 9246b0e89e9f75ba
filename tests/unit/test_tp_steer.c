/* Response and request steering (transport/steer.c) on real loopback
 * sockets: three SO_REUSEPORT sockets on one port with the program attached;
 * datagrams sent from many source ports, or many from one. A response naming
 * worker i in its top Via's branch (one or two digits) reaches socket i from
 * every source; a request goes where its Call-ID's hash says, from every
 * source and in every spelling of the header, and one sender's requests with
 * different Call-IDs spread over the sockets; responses whose prefix differs,
 * short ones, ones whose branch lies past the scan, and requests whose
 * Call-ID is not found are placed by the kernel's address hash (spread over
 * the sockets). Also the program's size and the refused arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
	size_t req;  /* request bytes scanned for a Call-ID */
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
	assert_int_equal(tp_steer_attach(g->fd[0], PREFIX, NSOCK, &g->scan, &g->req), 0);
	assert_true(g->scan >= 128);
	assert_true(g->req >= 256);
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
	/* a request carrying the same text goes by its Call-ID, not the branch */
	n = (size_t)snprintf(msg, sizeof(msg),
			     "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=" PREFIX
			     "1x77\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
			     "Call-ID: r@test\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	send_from_many(&g, msg, n, counts);
	assert_int_equal(sockets_used(counts), 1);
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

/* A request with the given Call-ID header line (NULL: none) and padding
 * before it; cseq_last puts CSeq and Content-Length before the Call-ID so that
 * the Call-ID line ends the header. */
static size_t request(char *out, size_t cap, const char *method, const char *callid_line, size_t pad,
		      bool callid_last)
{
	char padding[2048];

	assert_true(pad < sizeof(padding));
	memset(padding, 'p', pad);
	padding[pad] = '\0';
	int n = snprintf(out, cap,
			 "%s sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9:5070;branch=z9hG4bK%s\r\n"
			 "%s%s%sFrom: <sip:a@example.com>;tag=9\r\nTo: <sip:callee@example.com>\r\n"
			 "X-Call-ID: not-this-one-%s\r\n%s%s%s%s",
			 method, method, pad ? "X-Pad: " : "", padding, pad ? "\r\n" : "", method,
			 callid_last ? "" : (callid_line ? callid_line : ""), callid_last ? "" : (callid_line ? "\r\n" : ""),
			 "CSeq: 1 INVITE\r\nContent-Length: 0\r\n",
			 callid_last ? "" : "\r\n");
	assert_true(n > 0 && (size_t)n < cap);
	if (callid_last) {
		int m = snprintf(out + n, cap - (size_t)n, "%s\r\n\r\n", callid_line);
		assert_true(m > 0 && (size_t)(n + m) < cap);
		n += m;
	}
	return (size_t)n;
}

/* Sends msg from src and returns the index of the socket that got it. */
static int place(struct group *g, int src, const char *msg, size_t len)
{
	char buf[4096];

	assert_int_equal(sendto(src, msg, len, 0, (struct sockaddr *)&g->addr, sizeof(g->addr)), (ssize_t)len);
	for (int tries = 0; tries < 200; tries++) {
		struct pollfd p[NSOCK];
		for (int i = 0; i < NSOCK; i++)
			p[i] = (struct pollfd){ .fd = g->fd[i], .events = POLLIN };
		if (poll(p, NSOCK, 10) <= 0)
			continue;
		for (int i = 0; i < NSOCK; i++)
			if (recv(g->fd[i], buf, sizeof(buf), 0) > 0)
				return i;
	}
	fail_msg("datagram not received");
	return -1;
}

static void test_requests_follow_their_call_id(void **state)
{
	(void)state;
	struct group g;
	char msg[4096];
	int counts[NSOCK], one = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(one >= 0);
	group_open(&g);
	/* one Call-ID: one socket from every source, whatever the spelling of
	 * the header, the method, the padding before it, or its place */
	const char *spellings[] = { "Call-ID: 4f2a9c@host", "call-id:4f2a9c@host", "CALL-ID :  4f2a9c@host",
				    "Call-Id:\t4f2a9c@host", "Call-ID: 4f2a9c@host   " };
	int home = place(&g, one, msg, request(msg, sizeof(msg), "INVITE", spellings[0], 0, false));
	/* the worker the daemon computes from the parsed value */
	assert_int_equal(home, (int)tp_callid_worker("4f2a9c@host", 11, NSOCK));
	/* "callee" in the To URI and "X-Call-ID" before the header, at every
	 * alignment: neither ends the scan */
	for (size_t pad = 1; pad <= 4; pad++) {
		send_from_many(&g, msg, request(msg, sizeof(msg), "INVITE", spellings[0], pad, false), counts);
		assert_int_equal(counts[home], SOURCES);
	}
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		send_from_many(&g, msg, request(msg, sizeof(msg), "INVITE", spellings[i], 0, false), counts);
		assert_int_equal(counts[home], SOURCES);
		send_from_many(&g, msg, request(msg, sizeof(msg), "CANCEL", spellings[i], 100, true), counts);
		assert_int_equal(counts[home], SOURCES);
		assert_int_equal(place(&g, one, msg, request(msg, sizeof(msg), "ACK", spellings[i], 37, false)), home);
	}
	/* one sender, many Call-IDs: spread over the sockets, each one stable */
	int seen[NSOCK] = { 0 };
	for (int k = 0; k < 60; k++) {
		char line[64];
		snprintf(line, sizeof(line), "Call-ID: %d-4242@127.0.0.1", k);
		int at = place(&g, one, msg, request(msg, sizeof(msg), "REGISTER", line, 0, false));
		assert_int_equal(place(&g, one, msg, request(msg, sizeof(msg), "REGISTER", line, 5, true)), at);
		assert_int_equal(at, (int)tp_callid_worker(line + 9, strlen(line + 9), NSOCK));
		seen[at]++;
	}
	for (int i = 0; i < NSOCK; i++)
		assert_true(seen[i] >= 5);
	/* a long constant prefix (a 20-digit run id) before the counter: the
	 * hash reaches past it */
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < 60; k++) {
		char line[80];
		snprintf(line, sizeof(line), "Call-ID: 18446744073709551615-0-%d-1@127.0.0.1", k);
		int at = place(&g, one, msg, request(msg, sizeof(msg), "REGISTER", line, 0, false));
		assert_int_equal(at, (int)tp_callid_worker(line + 9, strlen(line + 9), NSOCK));
		seen[at]++;
	}
	for (int i = 0; i < NSOCK; i++)
		assert_true(seen[i] >= 5);
	/* no Call-ID found: by address (spread over the sockets from many
	 * sources): compact form, none, past the scanned bytes, behind a
	 * Call-Info header (its first seven bytes match and end the scan; the
	 * daemon hands such a request over) */
	const char *unfound[] = { "i: 4f2a9c@host", NULL, "Call-ID: 4f2a9c@host",
				  "Call-Info: <http://example.com/a>\r\nCall-ID: 4f2a9c@host" };
	for (size_t i = 0; i < sizeof(unfound) / sizeof(unfound[0]); i++) {
		size_t pad = i == 2 ? g.req + 16 : 0;
		send_from_many(&g, msg, request(msg, sizeof(msg), "INVITE", unfound[i], pad, false), counts);
		assert_true(sockets_used(counts) >= 2);
	}
	group_close(&g);
	close(one);
}

static void test_program_shape(void **state)
{
	(void)state;
	static struct sock_filter prog[BPF_MAXINSNS];
	int n = tp_steer_build(PREFIX, 1024, 0, 0, prog, BPF_MAXINSNS);

	assert_true(n > 3000 && n <= BPF_MAXINSNS); /* the longest scan fits classic BPF's limit */
	assert_int_equal(prog[n - 1].code, BPF_RET | BPF_K); /* ends in a return */
	assert_true(tp_steer_build(PREFIX, 128, 0, 0, prog, BPF_MAXINSNS) < n / 4);
	/* both scans, the longest pair tried first, fit too */
	int both = tp_steer_build(PREFIX, 192, 480, 3, prog, BPF_MAXINSNS);
	assert_true(both > 3000 && both <= BPF_MAXINSNS);
	assert_int_equal(tp_steer_build(PREFIX, 256, 512, 3, prog, BPF_MAXINSNS), -ENOSPC);
	assert_int_equal(tp_steer_build("bKsw1", 1024, 0, 0, prog, BPF_MAXINSNS), -EINVAL);
	assert_int_equal(tp_steer_build("z9hG4bKsw-too-long", 1024, 0, 0, prog, BPF_MAXINSNS), -EINVAL);
	assert_int_equal(tp_steer_build(PREFIX, 100, 0, 0, prog, BPF_MAXINSNS), -EINVAL);
	assert_int_equal(tp_steer_build(PREFIX, 256, 100, 3, prog, BPF_MAXINSNS), -EINVAL); /* not 16 x */
	assert_int_equal(tp_steer_build(PREFIX, 256, 512, 1, prog, BPF_MAXINSNS), -EINVAL); /* one socket */
	assert_int_equal(tp_steer_build(PREFIX, 1024, 0, 0, prog, 100), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_responses_reach_the_named_worker),
		cmocka_unit_test(test_everything_else_is_placed_by_address),
		cmocka_unit_test(test_requests_follow_their_call_id),
		cmocka_unit_test(test_program_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
