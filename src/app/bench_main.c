/* sipwarden-bench: multi-threaded open-loop SIP registration load generator
 * for bench/run. Drives any registrar with digest auth (sipwarden, Kamailio)
 * with the scenarios of bench/sipp: (1) new registrations, (2) registrations
 * followed by refreshes reusing the nonce, (4) = (1) over TCP. Prints a human
 * summary and, as the last line, "RESULT key=value ..." for scripts.
 * Exit: 0 all flows succeeded (within --max-fail-ratio), 1 failures, 2 usage
 * or setup error. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "auth/auth.h"
#include "base/util.h"
#include "bench/bench.h"

enum { EXIT_ALL_OK = 0, EXIT_FAILURES = 1, EXIT_USAGE = 2 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sipwarden-bench --server HOST:PORT [options]\n"
		"       sipwarden-bench --uas HOST:PORT [--threads N] [--duration S]\n"
		"  --uas HOST:PORT        be the callee of scenario 3 instead: answer INVITE and\n"
		"                         BYE with 200 (stateless, port 0 = any, printed), until\n"
		"                         --duration (if given) or SIGTERM; then a RESULT line\n"
		"  --server HOST:PORT     registrar to load (IPv6 as [addr]:port)\n"
		"  --domain DOMAIN        Request-URI / From / To domain (default example.com)\n"
		"  --realm REALM          challenge realm expected (default: the domain)\n"
		"  --scenario 1|2|3|4     1 new registrations (REGISTER, 401, REGISTER+auth, 200),\n"
		"                         2 the same then --refreshes re-REGISTERs on the Call-ID\n"
		"                         reusing the nonce (nc+1), 3 calls to --callee through an\n"
		"                         authenticating proxy (UDP), 4 = 1 over TCP (default 1)\n"
		"  --callee USER          scenario 3: the callee's user part (default callee)\n"
		"  --local-port N         UDP: thread i sends from port N+i (default: any), so\n"
		"                         repeated runs reach the same server workers\n"
		"  --transport udp|tcp    (default udp; tcp for scenario 4)\n"
		"  --rate N               flows started per second, all threads (default 100)\n"
		"  --duration S           seconds of load (default 5, at most %.0f)\n"
		"  --threads N            load threads, each its own socket (default: CPUs usable)\n"
		"  --conns N              TCP connections per thread (default 1)\n"
		"  --users N              subscribers cycled through (default 10000)\n"
		"  --first-user N         index of the first (default 0)\n"
		"  --user-fmt FMT         user name of index i (default u%%05d)\n"
		"  --password-fmt FMT     password of index i (default pw-%%05d-Bench)\n"
		"  --password PW          one fixed password for every user\n"
		"  --timeout MS           per-request timeout (default 4000; UDP retransmits\n"
		"                         after 500 ms, doubling up to 4 s)\n"
		"  --max-inflight N       flow slots, all threads (default 2 s of flows, >= 256/thread)\n"
		"  --refreshes N          scenario 2 refreshes per registration (default 9)\n"
		"  --expires S            Expires of the REGISTERs (default 3600)\n"
		"  --max-fail-ratio R     exit 0 when at most this fraction failed (default 0)\n"
		"  --tick-us US           UDP: wake every US microseconds and read all answers\n"
		"                         queued (kernel receive timestamps keep latencies exact);\n"
		"                         0 = wake on every datagram (default 1000, at most %u)\n",
		BENCH_MAX_DURATION, BENCH_MAX_TICK_US);
}

static int parse_server(const char *arg, struct bench_cfg *cfg)
{
	char host[128];
	const char *port, *colon;
	struct addrinfo hints = { 0 }, *res = NULL;
	size_t hl;

	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hl = (size_t)(close - arg - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, arg + 1, hl);
		port = close + 2;
	} else {
		colon = strrchr(arg, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - arg);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, arg, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) || !res)
		return -EINVAL;
	memcpy(&cfg->server, res->ai_addr, res->ai_addrlen);
	cfg->server_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int num_arg(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -EINVAL;
	*out = v;
	return 0;
}

static unsigned usable_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	return 1;
}

/* A fixed password as a format: every '%' doubled. Caller frees. */
static char *fixed_password_fmt(const char *pw)
{
	size_t n = 0;
	char *out, *o;

	for (const char *p = pw; *p; p++)
		n += *p == '%' ? 2 : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = pw; *p; p++) {
		*o++ = *p;
		if (*p == '%')
			*o++ = '%';
	}
	*o = '\0';
	return out;
}

/* Names and MD5 HA1s of every user, built once before the load. */
static int build_users(struct bench_cfg *cfg)
{
	cfg->users = calloc(cfg->nusers, sizeof(*cfg->users));
	cfg->ha1 = calloc(cfg->nusers, sizeof(*cfg->ha1));
	if (!cfg->users || !cfg->ha1)
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->nusers; i++) {
		char pw[SW_MAX_PASSWORD + 1];
		int ul = bench_format_user(cfg->user_fmt, cfg->first_user + i, cfg->users[i], sizeof(cfg->users[i]));
		int pl = bench_format_user(cfg->pass_fmt, cfg->first_user + i, pw, sizeof(pw));

		if (ul <= 0 || pl < 0)
			return -EINVAL;
		auth_digest_ha1(AUTH_ALGO_MD5, slice_from(cfg->users[i], (size_t)ul), slice_cstr(cfg->realm),
				slice_from(pw, (size_t)pl), cfg->ha1[i]);
		base_wipe(pw, sizeof(pw));
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	bench_request_stop();
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void on_uas_signal(int sig)
{
	(void)sig;
	bench_uas_request_stop();
}

/* --uas: serve as the callee until max_s (0: a signal); RESULT line with the
 * counts and the CPU used. Exit status 0, or 2 when the socket fails. */
static int run_uas(const struct sockaddr_storage *addr, unsigned threads, double max_s)
{
	struct sigaction sa = { .sa_handler = on_uas_signal };
	struct bench_uas_stats st;
	struct rusage ru;
	uint16_t port = 0;
	int err;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (threads > BENCH_MAX_THREADS)
		threads = BENCH_MAX_THREADS;
	err = bench_uas_run(addr, threads ? threads : 1, max_s, &st, &port);
	if (err) {
		fprintf(stderr, "sipwarden-bench: UAS: %s\n", strerror(-err));
		return EXIT_USAGE;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("RESULT mode=uas port=%u invites=%llu byes=%llu acks=%llu other=%llu responses=%llu bad=%llu"
	       " answered=%llu send_errors=%llu cpu_user_s=%.3f cpu_sys_s=%.3f cpu_s=%.3f\n", port,
	       (unsigned long long)st.invites, (unsigned long long)st.byes, (unsigned long long)st.acks,
	       (unsigned long long)st.other, (unsigned long long)st.responses, (unsigned long long)st.bad,
	       (unsigned long long)st.answered, (unsigned long long)st.send_errors, tv_s(ru.ru_utime),
	       tv_s(ru.ru_stime), tv_s(ru.ru_utime) + tv_s(ru.ru_stime));
	fflush(stdout);
	return EXIT_ALL_OK;
}

static const char *scenario_name(enum bench_scenario s)
{
	switch (s) {
	case BENCH_REG_NEW: return "REGISTER+digest, new registrations";
	case BENCH_REG_REFRESH: return "REGISTER+digest, then refreshes reusing the nonce";
	case BENCH_REG_NEW_TCP: return "REGISTER+digest, new registrations over TCP";
	case BENCH_CALL: return "authenticated calls INVITE/407/ACK/INVITE/200/ACK/BYE/200";
	}
	return "?";
}

static void report(const struct bench_cfg *cfg, const char *server, const struct bench_stats *s, double elapsed,
		   double cpu_user, double cpu_sys, uint64_t planned)
{
	const struct bench_hist *fh = &s->flow, *th = &s->txn;
	double cpu = cpu_user + cpu_sys;

	printf("sipwarden-bench: scenario %d (%s) over %s to %s\n", (int)cfg->scenario, scenario_name(cfg->scenario),
	       cfg->tcp ? "TCP" : "UDP", server);
	printf("  %u threads%s, %.0f flows/s offered for %.1f s (%llu planned), %u users", cfg->threads,
	       cfg->tcp ? "" : " (one UDP socket each)", cfg->rate, cfg->duration_s, (unsigned long long)planned,
	       cfg->nusers);
	if (!cfg->tcp && cfg->tick_us)
		printf(", %u us tick", cfg->tick_us);
	printf("\n");
	printf("flows: %llu started, %llu ok, %llu failed, %llu timed out, %llu not started (no free slot)\n",
	       (unsigned long long)s->started, (unsigned long long)s->ok, (unsigned long long)s->failed,
	       (unsigned long long)s->timeouts, (unsigned long long)s->not_started);
	printf("authenticated requests answered 200: %llu (%.0f/s); requests sent %llu (%llu retransmissions); "
	       "responses %llu (%llu stray, %llu unparseable)\n",
	       (unsigned long long)s->auth_ok, elapsed > 0 ? (double)s->auth_ok / elapsed : 0.0,
	       (unsigned long long)s->sent, (unsigned long long)s->retrans, (unsigned long long)s->received,
	       (unsigned long long)s->stray, (unsigned long long)s->bad_msg);
	printf("flow latency (its transactions' times summed): p50 %llu us, p90 %llu us, p99 %llu us, max %llu us (%llu)\n",
	       (unsigned long long)bench_hist_pct(fh, 0.5), (unsigned long long)bench_hist_pct(fh, 0.9),
	       (unsigned long long)bench_hist_pct(fh, 0.99), (unsigned long long)fh->max_us,
	       (unsigned long long)fh->n);
	printf("transaction latency (request to final answer): p50 %llu us, p90 %llu us, p99 %llu us, max %llu us (%llu)\n",
	       (unsigned long long)bench_hist_pct(th, 0.5), (unsigned long long)bench_hist_pct(th, 0.9),
	       (unsigned long long)bench_hist_pct(th, 0.99), (unsigned long long)th->max_us,
	       (unsigned long long)th->n);
	if (s->failed) {
		printf("failures:");
		if (s->early_200)
			printf(" %llu x 200 without credentials;", (unsigned long long)s->early_200);
		if (s->no_challenge)
			printf(" %llu x 401 without a usable challenge;", (unsigned long long)s->no_challenge);
		if (s->conn_errors)
			printf(" %llu connection errors;", (unsigned long long)s->conn_errors);
		for (unsigned i = 100; i < 700; i++)
			if (s->fail_status[i])
				printf(" %u x %u;", s->fail_status[i], i);
		printf("\n");
	}
	printf("generator CPU: user %.2f s, system %.2f s over %.2f s wall (%.0f %% of one core)\n", cpu_user,
	       cpu_sys, elapsed, elapsed > 0 ? 100.0 * cpu / elapsed : 0.0);
	printf("RESULT generator=sipwarden-bench scenario=%d transport=%s threads=%u rate=%.0f duration_s=%.2f "
	       "elapsed_s=%.3f planned=%llu started=%llu ok=%llu failed=%llu timeouts=%llu not_started=%llu "
	       "auth_ok=%llu sent=%llu retrans=%llu received=%llu stray=%llu early_200=%llu no_challenge=%llu "
	       "conn_errors=%llu flow_p50_us=%llu flow_p90_us=%llu flow_p99_us=%llu flow_max_us=%llu "
	       "txn_p50_us=%llu txn_p90_us=%llu txn_p99_us=%llu txn_max_us=%llu cpu_user_s=%.3f cpu_sys_s=%.3f "
	       "cpu_s=%.3f tick_us=%u",
	       (int)cfg->scenario, cfg->tcp ? "tcp" : "udp", cfg->threads, cfg->rate, cfg->duration_s, elapsed,
	       (unsigned long long)planned, (unsigned long long)s->started, (unsigned long long)s->ok,
	       (unsigned long long)s->failed, (unsigned long long)s->timeouts, (unsigned long long)s->not_started,
	       (unsigned long long)s->auth_ok, (unsigned long long)s->sent, (unsigned long long)s->retrans,
	       (unsigned long long)s->received, (unsigned long long)s->stray, (unsigned long long)s->early_200,
	       (unsigned long long)s->no_challenge, (unsigned long long)s->conn_errors,
	       (unsigned long long)bench_hist_pct(fh, 0.5), (unsigned long long)bench_hist_pct(fh, 0.9),
	       (unsigned long long)bench_hist_pct(fh, 0.99), (unsigned long long)fh->max_us,
	       (unsigned long long)bench_hist_pct(th, 0.5), (unsigned long long)bench_hist_pct(th, 0.9),
	       (unsigned long long)bench_hist_pct(th, 0.99), (unsigned long long)th->max_us, cpu_user, cpu_sys, cpu,
	       cfg->tcp ? 0 : cfg->tick_us);
	for (unsigned i = 100; i < 700; i++)
		if (s->fail_status[i])
			printf(" status_%u=%u", i, s->fail_status[i]);
	printf("\n");
	fflush(stdout);
}

enum {
	OPT_SERVER = 256, OPT_DOMAIN, OPT_REALM, OPT_SCENARIO, OPT_TRANSPORT, OPT_RATE, OPT_DURATION,
	OPT_THREADS, OPT_CONNS, OPT_USERS, OPT_FIRST, OPT_USER_FMT, OPT_PASS_FMT, OPT_PASSWORD, OPT_TIMEOUT,
	OPT_INFLIGHT, OPT_REFRESHES, OPT_EXPIRES, OPT_MAXFAIL, OPT_TICK, OPT_CALLEE, OPT_UAS, OPT_LOCAL_PORT, OPT_HELP
};

static const struct option longopts[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "domain", required_argument, NULL, OPT_DOMAIN },
	{ "realm", required_argument, NULL, OPT_REALM },
	{ "scenario", required_argument, NULL, OPT_SCENARIO },
	{ "transport", required_argument, NULL, OPT_TRANSPORT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "conns", required_argument, NULL, OPT_CONNS },
	{ "users", required_argument, NULL, OPT_USERS },
	{ "first-user", required_argument, NULL, OPT_FIRST },
	{ "user-fmt", required_argument, NULL, OPT_USER_FMT },
	{ "password-fmt", required_argument, NULL, OPT_PASS_FMT },
	{ "password", required_argument, NULL, OPT_PASSWORD },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "max-inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "refreshes", required_argument, NULL, OPT_REFRESHES },
	{ "expires", required_argument, NULL, OPT_EXPIRES },
	{ "max-fail-ratio", required_argument, NULL, OPT_MAXFAIL },
	{ "tick-us", required_argument, NULL, OPT_TICK },
	{ "callee", required_argument, NULL, OPT_CALLEE },
	{ "uas", required_argument, NULL, OPT_UAS },
	{ "local-port", required_argument, NULL, OPT_LOCAL_PORT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct bench_cfg cfg = {
		.scenario = BENCH_REG_NEW, .domain = "example.com", .nusers = 10000, .user_fmt = "u%05d",
		.pass_fmt = "pw-%05d-Bench", .rate = 100, .duration_s = 5, .conns = 1, .timeout_ms = 4000,
		.refreshes = 9, .expires = 3600, .tick_us = 1000, .callee = "callee",
	};
	const char *server = NULL, *transport = NULL, *uas = NULL;
	bool duration_given = false;
	struct bench_cfg uas_cfg = { 0 };
	char *fixed_pw = NULL;
	double v, max_fail = 0, inflight_total = 0;
	int c, rc = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int bad = 0;

		switch (c) {
		case OPT_SERVER: server = optarg; bad = parse_server(optarg, &cfg); break;
		case OPT_DOMAIN: cfg.domain = optarg; bad = !*optarg || strlen(optarg) > SW_MAX_DOMAIN; break;
		case OPT_REALM: cfg.realm = optarg; bad = !*optarg || strlen(optarg) > SW_MAX_DOMAIN; break;
		case OPT_SCENARIO:
			bad = num_arg(optarg, 1, 4, &v) || (v != 1 && v != 2 && v != 3 && v != 4);
			cfg.scenario = (enum bench_scenario)(int)v;
			break;
		case OPT_TRANSPORT:
			transport = optarg;
			bad = strcmp(optarg, "udp") && strcmp(optarg, "tcp");
			break;
		case OPT_RATE: bad = num_arg(optarg, 0.1, BENCH_MAX_RATE, &cfg.rate); break;
		case OPT_DURATION:
			bad = num_arg(optarg, 0.1, BENCH_MAX_DURATION, &cfg.duration_s);
			duration_given = true;
			break;
		case OPT_UAS: uas = optarg; bad = parse_server(optarg, &uas_cfg); break;
		case OPT_LOCAL_PORT:
			bad = num_arg(optarg, 1, 65535, &v);
			cfg.local_port = (unsigned)v;
			break;
		case OPT_THREADS:
			bad = num_arg(optarg, 1, BENCH_MAX_THREADS, &v);
			cfg.threads = (unsigned)v;
			break;
		case OPT_CONNS:
			bad = num_arg(optarg, 1, BENCH_MAX_CONNS, &v);
			cfg.conns = (unsigned)v;
			break;
		case OPT_USERS:
			bad = num_arg(optarg, 1, BENCH_MAX_USERS, &v);
			cfg.nusers = (unsigned)v;
			break;
		case OPT_FIRST:
			bad = num_arg(optarg, 0, 99999999, &v);
			cfg.first_user = (unsigned)v;
			break;
		case OPT_USER_FMT: cfg.user_fmt = optarg; bad = bench_format_check(optarg) != 0; break;
		case OPT_PASS_FMT: cfg.pass_fmt = optarg; bad = bench_format_check(optarg) != 0; break;
		case OPT_PASSWORD:
			free(fixed_pw);
			fixed_pw = fixed_password_fmt(optarg);
			cfg.pass_fmt = fixed_pw;
			bad = fixed_pw == NULL;
			break;
		case OPT_TIMEOUT:
			bad = num_arg(optarg, 100, BENCH_MAX_TIMEOUT_MS, &v);
			cfg.timeout_ms = (unsigned)v;
			break;
		case OPT_INFLIGHT: bad = num_arg(optarg, 1, (double)BENCH_MAX_INFLIGHT * BENCH_MAX_THREADS,
						 &inflight_total); break;
		case OPT_REFRESHES:
			bad = num_arg(optarg, 0, BENCH_MAX_REFRESHES, &v);
			cfg.refreshes = (unsigned)v;
			break;
		case OPT_EXPIRES:
			bad = num_arg(optarg, 0, 86400 * 365, &v);
			cfg.expires = (unsigned)v;
			break;
		case OPT_MAXFAIL: bad = num_arg(optarg, 0, 1, &max_fail); break;
		case OPT_CALLEE: cfg.callee = optarg; bad = !*optarg || strlen(optarg) > SW_MAX_USER; break;
		case OPT_TICK:
			bad = num_arg(optarg, 0, BENCH_MAX_TICK_US, &v);
			cfg.tick_us = (unsigned)v;
			break;
		case OPT_HELP:
		case 'h':
			usage(stdout);
			free(fixed_pw);
			return EXIT_ALL_OK;
		default:
			usage(stderr);
			goto out;
		}
		if (bad) {
			fprintf(stderr, "sipwarden-bench: bad value for --%s: %s\n", longopts[c - OPT_SERVER].name, optarg);
			goto out;
		}
	}
	if (optind == argc && uas && !server) {
		rc = run_uas(&uas_cfg.server, cfg.threads ? cfg.threads : usable_cpus(),
			     duration_given ? cfg.duration_s : 0);
		goto out;
	}
	if (optind != argc || !server) {
		usage(stderr);
		goto out;
	}
	if (cfg.rate * cfg.duration_s < 0.5) {
		fprintf(stderr, "sipwarden-bench: --rate x --duration gives no flow at all\n");
		goto out;
	}
	if (!cfg.realm)
		cfg.realm = cfg.domain;
	cfg.tcp = cfg.scenario == BENCH_REG_NEW_TCP || (transport && !strcmp(transport, "tcp"));
	if (cfg.scenario == BENCH_REG_NEW_TCP && transport && !strcmp(transport, "udp")) {
		fprintf(stderr, "sipwarden-bench: scenario 4 is TCP\n");
		goto out;
	}
	if (cfg.scenario == BENCH_CALL && cfg.tcp) {
		fprintf(stderr, "sipwarden-bench: scenario 3 runs over UDP only\n");
		goto out;
	}
	if (!cfg.threads)
		cfg.threads = usable_cpus() < BENCH_MAX_THREADS ? usable_cpus() : BENCH_MAX_THREADS;
	if (cfg.local_port && cfg.local_port + cfg.threads - 1 > 65535) {
		fprintf(stderr, "sipwarden-bench: --local-port + threads passes 65535\n");
		goto out;
	}
	{
		double per = inflight_total > 0 ? inflight_total / cfg.threads : cfg.rate * 2.0 / cfg.threads;

		if (per < 256 && inflight_total <= 0)
			per = 256;
		if (per < 1)
			per = 1;
		cfg.inflight = per > BENCH_MAX_INFLIGHT ? BENCH_MAX_INFLIGHT : (unsigned)per;
	}
	if (base_random(&cfg.run_id, sizeof(cfg.run_id))) {
		fprintf(stderr, "sipwarden-bench: no randomness\n");
		goto out;
	}
	if (build_users(&cfg)) {
		fprintf(stderr, "sipwarden-bench: user or password format gives names that are too long\n");
		goto out;
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct bench_thread *ths = calloc(cfg.threads, sizeof(*ths));
	pthread_t *tids = calloc(cfg.threads, sizeof(*tids));
	struct bench_stats *total = calloc(1, sizeof(*total));
	struct rusage ru0, ru1;
	struct timespec t0, t1;
	unsigned started = 0;

	if (!ths || !tids || !total) {
		fprintf(stderr, "sipwarden-bench: out of memory\n");
		goto done;
	}
	getrusage(RUSAGE_SELF, &ru0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* flow 0 starts 50 ms from now: every thread has its socket by then */
	uint64_t start_ns = (uint64_t)t0.tv_sec * 1000000000u + (uint64_t)t0.tv_nsec + 50000000u;

	for (unsigned i = 0; i < cfg.threads; i++) {
		ths[i].cfg = &cfg;
		ths[i].index = i;
		ths[i].start_ns = start_ns;
		if (pthread_create(&tids[i], NULL, bench_thread_main, &ths[i])) {
			bench_request_stop();
			fprintf(stderr, "sipwarden-bench: cannot start thread %u\n", i);
			break;
		}
		started++;
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru1);
	for (unsigned i = 0; i < started; i++) {
		if (ths[i].err) {
			fprintf(stderr, "sipwarden-bench: %s\n", ths[i].errmsg);
			rc = EXIT_USAGE;
			goto done;
		}
		bench_stats_merge(total, &ths[i].stats);
	}
	if (started != cfg.threads)
		goto done;
	{
		double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9 - 0.05;
		uint64_t planned = (uint64_t)(cfg.rate * cfg.duration_s + 0.5);
		uint64_t bad = total->failed + total->timeouts + total->not_started + (planned - total->started -
										       total->not_started);

		report(&cfg, server, total, elapsed > 0 ? elapsed : 0, tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime),
		       tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime), planned);
		rc = (double)bad <= max_fail * (double)planned ? EXIT_ALL_OK : EXIT_FAILURES;
	}
done:
	free(total);
	free(tids);
	free(ths);
out:
	if (cfg.ha1)
		base_wipe(cfg.ha1, (size_t)cfg.nusers * sizeof(*cfg.ha1));
	free(cfg.ha1);
	free(cfg.users);
	free(fixed_pw);
	return rc;
}
