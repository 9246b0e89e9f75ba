/* sipwarden-ua: command-line SIP client on the UA library (register,
 * unregister, options, message, call). Progress goes to stderr, one final
 * status line to stdout, and the exit code says what happened:
 * 0 success, 1 usage, 2 authentication failed, 3 timeout or transport
 * (TLS handshake and certificate failures included), 4 other SIP failure. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "sipwarden/ua.h"

enum { EXIT_OKAY = 0, EXIT_USAGE = 1, EXIT_AUTH = 2, EXIT_NET = 3, EXIT_SIP = 4 };

#define MAX_REALM_CREDS 8

struct opts {
	const char *cmd;
	const char *user;
	const char *password;
	const char *password_file;
	const char *ha1;
	const char *ha1_algo;
	const char *auth_user;
	const char *server;
	const char *display;
	enum sw_ua_transport transport;
	bool transport_set;
	const char *tls_ca;
	const char *tls_cert;
	const char *tls_key;
	const char *tls_server_name;
	bool tls_insecure;
	unsigned expires;
	const char *realm_creds[MAX_REALM_CREDS];
	unsigned nrealm_creds;
	const char *to;
	const char *body;
	double timeout_s;
	double t1_s;
	double interval_s;
	double stay_s;
	double hold_s;
	unsigned repeat;
	bool trace;
	bool no_auth;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sipwarden-ua COMMAND --user AOR --server HOST[:PORT] [options]\n"
		"\n"
		"Commands:\n"
		"  register      REGISTER our contact (exit 0 on 2xx)\n"
		"  unregister    REGISTER with Contact: * and Expires: 0 (all bindings)\n"
		"  options       OPTIONS to --to (default: the server)\n"
		"  message       MESSAGE with --body to --to\n"
		"  call          INVITE --to, ACK the answer, hold, then BYE (no media)\n"
		"\n"
		"Options:\n"
		"  --user AOR                 local address of record, e.g. alice@example.com\n"
		"  --password PASS            password for any realm\n"
		"  --password-file FILE       read the password from the first line of FILE\n"
		"  --ha1 HEX                  HA1 instead of a password (see --ha1-algo)\n"
		"  --ha1-algo NAME            hash of --ha1: MD5 (default for 32 digits), SHA-256\n"
		"                             (default for 64), SHA-512-256\n"
		"  --auth-user NAME           digest username (default: user part of --user)\n"
		"  --realm-credentials R=U:P  credentials for realm R only (repeatable)\n"
		"  --server HOST[:PORT]       registrar/proxy to talk to (default port 5060, 5061\n"
		"                             for TLS); a sips: AOR or server means TLS\n"
		"  --transport udp|tcp|tls    default udp\n"
		"  --tls-ca FILE              CA certificates (PEM) to verify the server with\n"
		"                             (default: the system store)\n"
		"  --tls-cert FILE            client certificate (PEM) to present\n"
		"  --tls-key FILE             its private key (default: in --tls-cert)\n"
		"  --tls-server-name NAME     name to ask for (SNI) and verify (default: host of --server)\n"
		"  --tls-insecure             do not verify the server certificate (labs only)\n"
		"  --expires S                registration expiry asked (default 3600)\n"
		"  --display-name TEXT        display name in From\n"
		"  --to URI                   target of options/message/call\n"
		"  --body TEXT                message body (message: default \"hello\")\n"
		"  --timeout S                transaction timeout (default 32)\n"
		"  --t1 S                     retransmission base interval T1 (default 0.5)\n"
		"  --repeat N                 run the command N times (default 1)\n"
		"  --interval S               pause between repetitions (default 1)\n"
		"  --stay S                   register: keep refreshing for S seconds afterwards\n"
		"  --hold S                   call: seconds between ACK and BYE (default 0)\n"
		"  --trace                    print every SIP message sent and received to stderr\n"
		"  --no-auth                  leave challenges to the application: print them, exit 2\n"
		"  -h, --help                 this text\n"
		"\n"
		"Exit codes: 0 success, 1 usage, 2 authentication failed, 3 timeout or\n"
		"transport error (including a failed TLS handshake or an unverified server\n"
		"certificate), 4 other SIP failure.\n");
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (*end || v < 0 || v > 86400)
		return false;
	*out = v;
	return true;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "user", required_argument, 0, 'u' },	    { "password", required_argument, 0, 'p' },
		{ "password-file", required_argument, 0, 'P' }, { "ha1", required_argument, 0, 'H' },
		{ "ha1-algo", required_argument, 0, 'A' },	    { "auth-user", required_argument, 0, 'a' },
		{ "server", required_argument, 0, 's' },	    { "transport", required_argument, 0, 'T' },
		{ "expires", required_argument, 0, 'e' },	    { "realm-credentials", required_argument, 0, 'R' },
		{ "to", required_argument, 0, 't' },		    { "body", required_argument, 0, 'b' },
		{ "timeout", required_argument, 0, 'o' },	    { "t1", required_argument, 0, '1' },
		{ "repeat", required_argument, 0, 'r' },	    { "interval", required_argument, 0, 'i' },
		{ "stay", required_argument, 0, 'S' },	    { "hold", required_argument, 0, 'O' },
		{ "display-name", required_argument, 0, 'd' },  { "trace", no_argument, 0, 'x' },
		{ "no-auth", no_argument, 0, 'n' },		    { "help", no_argument, 0, 'h' },
		{ "tls-ca", required_argument, 0, 'C' },	    { "tls-cert", required_argument, 0, 'c' },
		{ "tls-key", required_argument, 0, 'k' },	    { "tls-insecure", no_argument, 0, 'I' },
		{ "tls-server-name", required_argument, 0, 'N' },
		{ 0, 0, 0, 0 },
	};
	int c;

	o->expires = 3600;
	o->timeout_s = 32;
	o->t1_s = 0.5;
	o->interval_s = 1;
	o->repeat = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'u': o->user = optarg; break;
		case 'p': o->password = optarg; break;
		case 'P': o->password_file = optarg; break;
		case 'H': o->ha1 = optarg; break;
		case 'A': o->ha1_algo = optarg; break;
		case 'a': o->auth_user = optarg; break;
		case 's': o->server = optarg; break;
		case 'd': o->display = optarg; break;
		case 't': o->to = optarg; break;
		case 'b': o->body = optarg; break;
		case 'x': o->trace = true; break;
		case 'n': o->no_auth = true; break;
		case 'C': o->tls_ca = optarg; break;
		case 'c': o->tls_cert = optarg; break;
		case 'k': o->tls_key = optarg; break;
		case 'N': o->tls_server_name = optarg; break;
		case 'I': o->tls_insecure = true; break;
		case 'T':
			if (strcmp(optarg, "udp") == 0)
				o->transport = SW_UA_UDP;
			else if (strcmp(optarg, "tcp") == 0)
				o->transport = SW_UA_TCP;
			else if (strcmp(optarg, "tls") == 0)
				o->transport = SW_UA_TLS;
			else
				return fprintf(stderr, "sipwarden-ua: --transport must be udp, tcp or tls\n"), -1;
			o->transport_set = true;
			break;
		case 'e':
		case 'r':
			v = strtoul(optarg, &end, 10);
			if (*end || !optarg[0] || v > 1u << 30)
				return fprintf(stderr, "sipwarden-ua: bad number '%s'\n", optarg), -1;
			if (c == 'e')
				o->expires = (unsigned)v;
			else
				o->repeat = (unsigned)v;
			break;
		case 'R':
			if (o->nrealm_creds == MAX_REALM_CREDS)
				return fprintf(stderr, "sipwarden-ua: too many --realm-credentials\n"), -1;
			o->realm_creds[o->nrealm_creds++] = optarg;
			break;
		case 'o':
		case '1':
		case 'i':
		case 'S':
		case 'O': {
			double *dst = c == 'o' ? &o->timeout_s : c == '1' ? &o->t1_s : c == 'i' ? &o->interval_s
								: c == 'S' ? &o->stay_s : &o->hold_s;

			if (!parse_seconds(optarg, dst))
				return fprintf(stderr, "sipwarden-ua: bad duration '%s'\n", optarg), -1;
			break;
		}
		case 'h': usage(stdout); exit(EXIT_OKAY);
		default: return -1;
		}
	}
	if (optind != argc - 1)
		return fprintf(stderr, "sipwarden-ua: exactly one command expected\n"), -1;
	o->cmd = argv[optind];
	if (!o->user || !o->server)
		return fprintf(stderr, "sipwarden-ua: --user and --server are required\n"), -1;
	if (!!o->password + !!o->password_file + !!o->ha1 > 1)
		return fprintf(stderr, "sipwarden-ua: give one of --password, --password-file, --ha1\n"), -1;
	if (o->timeout_s < 0.05 || o->t1_s < 0.01)
		return fprintf(stderr, "sipwarden-ua: --timeout/--t1 too small\n"), -1;
	if (strncasecmp(o->user, "sips:", 5) == 0 || strncasecmp(o->server, "sips:", 5) == 0) {
		if (o->transport_set && o->transport != SW_UA_TLS)
			return fprintf(stderr, "sipwarden-ua: a sips: --user or --server needs --transport tls\n"), -1;
		o->transport = SW_UA_TLS;
	}
	if (o->tls_key && !o->tls_cert)
		return fprintf(stderr, "sipwarden-ua: --tls-key needs --tls-cert\n"), -1;
	if ((o->tls_ca || o->tls_cert || o->tls_server_name || o->tls_insecure) && o->transport != SW_UA_TLS)
		return fprintf(stderr, "sipwarden-ua: --tls-* options need --transport tls (or a sips: URI)\n"), -1;
	return 0;
}

static void trace(bool outgoing, const char *msg, size_t len, void *arg)
{
	(void)arg;
	fprintf(stderr, "%s\n%.*s%s", outgoing ? "---- sent ----" : "---- received ----", (int)len, msg,
		len && msg[len - 1] == '\n' ? "" : "\n");
}

static void print_challenges(struct sw_ua *ua, const struct sw_ua_challenge *chs, unsigned n, void *arg)
{
	(void)ua;
	(void)arg;
	for (unsigned i = 0; i < n; i++)
		fprintf(stderr,
			"sipwarden-ua: challenge %u: status=%d header=%s realm=\"%s\" algorithm=%s qop=\"%s\" "
			"stale=%s opaque=%s\n",
			i + 1, chs[i].status, chs[i].proxy ? "Proxy-Authenticate" : "WWW-Authenticate", chs[i].realm,
			chs[i].algorithm, chs[i].qop, chs[i].stale ? "true" : "false",
			chs[i].opaque[0] ? "yes" : "no");
}

static void on_refresh(struct sw_ua *ua, const struct sw_ua_result *res, void *arg)
{
	(void)ua;
	(void)arg;
	fprintf(stderr, "sipwarden-ua: refresh: %d %s (%s)\n", res->status, res->reason,
		sw_ua_class_name(res->cls));
}

static int read_password_file(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	if (!fgets(out, (int)cap, f)) {
		fclose(f);
		return -EINVAL;
	}
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}

static int ha1_algo(const struct opts *o, enum sw_ua_algo *algo)
{
	const char *n = o->ha1_algo;

	if (!n)
		n = strlen(o->ha1) == 32 ? "MD5" : "SHA-256";
	if (strcasecmp(n, "MD5") == 0)
		*algo = SW_UA_MD5;
	else if (strcasecmp(n, "SHA-256") == 0)
		*algo = SW_UA_SHA256;
	else if (strcasecmp(n, "SHA-512-256") == 0)
		*algo = SW_UA_SHA512_256;
	else
		return -EINVAL;
	return 0;
}

static int setup_credentials(struct sw_ua *ua, const struct opts *o)
{
	char user[128], pw[256];
	const char *at;
	int err = 0;

	if (o->auth_user) {
		snprintf(user, sizeof(user), "%s", o->auth_user);
	} else {
		const char *u = o->user;

		if (strncasecmp(u, "sip:", 4) == 0)
			u += 4;
		else if (strncasecmp(u, "sips:", 5) == 0)
			u += 5;

		at = strchr(u, '@');
		snprintf(user, sizeof(user), "%.*s", at ? (int)(at - u) : (int)strlen(u), u);
	}
	if (o->password) {
		err = sw_ua_add_credentials(ua, NULL, user, o->password);
	} else if (o->password_file) {
		err = read_password_file(o->password_file, pw, sizeof(pw));
		if (err)
			fprintf(stderr, "sipwarden-ua: cannot read %s: %s\n", o->password_file, strerror(-err));
		else
			err = sw_ua_add_credentials(ua, NULL, user, pw);
		base_wipe(pw, sizeof(pw));
	} else if (o->ha1) {
		enum sw_ua_algo algo;

		err = ha1_algo(o, &algo);
		if (!err)
			err = sw_ua_add_ha1(ua, NULL, user, algo, o->ha1);
		if (err)
			fprintf(stderr, "sipwarden-ua: --ha1 must be hex of the --ha1-algo hash length\n");
	}
	for (unsigned i = 0; !err && i < o->nrealm_creds; i++) {
		/* REALM=USER:PASS; the realm may itself contain '=' only if quoted by the shell. */
		char buf[512], *eq, *colon;

		snprintf(buf, sizeof(buf), "%s", o->realm_creds[i]);
		eq = strchr(buf, '=');
		colon = eq ? strchr(eq + 1, ':') : NULL;
		if (!eq || !colon || eq == buf || colon == eq + 1) {
			fprintf(stderr, "sipwarden-ua: --realm-credentials wants REALM=USER:PASS\n");
			err = -EINVAL;
		} else {
			*eq = *colon = '\0';
			err = sw_ua_add_credentials(ua, buf, eq + 1, colon + 1);
		}
		base_wipe(buf, sizeof(buf));
	}
	return err;
}

static int exit_code(const struct sw_ua_result *r)
{
	switch (r->cls) {
	case SW_UA_OK: return EXIT_OKAY;
	case SW_UA_AUTH_FAILED: return EXIT_AUTH;
	case SW_UA_TIMEOUT:
	case SW_UA_TRANSPORT: return EXIT_NET;
	case SW_UA_SIP_FAILURE: return EXIT_SIP;
	}
	return EXIT_SIP;
}

static void report(const char *what, const struct sw_ua_result *r)
{
	if (r->status)
		fprintf(stderr, "sipwarden-ua: %s: %d %s (%s)\n", what, r->status, r->reason,
			sw_ua_class_name(r->cls));
	else
		fprintf(stderr, "sipwarden-ua: %s: %s (%s)\n", what, r->reason, sw_ua_class_name(r->cls));
}

/* SDP offer without media (RFC 4566; port 0 = stream refused, RFC 3264 §5.1). */
static const char sdp_offer[] = "v=0\r\n"
				"o=- 1 1 IN IP4 127.0.0.1\r\n"
				"s=-\r\n"
				"c=IN IP4 127.0.0.1\r\n"
				"t=0 0\r\n"
				"m=audio 9 RTP/AVP 0\r\n"
				"a=inactive\r\n";

static int run_once(struct sw_ua *ua, const struct opts *o, struct sw_ua_result *r)
{
	const char *cmd = o->cmd;
	int err;

	if (strcmp(cmd, "register") == 0) {
		err = sw_ua_register(ua, o->expires, r);
		if (!err && r->cls == SW_UA_OK)
			fprintf(stderr, "sipwarden-ua: registered, expires %d\n", r->expires);
		if (!err && r->cls == SW_UA_OK && o->stay_s > 0)
			err = sw_ua_run(ua, (unsigned)(o->stay_s * 1000));
	} else if (strcmp(cmd, "unregister") == 0) {
		err = sw_ua_unregister_all(ua, r); /* our earlier contact had another port */
	} else if (strcmp(cmd, "options") == 0) {
		err = sw_ua_request(ua, "OPTIONS", o->to, NULL, NULL, NULL, r);
	} else if (strcmp(cmd, "message") == 0) {
		err = sw_ua_request(ua, "MESSAGE", o->to, NULL, o->body ? o->body : "hello", "text/plain", r);
	} else {
		err = sw_ua_request(ua, "INVITE", o->to, NULL, o->body ? o->body : sdp_offer,
				    "application/sdp", r);
		if (!err && r->cls == SW_UA_OK) {
			struct sw_ua_result bye;

			report("INVITE", r);
			if (o->hold_s > 0)
				sw_ua_run(ua, (unsigned)(o->hold_s * 1000));
			err = sw_ua_bye(ua, &bye);
			if (err == -ENOTCONN) {
				fprintf(stderr, "sipwarden-ua: the call was ended by the other side\n");
				err = 0;
			} else if (!err) {
				report("BYE", &bye);
				if (bye.cls != SW_UA_OK)
					*r = bye;
			}
		}
	}
	if (err)
		fprintf(stderr, "sipwarden-ua: %s: %s\n", cmd, strerror(-err));
	return err;
}

/* Why sw_ua_new() refused: a TLS file or the addresses. */
static void report_new_error(const struct opts *o, int err)
{
	const char *files[3] = { o->tls_ca, o->tls_cert, o->tls_key };

	if (err == -ENOMEM) {
		fprintf(stderr, "sipwarden-ua: out of memory\n");
		return;
	}
	for (unsigned i = 0; err != -EINVAL && i < 3; i++) {
		FILE *f = files[i] ? fopen(files[i], "r") : NULL;

		if (files[i] && !f) {
			fprintf(stderr, "sipwarden-ua: cannot read %s: %s\n", files[i], strerror(errno));
			return;
		}
		if (f)
			fclose(f);
	}
	if (o->transport == SW_UA_TLS)
		fprintf(stderr, "sipwarden-ua: bad --user or --server, or a TLS file that is not PEM or a key "
				"that does not match its certificate\n");
	else
		fprintf(stderr, "sipwarden-ua: bad --user or --server: %s\n", strerror(-err));
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct sw_ua_cfg cfg = { 0 };
	struct sw_ua_result res;
	struct sw_ua *ua = NULL;
	int err, rc = EXIT_OKAY;

	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(o.cmd, "register") && strcmp(o.cmd, "unregister") && strcmp(o.cmd, "options") &&
	    strcmp(o.cmd, "message") && strcmp(o.cmd, "call")) {
		fprintf(stderr, "sipwarden-ua: unknown command '%s'\n", o.cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!o.to && strcmp(o.cmd, "call") == 0) {
		fprintf(stderr, "sipwarden-ua: call needs --to\n");
		return EXIT_USAGE;
	}
	cfg.server = o.server;
	cfg.transport = o.transport;
	cfg.aor = o.user;
	cfg.display_name = o.display;
	cfg.t1_ms = (unsigned)(o.t1_s * 1000);
	cfg.timeout_ms = (unsigned)(o.timeout_s * 1000);
	cfg.trace = o.trace ? trace : NULL;
	cfg.tls_ca_file = o.tls_ca;
	cfg.tls_cert_file = o.tls_cert;
	cfg.tls_key_file = o.tls_key;
	cfg.tls_server_name = o.tls_server_name;
	cfg.tls_insecure = o.tls_insecure;
	err = sw_ua_new(&ua, &cfg);
	if (err) {
		report_new_error(&o, err);
		return EXIT_USAGE;
	}
	if (o.tls_insecure)
		fprintf(stderr, "sipwarden-ua: warning: --tls-insecure: the server certificate is not verified\n");
	if (setup_credentials(ua, &o) != 0) {
		sw_ua_free(ua);
		return EXIT_USAGE;
	}
	sw_ua_set_security_handling(ua, !o.no_auth);
	sw_ua_set_challenge_handler(ua, print_challenges, NULL);
	sw_ua_set_refresh_handler(ua, on_refresh, NULL);

	fprintf(stderr, "sipwarden-ua: %s as %s via %s %s\n", o.cmd, o.user,
		o.transport == SW_UA_TLS ? "tls" : o.transport == SW_UA_TCP ? "tcp" : "udp", o.server);
	for (unsigned i = 0; i < (o.repeat ? o.repeat : 1); i++) {
		char info[160];

		if (i > 0 && o.interval_s > 0)
			sw_ua_run(ua, (unsigned)(o.interval_s * 1000));
		err = run_once(ua, &o, &res);
		if (i == 0 && sw_ua_tls_info(ua, info, sizeof(info)) > 0)
			fprintf(stderr, "sipwarden-ua: TLS: %s\n", info);
		if (err) {
			rc = EXIT_NET;
			break;
		}
		report(o.cmd, &res);
		if (res.status)
			printf("%d %s\n", res.status, res.reason);
		else
			printf("%s\n", res.reason);
		fflush(stdout);
		rc = exit_code(&res);
		if (rc != EXIT_OKAY)
			break;
	}
	sw_ua_free(ua);
	return rc;
}
