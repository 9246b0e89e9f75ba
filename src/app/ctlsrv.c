/* Control socket server (see ctlsrv.h): accepts on a Unix stream socket,
 * reads one request line within SW_CTL_CLIENT_TIMEOUT_MS, answers it and
 * closes. Connection snapshots come from the workers (tp_server_conn_list);
 * nothing here runs on a worker thread. */
#include "app/ctlsrv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/ctlproto.h"
#include "auth/credcache.h"
#include "base/log.h"
#include "base/util.h"
#include "proxy/proxy.h"

struct ctlsrv {
	int lfd;
	int stop_rd, stop_wr;       /**< pipe: a byte written stops the thread */
	pthread_t thread;
	bool started;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	struct tp_server *srv;
	struct registrar *reg;
	uint64_t started_ms;
};

/* A growing reply buffer (malloc'd, freed by the caller). */
struct out {
	char *p;
	size_t len, cap;
	bool failed;
};

static void out_add(struct out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap < o->len + n + 1)
			cap *= 2;
		char *p = realloc(o->p, cap);
		if (!p) {
			o->failed = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_add(o, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void answer_connections(struct ctlsrv *cs, struct out *o)
{
	struct tp_conn_info *ci;
	size_t n;
	unsigned answered;
	bool truncated;

	if (tp_server_conn_list(cs->srv, SW_CTL_WORKER_TIMEOUT_MS, &ci, &n, &answered, &truncated)) {
		out_printf(o, "ERR out of memory\n");
		return;
	}
	out_printf(o, "OK\n");
	for (size_t i = 0; i < n; i++) {
		char line[512];
		size_t len = ctlproto_conn_line(line, sizeof(line), &ci[i]);
		out_add(o, line, len);
	}
	unsigned nw = tp_server_worker_count(cs->srv);
	if (answered < nw)
		out_printf(o, "# %u of %u workers did not answer within %u ms\n", nw - answered, nw,
			   SW_CTL_WORKER_TIMEOUT_MS);
	if (truncated)
		out_printf(o, "# list cut at %u connections per worker\n", (unsigned)SW_CTL_MAX_LISTED);
	free(ci);
}

static void answer_status(struct ctlsrv *cs, struct out *o)
{
	struct tp_conn_info *ci;
	size_t n, tcp = 0, tls = 0;
	unsigned answered;
	bool truncated;

	if (tp_server_conn_list(cs->srv, SW_CTL_WORKER_TIMEOUT_MS, &ci, &n, &answered, &truncated)) {
		out_printf(o, "ERR out of memory\n");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (ci[i].proto == TP_TLS)
			tls++;
		else
			tcp++;
	}
	free(ci);
	out_printf(o, "OK\n");
	out_printf(o, "version=%s\n", SW_VERSION);
	out_printf(o, "uptime=%llu\n", (unsigned long long)((base_mono_ms() - cs->started_ms) / 1000));
	out_printf(o, "workers=%u\n", tp_server_worker_count(cs->srv));
	out_printf(o, "workers_answering=%u\n", answered);
	out_printf(o, "udp_datagrams_per_worker=");
	for (unsigned i = 0; i < tp_server_worker_count(cs->srv); i++)
		out_printf(o, "%s%llu", i ? "," : "", (unsigned long long)tp_server_worker_datagrams(cs->srv, i));
	out_printf(o, "\n");
	out_printf(o, "connections=%zu%s\n", n, truncated ? "+" : "");
	out_printf(o, "connections_tcp=%zu\n", tcp);
	out_printf(o, "connections_tls=%zu\n", tls);
	if (cs->reg) {
		uint64_t aors, bindings;
		registrar_counts(cs->reg, &aors, &bindings);
		out_printf(o, "aors=%llu\n", (unsigned long long)aors);
		out_printf(o, "bindings=%llu\n", (unsigned long long)bindings);
	}
	struct auth_credcache_stats cst;
	auth_credcache_stats(&cst);
	out_printf(o, "credential_cache_hits=%llu\n", (unsigned long long)cst.hits);
	out_printf(o, "credential_cache_misses=%llu\n", (unsigned long long)cst.misses);
	out_printf(o, "credential_cache_rereads=%llu\n", (unsigned long long)cst.rereads);
	out_printf(o, "credential_cache_flushes=%llu\n", (unsigned long long)cst.flushes);
	out_printf(o, "responses_handed_over=%llu\n", (unsigned long long)proxy_responses_handed_over());
	out_printf(o, "requests_handed_over=%llu\n", (unsigned long long)tp_requests_handed_over());
}

/* Wait until fd is ready for events or the deadline passes; false on timeout
 * or when the server is stopping. */
static bool wait_fd(struct ctlsrv *cs, int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = base_mono_ms();
		if (now >= deadline)
			return false;
		struct pollfd p[2] = { { fd, events, 0 }, { cs->stop_rd, POLLIN, 0 } };
		int n = poll(p, 2, (int)(deadline - now));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || p[1].revents)
			return false;
		return true;
	}
}

static void send_all(struct ctlsrv *cs, int fd, const char *p, size_t len)
{
	uint64_t deadline = base_mono_ms() + SW_CTL_CLIENT_TIMEOUT_MS;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && wait_fd(cs, fd, POLLOUT, deadline))
			continue;
		LOG_DBG("control: client did not take its reply; closed");
		return;
	}
}

static void serve(struct ctlsrv *cs, int fd)
{
	uint64_t deadline = base_mono_ms() + SW_CTL_CLIENT_TIMEOUT_MS;
	char buf[SW_CTL_MAX_LINE];
	size_t len = 0;
	struct ctlproto_req req;
	enum ctlproto_rc rc = CTLPROTO_MORE;
	struct out o = { 0 };

	while (rc == CTLPROTO_MORE) {
		if (!wait_fd(cs, fd, POLLIN, deadline)) {
			static const char msg[] = "ERR timed out waiting for the request line\n";
			LOG_DBG("control: client sent no complete request within %u ms; closed",
				SW_CTL_CLIENT_TIMEOUT_MS);
			send_all(cs, fd, msg, sizeof(msg) - 1);
			return;
		}
		ssize_t n = recv(fd, buf + len, sizeof(buf) - len, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return; /* gone before finishing its line */
		len += (size_t)n;
		rc = ctlproto_parse(buf, len, &req);
	}
	if (rc == CTLPROTO_BAD) {
		out_printf(&o, "ERR %s\n", req.error);
	} else {
		switch (req.verb) {
		case CTL_VERB_CONNECTIONS:
			answer_connections(cs, &o);
			break;
		case CTL_VERB_STATUS:
			answer_status(cs, &o);
			break;
		case CTL_VERB_CACHE_FLUSH:
			/* Before the answer: the client's next REGISTER sees the change. */
			auth_credcache_flush_all();
			out_printf(&o, "OK\n");
			break;
		case CTL_VERB_HELP:
			out_printf(&o, "OK\n");
			out_add(&o, ctlproto_help(), strlen(ctlproto_help()));
			break;
		}
	}
	if (o.failed)
		send_all(cs, fd, "ERR out of memory\n", 18);
	else if (o.len)
		send_all(cs, fd, o.p, o.len);
	free(o.p);
}

static void *ctl_main(void *arg)
{
	struct ctlsrv *cs = arg;

	for (;;) {
		struct pollfd p[2] = { { cs->lfd, POLLIN, 0 }, { cs->stop_rd, POLLIN, 0 } };
		int n = poll(p, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || p[1].revents)
			break;
		int fd = accept4(cs->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				poll(NULL, 0, 100); /* let descriptors come back instead of spinning */
			continue;
		}
		serve(cs, fd);
		close(fd);
	}
	return NULL;
}

/* Remove a socket file left by a daemon that is gone; refuse a live one or a
 * file that is not a socket. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		LOG_ERR("control socket %s: the path exists and is not a socket", path);
		return -EEXIST;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int err = errno;
	close(fd);
	if (rc == 0) {
		LOG_ERR("control socket %s is in use (another sipwarden running?)", path);
		return -EADDRINUSE;
	}
	if (err != ECONNREFUSED) {
		LOG_ERR("control socket %s: %s", path, strerror(err));
		return -err;
	}
	LOG_INFO("control socket %s: replacing a stale socket file", path);
	return unlink(path) < 0 ? -errno : 0;
}

int ctlsrv_open(struct ctlsrv **out, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctlsrv *cs;
	int pfd[2], err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		LOG_ERR("control socket path %s is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	err = clear_stale(path, &sa);
	if (err)
		return err;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->lfd = cs->stop_rd = cs->stop_wr = -1;
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	cs->started_ms = base_mono_ms();
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		err = -errno;
		free(cs);
		return err;
	}
	cs->stop_rd = pfd[0];
	cs->stop_wr = pfd[1];
	cs->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cs->lfd < 0)
		goto fail;
	/* Never reachable by others, not even for a moment: created under 077. */
	mode_t old = umask(077);
	int rc = bind(cs->lfd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0)
		goto fail;
	struct stat st;
	if (chmod(path, 0600) < 0 || stat(path, &st) < 0 || listen(cs->lfd, 16) < 0) {
		err = -errno;
		unlink(path);
		errno = -err;
		goto fail;
	}
	cs->dev = st.st_dev;
	cs->ino = st.st_ino;
	*out = cs;
	return 0;
fail:
	err = -errno;
	LOG_ERR("control socket %s: %s", path, strerror(errno));
	if (cs->lfd >= 0)
		close(cs->lfd);
	close(cs->stop_rd);
	close(cs->stop_wr);
	free(cs);
	return err;
}

int ctlsrv_start(struct ctlsrv *cs, struct tp_server *srv, struct registrar *reg)
{
	cs->srv = srv;
	cs->reg = reg;
	int err = -pthread_create(&cs->thread, NULL, ctl_main, cs);
	if (err) {
		LOG_ERR("control socket thread: %s", strerror(-err));
		return err;
	}
	cs->started = true;
	LOG_INFO("control socket on %s", cs->path);
	return 0;
}

void ctlsrv_close(struct ctlsrv *cs)
{
	struct stat st;

	if (!cs)
		return;
	if (cs->started) {
		ssize_t wr = write(cs->stop_wr, "x", 1);
		(void)wr;
		pthread_join(cs->thread, NULL);
	}
	close(cs->lfd);
	/* Another daemon may have replaced the file since: only ours goes. */
	if (stat(cs->path, &st) == 0 && st.st_dev == cs->dev && st.st_ino == cs->ino)
		unlink(cs->path);
	close(cs->stop_rd);
	close(cs->stop_wr);
	free(cs);
}
