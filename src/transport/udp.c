/* UDP: batched receive (recvmmsg) on the worker's own socket, one callback per
 * datagram with its queueing delay (kernel receive timestamp), and replies
 * sent straight back to the source address. Replies produced while a batch
 * is dispatched are copied aside and leave together in one sendmmsg, in the
 * order they were produced, before the next recvmmsg: a retransmission read
 * in the next batch always finds its answer already sent. */
#include "transport/tp_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/log.h"

#define UDP_BATCH 16
/* Room for one SCM_TIMESTAMPNS control message (and some slack). */
#define UDP_CMSG_SPACE (CMSG_SPACE(sizeof(struct timespec)) + 64)
/* Replies held for one sendmmsg: a batch's datagrams rarely produce more
 * than two answers each (provisional + final); more, or more bytes, flush
 * early. A reply larger than the whole area is sent on its own. */
#define UDP_OUT_MAX (2 * UDP_BATCH)
#define UDP_OUT_BYTES (32u * 1024u)
/* A reply waits at most this long for the rest of its batch. */
#define UDP_OUT_MAX_WAIT_NS (500 * 1000)

struct udp_out {
	bool active;   /**< a batch of fd is being dispatched on this thread */
	int fd;
	unsigned n;
	size_t used;
	struct timespec now;   /**< when the datagram being handled was taken up */
	struct timespec first; /**< the same for the oldest held reply */
	struct mmsghdr msgs[UDP_OUT_MAX];
	struct iovec iov[UDP_OUT_MAX];
	struct sockaddr_storage peers[UDP_OUT_MAX];
	char bytes[UDP_OUT_BYTES];
};

struct udp_batch {
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_storage peers[UDP_BATCH];
	union {
		struct cmsghdr align;
		char buf[UDP_CMSG_SPACE];
	} ctl[UDP_BATCH];
	char bufs[UDP_BATCH][SW_MAX_MSG_SIZE + 1];
	struct udp_out out;
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

/* Send every held reply, oldest first. A message the kernel refuses (full
 * send buffer, no route) is dropped as a direct sendto's failure was, and
 * the rest still go; each pass but a few interrupted ones moves on by at
 * least one, so this ends. */
static void out_flush(struct udp_out *o)
{
	unsigned i = 0, interrupted = 0;

	while (i < o->n) {
		int r = sendmmsg(o->fd, &o->msgs[i], o->n - i, MSG_DONTWAIT);
		if (r > 0) {
			i += (unsigned)r;
			if (i == o->n)
				break;
			/* Stopped early: the next one failed, and Linux parked its
			 * error on the socket, where the next recvmmsg would find it. */
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			LOG_DBG("reply not sent: %s", strerror(soerr ? soerr : EAGAIN));
			i++;
			continue;
		}
		if (r < 0 && errno == EINTR && interrupted++ < 3)
			continue;
		LOG_DBG("reply not sent: %s", strerror(r < 0 ? errno : EAGAIN));
		i++;
	}
	o->n = 0;
	o->used = 0;
}

int tp_udp_send_reply(const struct tp_src *src, const void *buf, size_t len)
{
	struct udp_out *o = batch ? &batch->out : NULL;

	if (!o || !o->active || o->fd != src->fd || len > UDP_OUT_BYTES) {
		if (o && o->active && o->n)
			out_flush(o); /* what was held leaves first */
		ssize_t n = sendto(src->fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)&src->peer, src->peerlen);
		return n < 0 ? -errno : 0;
	}
	if (o->n == UDP_OUT_MAX || UDP_OUT_BYTES - o->used < len)
		out_flush(o);
	if (o->n == 0)
		o->first = o->now;
	unsigned i = o->n++;
	memcpy(o->bytes + o->used, buf, len);
	o->iov[i] = (struct iovec){ o->bytes + o->used, len };
	o->used += len;
	memcpy(&o->peers[i], &src->peer, sizeof(o->peers[i]));
	o->msgs[i].msg_hdr = (struct msghdr){
		.msg_name = &o->peers[i],
		.msg_namelen = src->peerlen,
		.msg_iov = &o->iov[i],
		.msg_iovlen = 1,
	};
	return 0;
}

void tp_udp_send_pending(int fd)
{
	struct udp_out *o = batch ? &batch->out : NULL;

	if (o && o->active && o->fd == fd && o->n)
		out_flush(o);
}

/* Replies held longer than UDP_OUT_MAX_WAIT_NS go now (slow requests later
 * in the batch do not delay the answers to earlier ones much). A wall clock
 * step only flushes early, or at the end of the batch as usual. */
static void out_flush_if_old(struct udp_out *o)
{
	if (o->n && (o->now.tv_sec - o->first.tv_sec) * 1000000000L + (o->now.tv_nsec - o->first.tv_nsec) >=
			    UDP_OUT_MAX_WAIT_NS)
		out_flush(o);
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
		atomic_fetch_add_explicit(&w->udp_datagrams, (uint64_t)n, memory_order_relaxed);
		batch->out.active = true;
		batch->out.fd = ev->fd;
		for (int i = 0; i < n; i++) {
			struct timespec now;
			clock_gettime(CLOCK_REALTIME, &now); /* per datagram: earlier ones take time */
			batch->out.now = now;
			out_flush_if_old(&batch->out);
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
				.steered = ev->steered,
				.by_call_id = ev->by_call_id,
				.worker = w,
				.queued_ms = queued_ms(&batch->msgs[i].msg_hdr, &now),
			};
			memcpy(&src.peer, &batch->peers[i], sizeof(src.peer));
			batch->bufs[i][len] = '\0';
			cfg->on_msg(&src, batch->bufs[i], len, cfg->arg);
		}
		if (batch->out.n)
			out_flush(&batch->out);
		batch->out.active = false;
		if (n < UDP_BATCH)
			return;
	}
}

void tp_udp_thread_exit(void)
{
	free(batch);
	batch = NULL;
}
