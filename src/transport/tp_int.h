/* Private to src/transport: the worker and connection structures. */
#ifndef SW_TP_INT_H
#define SW_TP_INT_H

#include <pthread.h>

#include "transport/tp.h"

/* What an epoll event points at. */
enum tp_ev_kind { TP_EV_UDP, TP_EV_TCP_LISTEN, TP_EV_CONN, TP_EV_WAKE };

struct tp_ev {
	enum tp_ev_kind kind;
	int fd;
	const struct tp_listen *lst;
};

struct tp_conn {
	struct tp_ev ev;            /**< first: epoll data points here */
	struct tp_conn *next, *prev;/**< worker's connection list */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	uint32_t gen;
	uint64_t last_active_ms;
	char *buf;                  /**< SW_MAX_MSG_SIZE + 1 bytes, allocated on first read */
	size_t len;
};

struct tp_worker {
	struct tp_server *srv;
	unsigned index;
	pthread_t thread;
	int epfd;
	int wakefd;
	struct tp_ev wake_ev;
	struct tp_ev *socks;        /**< one per listen address */
	unsigned nsocks;
	struct tp_conn *conns;
	unsigned nconns;
	uint32_t next_gen;
	struct tp_conn **by_fd;     /**< fd -> conn, for replies on TCP */
	unsigned by_fd_cap;
	void *data;
};

struct tp_server {
	const struct tp_server_cfg *cfg;
	struct tp_worker *workers;
	unsigned nworkers;
	volatile int stopping;
};

void tp_udp_readable(struct tp_worker *w, struct tp_ev *ev);
void tp_tcp_accept(struct tp_worker *w, struct tp_ev *ev);
void tp_conn_readable(struct tp_worker *w, struct tp_conn *c);
void tp_conn_close(struct tp_worker *w, struct tp_conn *c);
void tp_conn_sweep_idle(struct tp_worker *w, uint64_t now_ms);
/* Free the calling thread's datagram buffers. */
void tp_udp_thread_exit(void);

#endif
