/* Next hops for foreign domains from DNS (RFC 3263 §4, a subset). The
 * transport comes from the URI (§4.1 without NAPTR): sips: is TLS,
 * ;transport=tcp TCP, ;transport=tls TLS, anything else UDP. With an explicit
 * port in the URI, the host's A (then AAAA) records; else SRV _sips._tcp,
 * _sip._tcp or _sip._udp .HOST (RFC 2782: lowest priority, weighted pick)
 * with the target's address from the additional section or its own A/AAAA
 * query (records with target "." or port 0 are no candidates; SRV records
 * all such mean no server, 404); with no SRV, or a host too long for its
 * SRV name to be asked, the host's A/AAAA on port 5060 (5061 for TLS). NAPTR
 * is not consulted, so a domain's NAPTR preference for TCP or TLS is not
 * seen. Over TLS the server must prove the URI's domain (RFC 5922 §4).
 * Only answer-section records owned by the name asked (or by the end of its
 * CNAME chain, PROXY_DNS_MAX_CNAME at most, the end asked in turn when the
 * answer stops at the alias) are used; the additional section gives only a
 * SRV target's address, by that target's name (dns_answer.c). A truncated
 * answer (TC) is asked again over TCP to the same server.
 * The target is the Request-URI of an initial request, or the Route entry
 * or remote target an in-dialog request goes to; stateless ACKs use the
 * cache only (proxy_dns_cached).
 *
 * Why a resolver thread per worker: a lookup waits on the network for up to
 * SW_DNS_LOOKUP_TIMEOUT_MS; done on the worker it would stall every other
 * call that worker serves. The worker hands a job (one of a fixed set of
 * slots) to its resolver thread and goes on; the call waits in its server
 * transaction (100 Trying already sent, retransmissions absorbed). The result
 * comes back through the worker's post queue, is cached (per worker, no
 * locks: TTL respected, capped; "does not exist" kept SW_DNS_NEGATIVE_TTL_S,
 * timeouts not kept) and the request is forwarded or answered: 404 when the
 * domain has no SIP server, 503 + Retry-After when DNS did not answer. The
 * thread starts at the first lookup, so a server that never needs DNS has
 * none. */
#include "proxy/proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "proxy/dns.h"

/* How a call waiting for DNS is forwarded once the answer is in. */
struct dns_fwd {
	struct proxy_caller caller;
	struct proxy_identity id;
	bool has_id;                    /**< initial request: identity decided */
	bool record_route;
	unsigned pop_routes;
	const struct tp_listen *rr_in;  /**< listen addresses outlive the workers */
};

struct dns_job {
	struct tp_post post;            /**< first: the post hands the job back */
	struct proxy_dns *d;
	struct dns_job *next;           /**< resolver queue / free list */
	bool busy;
	/* the question */
	char host[PROXY_DNS_MAX_NAME + 2];
	uint16_t port;                  /**< explicit URI port, 0 = use SRV */
	enum tp_proto proto;
	/* the answer */
	int err;                        /**< 0, -ENOENT (no such server), -ETIMEDOUT/-EIO */
	struct sockaddr_storage addr;
	uint32_t ttl;
	/* the call waiting for it */
	struct proxy_call *call;
	struct dns_fwd fwd;
};

struct dns_cache_entry {
	char host[PROXY_DNS_MAX_NAME + 2];
	uint16_t port;
	enum tp_proto proto;
	int err;
	struct sockaddr_storage addr;
	uint64_t expires_ms;            /**< 0 = free */
};

struct proxy_dns {
	struct proxy_worker *pw;
	struct sockaddr_storage server;
	socklen_t server_len;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop;
	/* Answers in the worker's post queue, not yet run. One may be posted
	 * after the worker's last drain; the server runs it after the worker
	 * is gone, so d outlives proxy_dns_free until the last one (dead). */
	atomic_uint posted;
	bool dead;
	struct dns_job *queue, *queue_tail; /**< under mu */
	struct dns_job *free_list;      /**< worker only */
	struct dns_job jobs[SW_DNS_MAX_PENDING];
	struct dns_cache_entry cache[SW_DNS_CACHE_SIZE];
};

/* ---- the resolver thread (blocking, bounded by deadlines) ---- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint16_t new_id(void)
{
	uint16_t id;
	if (base_random(&id, sizeof(id)))
		id = (uint16_t)base_mono_ms();
	return id;
}

/* Wait for events on fd until the time until (monotonic ms), in short
 * slices: a stopping worker does not wait out a lookup. 0 when ready,
 * -ETIMEDOUT at until or on stop, -EIO. */
static int wait_fd(struct proxy_dns *d, int fd, short events, uint64_t until)
{
	uint64_t now;

	while ((now = base_mono_ms()) < until && !atomic_load(&d->stop)) {
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, until - now > 100 ? 100 : (int)(until - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -EIO;
	}
	return -ETIMEDOUT;
}

/* One question over UDP. 0 with ans filled (when ans->truncated is set, only
 * its header and question are sure to be whole: it is asked again over TCP),
 * -ETIMEDOUT, -EIO, or -ENOENT when name cannot be asked. */
static int query_udp(struct proxy_dns *d, const char *name, uint16_t qtype, uint64_t deadline,
		     struct proxy_dns_answer *ans)
{
	uint8_t q[PROXY_DNS_MAX_NAME + 32], r[4096];
	uint16_t id = new_id();
	int err = -ETIMEDOUT;
	int qlen = proxy_dns_query_build(q, sizeof(q), id, name, qtype);
	if (qlen < 0)
		return -ENOENT;
	/* A socket per query: a fresh random source port, and connected, so
	 * the kernel drops datagrams from anyone but the server. Non-blocking:
	 * poll() may call a datagram readable that recv() then discards (a bad
	 * UDP checksum is found only when it is read), and a blocking recv()
	 * would then wait past the deadline and the stop flag. */
	int fd = socket(d->server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -EIO;
	if (connect(fd, (struct sockaddr *)&d->server, d->server_len) < 0) {
		close(fd);
		return -EIO;
	}
	for (int attempt = 0; attempt < SW_DNS_TRIES; attempt++) {
		uint64_t now = base_mono_ms();
		if (now >= deadline)
			break;
		uint64_t until = min_u64(now + SW_DNS_TRY_MS, deadline);
		/* A full send buffer (EAGAIN) loses this try like a lost
		 * datagram would: the wait below ends it. */
		if (send(fd, q, (size_t)qlen, 0) < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			err = -EIO;
			break;
		}
		/* Bounded by until: wait_fd fails from then on. */
		while (wait_fd(d, fd, POLLIN, until) == 0) {
			/* MSG_TRUNC: the datagram's real length, so one longer
			 * than r is not read as a shorter message. EAGAIN (the
			 * datagram was dropped on reading) and errors queued on
			 * the socket (an ICMP error) mean: wait on. */
			ssize_t n = recv(fd, r, sizeof(r), MSG_TRUNC | MSG_DONTWAIT);
			if (n > 0 && (size_t)n <= sizeof(r) && proxy_dns_question_is(r, (size_t)n, name, qtype) &&
			    proxy_dns_parse(r, (size_t)n, id, ans) == 0) {
				close(fd);
				return 0; /* a stray or forged answer (wrong id, question) is ignored */
			}
		}
	}
	close(fd);
	return err;
}

/* Read exactly len bytes from the non-blocking stream fd by until. */
static int read_full(struct proxy_dns *d, int fd, uint8_t *buf, size_t len, uint64_t until)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			return -EIO;
		int e = wait_fd(d, fd, POLLIN, until); /* ends the loop at until */
		if (e)
			return e;
	}
	return 0;
}

/* The same question over TCP to the same server, after a truncated UDP
 * answer (RFC 1035 §4.2.2: each message after a two-byte length; RFC 7766):
 * a connection of its own, one query with a fresh id, the answer checked
 * like one over UDP (id, question), all within SW_DNS_TCP_MS and the
 * lookup's deadline. 0 with ans filled, -ETIMEDOUT or -EIO (a truncated
 * answer over TCP too is a failure). */
static int query_tcp(struct proxy_dns *d, const char *name, uint16_t qtype, uint64_t deadline,
		     struct proxy_dns_answer *ans)
{
	uint8_t q[2 + PROXY_DNS_MAX_NAME + 32], hdr[2];
	uint8_t *r = NULL;
	uint16_t id = new_id();
	uint64_t until = min_u64(base_mono_ms() + SW_DNS_TCP_MS, deadline);
	int qlen = proxy_dns_query_build(q + 2, sizeof(q) - 2, id, name, qtype), err;
	if (qlen < 0)
		return -ENOENT;
	q[0] = (uint8_t)(qlen >> 8);
	q[1] = (uint8_t)qlen;
	int fd = socket(d->server.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -EIO;
	if (connect(fd, (struct sockaddr *)&d->server, d->server_len) < 0 && errno != EINPROGRESS) {
		err = -EIO;
		goto out;
	}
	int so = 0;
	socklen_t sl = sizeof(so);
	if ((err = wait_fd(d, fd, POLLOUT, until)) != 0)
		goto out;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) < 0 || so != 0) {
		err = -EIO;
		goto out;
	}
	/* A query this small goes out in one send on a fresh connection; a
	 * short write is taken as a failure rather than looped on. */
	if (send(fd, q, (size_t)qlen + 2, MSG_NOSIGNAL) != (ssize_t)qlen + 2) {
		err = -EIO;
		goto out;
	}
	if ((err = read_full(d, fd, hdr, 2, until)) != 0)
		goto out;
	size_t rlen = (size_t)hdr[0] << 8 | hdr[1];
	err = -EIO;
	if (rlen < 12 || !(r = malloc(rlen)))
		goto out;
	if ((err = read_full(d, fd, r, rlen, until)) != 0)
		goto out;
	err = -EIO;
	if (proxy_dns_question_is(r, rlen, name, qtype) && proxy_dns_parse(r, rlen, id, ans) == 0 &&
	    !ans->truncated)
		err = 0;
out:
	free(r);
	close(fd);
	return err;
}

/* One question: over UDP, and again over TCP when the answer came back
 * truncated; a truncated answer is never used as it is. */
static int query(struct proxy_dns *d, const char *name, uint16_t qtype, uint64_t deadline,
		 struct proxy_dns_answer *ans)
{
	int err = query_udp(d, name, qtype, deadline, ans);

	if (err == 0 && ans->truncated) {
		LOG_DBG("DNS %s: truncated answer over UDP, asking over TCP", name);
		err = query_tcp(d, name, qtype, deadline, ans);
	}
	if (err)
		memset(ans, 0, sizeof(*ans));
	return err;
}

/* The answer to name/qtype, with CNAMEs followed (RFC 1034 §3.6.2): the
 * records are the ones owned by the end of the chain of the answer's CNAMEs
 * starting at name, put in canon (PROXY_DNS_MAX_NAME + 2 bytes). When that
 * end has no qtype records in the answer (a server that gave only the
 * alias), the end is asked in turn (§5.3.3); PROXY_DNS_MAX_CNAME CNAMEs in
 * all, so a loop ends. *ttl is lowered to the CNAMEs' TTLs. 0 (ans->rcode
 * says whether the name exists), -ETIMEDOUT, -EIO (no answer, a chain too
 * long), -ENOENT (a name that cannot be asked). */
static int resolve_name(struct proxy_dns *d, const char *name, uint16_t qtype, uint64_t deadline,
			struct proxy_dns_answer *ans, char *canon, uint32_t *ttl)
{
	char ask[PROXY_DNS_MAX_NAME + 2];
	unsigned total = 0;

	if (strlen(name) >= sizeof(ask))
		return -ENOENT;
	strcpy(ask, name);
	for (int round = 0; round <= PROXY_DNS_MAX_CNAME; round++) {
		unsigned followed;
		int err = query(d, ask, qtype, deadline, ans);
		if (err)
			return err;
		if (proxy_dns_cname_chain(ans, ask, PROXY_DNS_MAX_CNAME - total, canon, PROXY_DNS_MAX_NAME + 2, ttl,
					  &followed)) {
			LOG_DBG("DNS %s: CNAME chain longer than %d", name, PROXY_DNS_MAX_CNAME);
			return -EIO;
		}
		total += followed;
		if (followed == 0 || ans->rcode != 0 || proxy_dns_find(ans, canon, qtype, false))
			return 0;
		strcpy(ask, canon);
	}
	return -EIO;
}

static void fill_addr(const struct proxy_dns_rr *rr, uint16_t port, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (rr->type == PROXY_DNS_A) {
		struct sockaddr_in *a = (struct sockaddr_in *)out;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		memcpy(&a->sin_addr, rr->addr, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		memcpy(&a->sin6_addr, rr->addr, 16);
	}
}

/* A, then AAAA, of name: answer-section records owned by name or the end of
 * its CNAME chain only. */
static int lookup_addr(struct proxy_dns *d, const char *name, uint16_t port, uint64_t deadline,
		       struct dns_job *j)
{
	struct proxy_dns_answer *ans = malloc(sizeof(*ans));
	char canon[PROXY_DNS_MAX_NAME + 2];
	int err = -ENOMEM;

	if (!ans)
		return err;
	for (int pass = 0; pass < 2; pass++) {
		uint16_t type = pass ? PROXY_DNS_AAAA : PROXY_DNS_A;
		uint32_t ttl = j->ttl;
		err = resolve_name(d, name, type, deadline, ans, canon, &ttl);
		if (err)
			break;
		const struct proxy_dns_rr *rr = proxy_dns_find(ans, canon, type, false);
		if (rr) {
			fill_addr(rr, port, &j->addr);
			j->ttl = ttl < rr->ttl ? ttl : rr->ttl;
			break;
		}
		err = ans->rcode == 0 || ans->rcode == PROXY_DNS_NXDOMAIN ? -ENOENT : -EIO;
		if (ans->rcode == PROXY_DNS_NXDOMAIN || err == -EIO)
			break;
	}
	free(ans);
	return err;
}

static void resolve(struct proxy_dns *d, struct dns_job *j)
{
	uint64_t deadline = base_mono_ms() + SW_DNS_LOOKUP_TIMEOUT_MS;
	char srv[PROXY_DNS_MAX_NAME + 16], canon[PROXY_DNS_MAX_NAME + 2];
	uint32_t ttl = SW_DNS_MAX_TTL_S, rnd;

	j->ttl = SW_DNS_MAX_TTL_S;
	if (j->port) {
		j->err = lookup_addr(d, j->host, j->port, deadline, j);
		return;
	}
	struct proxy_dns_answer *ans = malloc(sizeof(*ans));
	if (!ans) {
		j->err = -ENOMEM;
		return;
	}
	if (base_random(&rnd, sizeof(rnd)))
		rnd = (uint32_t)base_mono_ms();
	/* RFC 3263 §4.2, RFC 5630 §3.3: TLS is the "sips" service over TCP.
	 * host is at most PROXY_DNS_MAX_NAME bytes: srv holds it whole. */
	int n = snprintf(srv, sizeof(srv), "%s.%s",
			 j->proto == TP_TLS ? "_sips._tcp" : j->proto == TP_TCP ? "_sip._tcp" : "_sip._udp", j->host);
	if (n > 0 && srv[n - 1] == '.')
		n--; /* a trailing dot is not part of the name's length */
	if (n <= 0 || n > PROXY_DNS_MAX_NAME) {
		/* A host this long has no SRV name that could be asked: as with
		 * no SRV records (RFC 3263 §4.2), its own A/AAAA. */
		free(ans);
		j->err = lookup_addr(d, j->host, j->proto == TP_TLS ? 5061 : 5060, deadline, j);
		return;
	}
	j->err = resolve_name(d, srv, PROXY_DNS_SRV, deadline, ans, canon, &ttl);
	const struct proxy_dns_rr *s = j->err ? NULL : proxy_dns_pick_srv(ans, canon, rnd);
	if (j->err) {
		/* no answer at all: tell the caller to retry later */
	} else if (!s && proxy_dns_find(ans, canon, PROXY_DNS_SRV, false)) {
		/* SRV records, none usable: only "." targets (RFC 2782: the
		 * service is decidedly not available) or port 0 */
		j->err = -ENOENT;
	} else if (s) {
		/* The target's address from the additional section, by the
		 * target's own name only; else its own query. */
		const struct proxy_dns_rr *a = proxy_dns_find(ans, s->target, PROXY_DNS_A, true);
		if (!a)
			a = proxy_dns_find(ans, s->target, PROXY_DNS_AAAA, true);
		j->ttl = s->ttl < ttl ? s->ttl : ttl;
		if (a) {
			fill_addr(a, s->port, &j->addr);
			j->ttl = a->ttl < j->ttl ? a->ttl : j->ttl;
		} else {
			char target[sizeof(s->target)];
			uint16_t port = s->port;
			memcpy(target, s->target, sizeof(target));
			j->err = lookup_addr(d, target, port, deadline, j);
		}
	} else if (ans->rcode != 0 && ans->rcode != PROXY_DNS_NXDOMAIN) {
		j->err = -EIO;
	} else {
		/* RFC 3263 §4.2: no SRV records, the host's own address on the
		 * transport's default port. */
		j->err = lookup_addr(d, j->host, j->proto == TP_TLS ? 5061 : 5060, deadline, j);
	}
	free(ans);
}

static void *resolver_main(void *arg)
{
	struct proxy_dns *d = arg;
	for (;;) {
		pthread_mutex_lock(&d->mu);
		while (!atomic_load(&d->stop) && !d->queue)
			pthread_cond_wait(&d->cv, &d->mu);
		if (atomic_load(&d->stop)) {
			pthread_mutex_unlock(&d->mu);
			break;
		}
		struct dns_job *j = d->queue;
		d->queue = j->next;
		if (!d->queue)
			d->queue_tail = NULL;
		pthread_mutex_unlock(&d->mu);
		resolve(d, j);
		/* Under mu: once proxy_dns_free has set stop, nothing more is posted. */
		pthread_mutex_lock(&d->mu);
		if (!atomic_load(&d->stop)) {
			atomic_fetch_add(&d->posted, 1);
			tp_worker_post(d->pw->w, tp_worker_index(d->pw->w), &j->post);
		}
		pthread_mutex_unlock(&d->mu);
	}
	return NULL;
}

/* ---- the worker side ---- */

/* The first "nameserver" of /etc/resolv.conf, else 127.0.0.1 (port 53). */
static void default_server(struct proxy_dns *d)
{
	FILE *f = fopen("/etc/resolv.conf", "re");
	char line[256];

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char ip[64];
			if (sscanf(line, " nameserver %63s", ip) == 1 &&
			    tp_addr_from_text(ip, strlen(ip), 53, &d->server, &d->server_len) == 0) {
				fclose(f);
				return;
			}
		}
		fclose(f);
	}
	tp_addr_from_text("127.0.0.1", 9, 53, &d->server, &d->server_len);
}

int proxy_dns_new(struct proxy_dns **out, struct proxy_worker *pw)
{
	struct proxy_dns *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->pw = pw;
	if (pw->p->cfg->has_dns_server) {
		d->server = pw->p->cfg->dns_server;
		d->server_len = d->server.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	} else {
		default_server(d);
	}
	for (unsigned i = SW_DNS_MAX_PENDING; i-- > 0;) {
		d->jobs[i].d = d;
		d->jobs[i].next = d->free_list;
		d->free_list = &d->jobs[i];
	}
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	*out = d;
	return 0;
}

static bool is_own_job(const struct tp_post *p, void *arg)
{
	const struct proxy_dns *d = arg;
	const char *a = (const char *)p;
	return a >= (const char *)d->jobs && a < (const char *)(d->jobs + SW_DNS_MAX_PENDING);
}

void proxy_dns_free(struct proxy_dns *d)
{
	if (!d)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->mu);
		atomic_store(&d->stop, true);
		pthread_cond_signal(&d->cv);
		pthread_mutex_unlock(&d->mu);
		pthread_join(d->thread, NULL);
		/* Answers posted back after the worker's last drain point into d:
		 * take them out of the worker's queue before d goes. */
		atomic_fetch_sub(&d->posted, tp_worker_unpost(d->pw->w, is_own_job, d));
	}
	/* Jobs still out (queued, or posted after the worker's last drain):
	 * their calls lose the reference the job held. */
	for (unsigned i = 0; i < SW_DNS_MAX_PENDING; i++)
		if (d->jobs[i].busy && d->jobs[i].call)
			proxy_call_unref(d->jobs[i].call);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cv);
	if (atomic_load(&d->posted)) {
		d->dead = true; /* the last posted answer frees d (on_result) */
		return;
	}
	free(d);
}

static struct dns_cache_entry *cache_find(struct proxy_dns *d, const char *host, uint16_t port, enum tp_proto proto,
				      uint64_t now)
{
	for (unsigned i = 0; i < SW_DNS_CACHE_SIZE; i++) {
		struct dns_cache_entry *e = &d->cache[i];
		if (e->expires_ms > now && e->port == port && e->proto == proto && strcmp(e->host, host) == 0)
			return e;
	}
	return NULL;
}

static void cache_put(struct proxy_dns *d, const struct dns_job *j, uint64_t now)
{
	struct dns_cache_entry *e = &d->cache[0];
	uint32_t ttl = j->err == -ENOENT ? SW_DNS_NEGATIVE_TTL_S : j->ttl;

	if ((j->err && j->err != -ENOENT) || ttl == 0)
		return; /* DNS did not answer, or said not to keep it */
	if (ttl > SW_DNS_MAX_TTL_S)
		ttl = SW_DNS_MAX_TTL_S;
	for (unsigned i = 0; i < SW_DNS_CACHE_SIZE; i++) {
		struct dns_cache_entry *c = &d->cache[i];
		if (c->expires_ms <= now || (c->port == j->port && c->proto == j->proto && strcmp(c->host, j->host) == 0)) {
			e = c;
			break;
		}
		if (c->expires_ms < e->expires_ms)
			e = c; /* full: the one expiring first goes */
	}
	memcpy(e->host, j->host, sizeof(e->host));
	e->port = j->port;
	e->proto = j->proto;
	e->err = j->err;
	e->addr = j->addr;
	e->expires_ms = now + (uint64_t)ttl * 1000;
}

/* The destination a found address means: host's transport, and over TLS
 * host as the name the server's certificate must carry. */
static void make_dest(struct tp_dest *dst, enum tp_proto proto, const struct sockaddr_storage *addr, const char *host)
{
	memset(dst, 0, sizeof(*dst));
	dst->proto = proto;
	dst->addr = *addr;
	if (proto == TP_TLS && strlen(host) < sizeof(dst->name))
		strcpy(dst->name, host);
}

/* Forward the call's request to dst, or answer it from err. */
static void deliver(struct proxy_worker *pw, struct proxy_call *c, int err, const struct tp_dest *dst,
		    const struct dns_fwd *fw, const struct sip_msg *msg)
{
	if (err == -ENOENT) {
		proxy_call_started(c, msg, 404, "No SIP Server For Domain");
		return;
	}
	if (err) {
		c->final_sent = true;
		char ra[32];
		snprintf(ra, sizeof(ra), "Retry-After: %u\r\n", SW_DNS_RETRY_AFTER_S);
		proxy_reply(pw, c->st, msg, 503, "DNS Lookup Failed", ra);
		return;
	}
	struct proxy_fwd f = { 0 };
	const struct proxy_identity *id = fw->has_id ? &fw->id : NULL;
	f.consume_realm = fw->caller.authenticated ? fw->caller.realm : NULL;
	f.from_value = id && id->from[0] ? id->from : NULL;
	f.record_route = fw->record_route;
	f.pop_routes = fw->pop_routes;
	f.rr_in = fw->rr_in;
	int e = proxy_forward_to(pw, c, msg, &f, dst, id, &fw->caller);
	if (e)
		LOG_DBG("branch after DNS not started: %s", strerror(-e));
	proxy_call_started(c, msg, 503, "Service Unavailable");
}

/* The DNS question for target: lower-case host, explicit port (0: none),
 * transport (RFC 3263 §4.1 without NAPTR). 0 or -EINVAL. */
static int question(const struct sip_uri *target, char *host, uint16_t *port, enum tp_proto *proto)
{
	struct slice tr;

	if (!target->is_sip || target->host.len == 0 || target->host.len > PROXY_DNS_MAX_NAME)
		return -EINVAL;
	for (size_t i = 0; i < target->host.len; i++) {
		char ch = target->host.p[i];
		host[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	host[target->host.len] = '\0';
	*port = target->port;
	*proto = TP_UDP;
	if (target->is_sips)
		*proto = TP_TLS;
	else if (sip_param_find(target->params, "transport", &tr) == 0)
		*proto = slice_caseeq_cstr(tr, "tls") ? TP_TLS : slice_caseeq_cstr(tr, "tcp") ? TP_TCP : TP_UDP;
	return 0;
}

int proxy_dns_cached(struct proxy_worker *pw, const struct sip_uri *target, struct tp_dest *out)
{
	char host[PROXY_DNS_MAX_NAME + 2];
	uint16_t port;
	enum tp_proto proto;

	if (!pw->dns || question(target, host, &port, &proto))
		return -EAGAIN;
	const struct dns_cache_entry *e = cache_find(pw->dns, host, port, proto, base_mono_ms());
	if (!e)
		return -EAGAIN;
	if (e->err)
		return e->err;
	make_dest(out, proto, &e->addr, host);
	return 0;
}

static void on_result(struct tp_worker *w, struct tp_post *p)
{
	struct dns_job *j = (struct dns_job *)p;
	struct proxy_dns *d = j->d;
	struct proxy_worker *pw = d->pw;
	struct proxy_call *c = j->call;
	(void)w;

	atomic_fetch_sub(&d->posted, 1);
	if (d->dead) {
		/* The worker is gone (its calls were released by proxy_dns_free). */
		if (atomic_load(&d->posted) == 0)
			free(d);
		return;
	}
	cache_put(d, j, base_mono_ms());
	LOG_DBG("DNS %s (%s)%s: %s", j->host, tp_proto_name(j->proto), j->port ? " (port given)" : "",
		j->err ? strerror(-j->err) : "found");
	c->resolving = false;
	if (c->st && !c->final_sent && txn_server_request(c->st, &pw->rmsg) == 0) {
		struct tp_dest dst;
		make_dest(&dst, j->proto, &j->addr, j->host);
		deliver(pw, c, j->err, &dst, &j->fwd, &pw->rmsg);
	}
	j->busy = false;
	j->call = NULL;
	j->next = d->free_list;
	d->free_list = j;
	proxy_call_unref(c);
}

void proxy_dns_forward(struct proxy_worker *pw, struct proxy_call *c, const struct sip_msg *msg,
		       const struct sip_uri *target, const struct proxy_fwd *f, const struct proxy_identity *id,
		       const struct proxy_caller *caller)
{
	char host[PROXY_DNS_MAX_NAME + 2];
	uint16_t port;
	enum tp_proto proto;
	uint64_t now = base_mono_ms();
	struct dns_fwd fw = { .caller = *caller, .has_id = id != NULL, .record_route = f->record_route,
			      .pop_routes = f->pop_routes, .rr_in = f->rr_in };

	if (question(target, host, &port, &proto)) {
		proxy_call_started(c, msg, 404, "No Route To Domain");
		return;
	}
	if (id)
		fw.id = *id;
	if (!pw->dns && proxy_dns_new(&pw->dns, pw)) {
		proxy_call_started(c, msg, 500, "Server Internal Error");
		return;
	}
	struct proxy_dns *d = pw->dns;
	const struct dns_cache_entry *e = cache_find(d, host, port, proto, now);
	if (e) {
		struct tp_dest dst;
		make_dest(&dst, proto, &e->addr, host);
		deliver(pw, c, e->err, &dst, &fw, msg);
		return;
	}
	struct dns_job *j = d->free_list;
	if (!j) {
		char ra[32];
		snprintf(ra, sizeof(ra), "Retry-After: %u\r\n", SW_DNS_RETRY_AFTER_S);
		c->final_sent = true;
		proxy_reply(pw, c->st, msg, 503, "Too Many DNS Lookups", ra);
		return;
	}
	if (!d->started) {
		if (pthread_create(&d->thread, NULL, resolver_main, d)) {
			proxy_call_started(c, msg, 500, "Server Internal Error");
			return;
		}
		d->started = true;
	}
	d->free_list = j->next;
	j->busy = true;
	j->next = NULL;
	j->post.fn = on_result;
	memcpy(j->host, host, sizeof(j->host));
	j->port = port;
	j->proto = proto;
	j->err = 0;
	j->call = c;
	j->fwd = fw;
	c->refs++; /* the job's reference, dropped in on_result */
	c->resolving = true;
	if (c->st)
		txn_server_trying(c->st, msg); /* the answer waits for the lookup */
	pthread_mutex_lock(&d->mu);
	if (d->queue_tail)
		d->queue_tail->next = j;
	else
		d->queue = j;
	d->queue_tail = j;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}
