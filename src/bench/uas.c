/* sipwarden-bench --uas: the callee of scenario 3, so the caller and the
 * callee of the call benchmark are both multi-threaded (a single SIPp UAS
 * limited the call rate on a small machine). Stateless, one UDP socket per
 * thread on one shared port (SO_REUSEPORT): an INVITE gets 200 OK with SDP
 * (To tag from the Call-ID, Record-Route echoed, our Contact), a BYE or any
 * other request but ACK gets 200 OK, ACKs and responses are counted and
 * dropped. A retransmitted INVITE gets the same 200 again; the 200 itself is
 * not retransmitted (over loopback a loss means an overloaded socket, which
 * the caller then counts as a failed call). */
#include "bench/bench.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "base/util.h"

#define UAS_BATCH 64
#define UAS_MAX_MSG 4096

struct uas_thread {
	const struct sockaddr_storage *addr;
	double max_s;
	int fd;
	char ip[INET6_ADDRSTRLEN];
	uint16_t port;
	struct bench_uas_stats stats;
	int err;
	pthread_t tid;
};

static volatile sig_atomic_t uas_stop;

void bench_uas_request_stop(void)
{
	uas_stop = 1;
}

static void put_hdrs(struct sip_buf *b, const struct sip_msg *m, enum sip_hdr_id id, const char *name)
{
	for (const struct sip_hdr *h = sip_msg_hdr(m, id); h; h = sip_msg_hdr_next(m, h)) {
		sip_buf_puts(b, name);
		sip_buf_slice(b, h->value);
		sip_buf_put(b, "\r\n", 2);
	}
}

/* The 200 OK to req into out; its length, or -ENOSPC / -EINVAL. */
static int uas_answer(const struct uas_thread *t, const struct sip_msg *req, char *out, size_t cap)
{
	const struct sip_hdr *to = sip_msg_hdr(req, SIP_HDR_TO);
	bool invite = req->method == SIP_INVITE;
	char body[320], tag[17];
	int blen = 0;
	struct sip_buf b;

	if (!to || !req->call_id.len || !sip_msg_hdr(req, SIP_HDR_VIA))
		return -EINVAL;
	if (invite) {
		char v = strchr(t->ip, ':') ? '6' : '4';

		blen = snprintf(body, sizeof(body),
				"v=0\r\no=bench-uas 1 1 IN IP%c %s\r\ns=-\r\nc=IN IP%c %s\r\nt=0 0\r\n"
				"m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n", v, t->ip, v, t->ip);
		if (blen < 0 || (size_t)blen >= sizeof(body))
			return -ENOSPC;
	}
	sip_buf_init(&b, out, cap);
	sip_buf_puts(&b, "SIP/2.0 200 OK\r\n");
	put_hdrs(&b, req, SIP_HDR_VIA, "Via: ");
	if (invite)
		put_hdrs(&b, req, SIP_HDR_RECORD_ROUTE, "Record-Route: ");
	put_hdrs(&b, req, SIP_HDR_FROM, "From: ");
	sip_buf_puts(&b, "To: ");
	sip_buf_slice(&b, to->value);
	if (!req->to.tag.len) {
		uint64_t h = base_hash(req->call_id.p, req->call_id.len);

		base_hex((const uint8_t *)&h, sizeof(h), tag);
		sip_buf_puts(&b, ";tag=u");
		sip_buf_puts(&b, tag);
	}
	sip_buf_puts(&b, "\r\nCall-ID: ");
	sip_buf_slice(&b, req->call_id);
	sip_buf_puts(&b, "\r\nCSeq: ");
	sip_buf_u64(&b, req->cseq);
	sip_buf_put(&b, " ", 1);
	sip_buf_slice(&b, req->cseq_method_name);
	sip_buf_puts(&b, "\r\nContact: <sip:callee@");
	if (strchr(t->ip, ':')) {
		sip_buf_put(&b, "[", 1);
		sip_buf_puts(&b, t->ip);
		sip_buf_put(&b, "]", 1);
	} else {
		sip_buf_puts(&b, t->ip);
	}
	sip_buf_put(&b, ":", 1);
	sip_buf_u64(&b, t->port);
	sip_buf_puts(&b, ">\r\n");
	if (invite)
		sip_buf_puts(&b, "Content-Type: application/sdp\r\n");
	sip_buf_puts(&b, "Content-Length: ");
	sip_buf_u64(&b, (uint64_t)blen);
	sip_buf_puts(&b, "\r\n\r\n");
	sip_buf_put(&b, body, (size_t)blen);
	if (b.overflow)
		return -ENOSPC;
	return (int)b.len;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *uas_main(void *arg)
{
	struct uas_thread *t = arg;
	static __thread char in[UAS_BATCH][UAS_MAX_MSG], out[UAS_BATCH][UAS_MAX_MSG];
	struct sockaddr_storage from[UAS_BATCH];
	struct mmsghdr rx[UAS_BATCH], tx[UAS_BATCH];
	struct iovec riov[UAS_BATCH], tiov[UAS_BATCH];
	struct sip_msg *m = malloc(sizeof(*m));
	double end = t->max_s > 0 ? now_s() + t->max_s : 0;

	if (!m) {
		t->err = -ENOMEM;
		return NULL;
	}
	while (!uas_stop && (!end || now_s() < end)) {
		struct pollfd pfd = { .fd = t->fd, .events = POLLIN };

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		for (int i = 0; i < UAS_BATCH; i++) {
			riov[i] = (struct iovec){ .iov_base = in[i], .iov_len = UAS_MAX_MSG - 1 };
			rx[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = sizeof(from[i]),
							 .msg_iov = &riov[i], .msg_iovlen = 1 };
		}
		int n = recvmmsg(t->fd, rx, UAS_BATCH, MSG_DONTWAIT, NULL), nout = 0;

		for (int i = 0; i < n; i++) {
			struct sip_parse_err perr;
			int len;

			if (sip_msg_parse(m, in[i], rx[i].msg_len, &perr)) {
				t->stats.bad++;
				continue;
			}
			if (!m->is_request) {
				t->stats.responses++;
				continue;
			}
			if (m->method == SIP_ACK) {
				t->stats.acks++;
				continue;
			}
			if (m->method == SIP_INVITE)
				t->stats.invites++;
			else if (m->method == SIP_BYE)
				t->stats.byes++;
			else
				t->stats.other++;
			len = uas_answer(t, m, out[nout], UAS_MAX_MSG);
			if (len < 0) {
				t->stats.bad++;
				continue;
			}
			tiov[nout] = (struct iovec){ .iov_base = out[nout], .iov_len = (size_t)len };
			tx[nout].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = rx[i].msg_hdr.msg_namelen,
							    .msg_iov = &tiov[nout], .msg_iovlen = 1 };
			nout++;
		}
		for (int sent = 0; sent < nout;) {
			int k = sendmmsg(t->fd, tx + sent, (unsigned)(nout - sent), 0);

			if (k <= 0) {
				t->stats.send_errors += (uint64_t)(nout - sent);
				break;
			}
			t->stats.answered += (uint64_t)k;
			sent += k;
		}
	}
	free(m);
	return NULL;
}

static int uas_socket(const struct sockaddr_storage *addr, struct uas_thread *t)
{
	int one = 1, buf = 4 << 20;
	socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, (const struct sockaddr *)addr, len) || getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, t->ip, sizeof(t->ip));
		t->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, t->ip, sizeof(t->ip));
		t->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	t->fd = fd;
	return 0;
}

int bench_uas_run(const struct sockaddr_storage *addr, unsigned threads, double max_s,
		  struct bench_uas_stats *total, uint16_t *port_out)
{
	struct sockaddr_storage bind_addr = *addr;
	struct uas_thread *ts = calloc(threads, sizeof(*ts));
	unsigned started = 0;
	int err = 0;

	if (!ts)
		return -ENOMEM;
	memset(total, 0, sizeof(*total));
	for (unsigned i = 0; i < threads && !err; i++) {
		err = uas_socket(&bind_addr, &ts[i]);
		if (!err && i == 0) {
			/* port 0: the others join the port the first one got */
			if (bind_addr.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&bind_addr)->sin6_port = htons(ts[0].port);
			else
				((struct sockaddr_in *)&bind_addr)->sin_port = htons(ts[0].port);
			if (port_out)
				*port_out = ts[0].port;
		}
		if (!err)
			started++;
	}
	if (port_out && !err) {
		printf("UAS listening on %s:%u, %u threads\n", ts[0].ip, ts[0].port, threads);
		fflush(stdout);
	}
	unsigned running = 0;
	for (unsigned i = 0; i < started && !err; i++) {
		ts[i].max_s = max_s;
		if (pthread_create(&ts[i].tid, NULL, uas_main, &ts[i])) {
			err = -EAGAIN;
			uas_stop = 1;
			break;
		}
		running++;
	}
	for (unsigned i = 0; i < running; i++) {
		pthread_join(ts[i].tid, NULL);
		if (ts[i].err && !err)
			err = ts[i].err;
		total->invites += ts[i].stats.invites;
		total->byes += ts[i].stats.byes;
		total->acks += ts[i].stats.acks;
		total->other += ts[i].stats.other;
		total->responses += ts[i].stats.responses;
		total->bad += ts[i].stats.bad;
		total->answered += ts[i].stats.answered;
		total->send_errors += ts[i].stats.send_errors;
	}
	for (unsigned i = 0; i < started; i++)
		close(ts[i].fd);
	free(ts);
	return err;
}
