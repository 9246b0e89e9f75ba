/* UDP: batched receive (recvmmsg) on the worker's own socket, one callback per
 * datagram with its queueing delay (kernel receive timestamp), and replies
 * sent straight back to the source address. */
#include "transport/tp_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/log.h"

#define UDP_BATCH 16
/* Room for one SCM_TIMESTAMPNS control message (and some slack). */
#define UDP_CMSG_SPACE (CMSG_SPACE(sizeof(struct timespec)) + 64)

struct udp_batch {
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage peers[UDP_BATCH];
	union {
		struct cmsghdr align;
		char buf[UDP_CMSG_SPACE];
	} ctl[UDP_BATCH];
	char bufs[UDP_BATCH][SW_MAX_MSG_SIZE + 1];
};

static __thread struct udp_batch *batch;

/* Milliseconds between the kernel's receive timestamp in h (CLOCK_REALTIME)
 * and now; 0 when there is none or the wall clock stepped (negative delay, or
 * one longer than a minute, is not a queue). */
static uint32_t queued_ms(const struct msghdr *h, const struct timespec *now)
{
	for (const struct cmsghdr *cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR((struct msghdr *)h, (struct cmsghdr *)cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_TIMESTAMPNS)
			continue;
		struct timespec ts;
		memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		int64_t ns = (int64_t)(now->tv_sec - ts.tv_sec) * 1000000000 + (now->tv_nsec - ts.tv_nsec);
		if (ns <= 0 || ns > (int64_t)60 * 1000000000)
			return 0;
		return (uint32_t)(ns / 1000000);
	}
	return 0;
}

void tp_udp_readable(struct tp_worker *w, struct tp_ev *ev)
{
	const struct tp_server_cfg *cfg = w->srv->cfg;

	if (!batch) {
		batch = calloc(1, sizeof(*batch));
		if (!batch)
			return;
	}
	for (int rounds = 0; rounds < 8; rounds++) {
		for (unsigned i = 0; i < UDP_BATCH; i++) {
			batch->iov[i].iov_base = batch->bufs[i];
			batch->iov[i].iov_len = SW_MAX_MSG_SIZE + 1;
			memset(&batch->msgs[i].msg_hdr, 0, sizeof(batch->msgs[i].msg_hdr));
			batch->msgs[i].msg_hdr.msg_iov = &batch->iov[i];
			batch->msgs[i].msg_hdr.msg_iovlen = 1;
			batch->msgs[i].msg_hdr.msg_name = &batch->peers[i];
			batch->msgs[i].msg_hdr.msg_namelen = sizeof(batch->peers[i]);
			batch->msgs[i].msg_hdr.msg_control = batch->ctl[i].buf;
			batch->msgs[i].msg_hdr.msg_controllen = sizeof(batch->ctl[i].buf);
		}
		int n = recvmmsg(ev->fd, batch->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				LOG_WARN("recvmmsg on %s: %s", ev->lst->text, strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now); /* per datagram: earlier ones take time */
			size_t len = batch->msgs[i].msg_len;
			/* Oversize datagrams are dropped, never processed truncated. */
			if ((batch->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len > SW_MAX_MSG_SIZE) {
				LOG_DBG("dropped oversize datagram on %s", ev->lst->text);
				continue;
			}
			if (len == 0)
				continue;
			struct tp_src src = {
				.proto = TP_UDP,
				.peerlen = batch->msgs[i].msg_hdr.msg_namelen,
				.fd = ev->fd,
				.lst = ev->lst,
				.worker = w,
				.queued_ms = queued_ms(&batch->msgs[i].msg_hdr, &now),
			};
			memcpy(&src.peer, &batch->peers[i], sizeof(src.peer));
			batch->bufs[i][len] = '\0';
			cfg->on_msg(&src, batch->bufs[i], len, cfg->arg);
		}
		if (n < UDP_BATCH)
			return;
	}
}

void tp_udp_thread_exit(void)
{
	free(batch);
	batch = NULL;
}
