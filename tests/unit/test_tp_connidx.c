/* The shared (transport, peer address) -> connection index (transport/connidx.c)
 * without sockets: a connection is found by exactly its transport, address
 * and port; the newest of two to the same peer wins; removal is clean and
 * idempotent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "transport/tp_int.h"

static struct tp_listen tcp_l, tls_l;

static struct tp_conn *conn(const struct tp_listen *l, const char *ip, uint16_t port, unsigned widx, int fd,
			    uint32_t gen)
{
	struct tp_conn *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_int_equal(tp_addr_from_text(ip, strlen(ip), port, &c->peer, &c->peerlen), 0);
	c->ev = (struct tp_ev){ .kind = TP_EV_CONN, .fd = fd, .lst = l };
	c->widx = widx;
	c->gen = gen;
	return c;
}

static int find(struct tp_server *srv, enum tp_proto p, const char *ip, uint16_t port, unsigned *widx, int *fd,
		uint32_t *gen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	assert_int_equal(tp_addr_from_text(ip, strlen(ip), port, &ss, &len), 0);
	return tp_connidx_find(srv, p, &ss, widx, fd, gen);
}

static void index_by_proto_and_peer(void **state)
{
	(void)state;
	struct tp_server *srv = calloc(1, sizeof(*srv));
	unsigned widx;
	int fd;
	uint32_t gen;

	assert_non_null(srv);
	tp_connidx_init(srv);
	assert_int_equal(tp_listen_parse(&tcp_l, "tcp:127.0.0.1:5060"), 0);
	assert_int_equal(tp_listen_parse(&tls_l, "tls:127.0.0.1:5061"), 0);
	struct tp_conn *a = conn(&tls_l, "192.0.2.7", 40000, 2, 11, 5);
	struct tp_conn *b = conn(&tcp_l, "2001:db8::7", 40000, 1, 12, 6);
	tp_connidx_add(srv, a);
	tp_connidx_add(srv, b);

	assert_int_equal(find(srv, TP_TLS, "192.0.2.7", 40000, &widx, &fd, &gen), 0);
	assert_int_equal(widx, 2);
	assert_int_equal(fd, 11);
	assert_int_equal(gen, 5);
	assert_int_equal(find(srv, TP_TCP, "192.0.2.7", 40000, &widx, &fd, &gen), -ENOENT); /* other transport */
	assert_int_equal(find(srv, TP_TLS, "192.0.2.7", 40001, &widx, &fd, &gen), -ENOENT); /* other port */
	assert_int_equal(find(srv, TP_TLS, "192.0.2.8", 40000, &widx, &fd, &gen), -ENOENT); /* other host */
	assert_int_equal(find(srv, TP_TCP, "2001:db8::7", 40000, &widx, &fd, &gen), 0);
	assert_int_equal(fd, 12);

	/* A newer connection to the same peer is preferred; after it closes the older one serves again. */
	struct tp_conn *a2 = conn(&tls_l, "192.0.2.7", 40000, 0, 13, 1);
	tp_connidx_add(srv, a2);
	assert_int_equal(find(srv, TP_TLS, "192.0.2.7", 40000, &widx, &fd, &gen), 0);
	assert_int_equal(fd, 13);
	tp_connidx_del(srv, a2);
	tp_connidx_del(srv, a2);
	assert_int_equal(find(srv, TP_TLS, "192.0.2.7", 40000, &widx, &fd, &gen), 0);
	assert_int_equal(fd, 11);

	tp_connidx_del(srv, a);
	tp_connidx_del(srv, b);
	assert_int_equal(find(srv, TP_TLS, "192.0.2.7", 40000, &widx, &fd, &gen), -ENOENT);
	assert_int_equal(find(srv, TP_TCP, "2001:db8::7", 40000, &widx, &fd, &gen), -ENOENT);
	for (unsigned i = 0; i < SW_CONN_IDX_BUCKETS; i++)
		assert_null(srv->idx[i]);
	tp_connidx_fini(srv);
	free(a);
	free(a2);
	free(b);
	free(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(index_by_proto_and_peer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
