/* sipwarden-ctl: administers the subscriber store and the persisted registrations
 * directly in the database, and asks the running daemon about its state over
 * its control socket (connections, status, cache-flush). After a command that
 * changes a subscriber it asks a running daemon to drop its cached
 * credentials, so the change applies to the next request. One command table drives
 * dispatch, argument checks and the help text. Passwords are read without echo, hashed to HA1/HA1b (realm =
 * domain, as Kamailio does), wiped after use, and never printed. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/config.h"
#include "auth/auth.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/util.h"
#include "store/store.h"

#define PROG "sipwarden-ctl"
#define DEFAULT_DB "sqlite:sipwarden.db"
/* An administrator's command may wait for the daemon's short write transactions. */
#define CTL_BUSY_TIMEOUT_MS 5000

/* A daemon reply is read within this long and up to this many bytes (a full
 * connection list of a large server is a few MB). */
#define CTL_DAEMON_TIMEOUT_S 10
#define CTL_DAEMON_MAX_REPLY (64u << 20)

enum ctl_exit { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_MISSING = 2, EXIT_STORE = 3, EXIT_DAEMON = 4 };

/* Command options a table entry accepts besides its positional arguments. */
#define OPT_PASSWORD 0x1u /* --password-stdin, --plaintext */
/* Not an option: the command changes subscriber rows (the daemon is told). */
#define OPT_CHANGES_USER 0x2u

struct ctl {
	const char *url;
	struct store *store;
	const struct ctl_cmd *cmd;
	bool password_stdin;
	bool plaintext;
};

struct ctl_cmd {
	const char *group;
	const char *name;
	int min_args, max_args;
	unsigned opts;
	int (*fn)(struct ctl *ctl, int argc, char **argv);
	const char *args;
	const char *help;
};

/* An account as typed on the command line: "user@domain", domain lower-cased. */
struct account {
	char user[SW_MAX_USER + 1];
	char domain[SW_MAX_DOMAIN + 1];
	char aor[SW_MAX_USER + SW_MAX_DOMAIN + 2];
};

static void say_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say_err(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* s with control characters replaced, so database or network content cannot
 * drive the terminal. */
static const char *safe(const char *s, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < cap; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static void cmd_usage(FILE *f, const struct ctl_cmd *c)
{
	fprintf(f, "usage: " PROG " [--db URL] %s %s%s%s\n", c->group, c->name, c->args[0] ? " " : "", c->args);
}

static int usage_err(const struct ctl *ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_err(const struct ctl *ctl, const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (ctl && ctl->cmd)
		cmd_usage(stderr, ctl->cmd);
	else
		fputs("Try '" PROG " --help'.\n", stderr);
	return EXIT_USAGE;
}

/* Exit code and message for a store failure. */
static int store_err(int err, const char *what)
{
	if (err == -EAGAIN)
		say_err("%s: the database is busy, try again", what);
	else
		say_err("%s: store error: %s", what, strerror(-err));
	return err == -EINVAL ? EXIT_USAGE : EXIT_STORE;
}

/* Split "user@domain" (an optional sip:/sips: prefix is dropped). 0, or prints
 * why and returns EXIT_USAGE. */
static int parse_account(const struct ctl *ctl, const char *arg, struct account *a)
{
	char shown[160];
	const char *at;
	size_t ulen, dlen;

	if (strncasecmp(arg, "sip:", 4) == 0)
		arg += 4;
	else if (strncasecmp(arg, "sips:", 5) == 0)
		arg += 5;
	safe(arg, shown, sizeof(shown));
	at = strchr(arg, '@');
	if (!at || at == arg || !at[1] || strchr(at + 1, '@'))
		return usage_err(ctl, "'%s' is not USER@DOMAIN", shown);
	ulen = (size_t)(at - arg);
	dlen = strlen(at + 1);
	if (ulen > SW_MAX_USER)
		return usage_err(ctl, "user name longer than %d bytes", SW_MAX_USER);
	if (dlen > SW_MAX_DOMAIN)
		return usage_err(ctl, "domain longer than %d bytes", SW_MAX_DOMAIN);
	for (const char *p = arg; *p; p++) {
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == ':')
			return usage_err(ctl, "'%s' contains a space, a control character or ':'", shown);
	}
	memcpy(a->user, arg, ulen);
	a->user[ulen] = '\0';
	for (size_t i = 0; i <= dlen; i++)
		a->domain[i] = (char)tolower((unsigned char)at[1 + i]);
	snprintf(a->aor, sizeof(a->aor), "%s@%s", a->user, a->domain);
	return 0;
}

/* Read one line from fd into buf without stdio buffering (no stray copies of
 * the secret); the newline (and a CR before it) is dropped. Length, or -ENOSPC
 * when longer than cap - 1, or -errno. */
static ssize_t read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	bool too_long = false;
	char ch;

	for (;;) {
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0 || ch == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = ch;
		else
			too_long = true;
	}
	ch = 0;
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (too_long) {
		base_wipe(buf, cap);
		return -ENOSPC;
	}
	return (ssize_t)n;
}

static struct termios saved_tty;
static volatile sig_atomic_t echo_off;

/* Interrupted while echo is off: give the terminal back before dying. */
static void on_signal(int sig)
{
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	signal(sig, SIG_DFL);
	raise(sig);
}

static ssize_t read_hidden(const char *prompt, char *buf, size_t cap)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP };
	struct sigaction sa = { .sa_handler = on_signal }, old[5];
	struct termios t;
	ssize_t n;

	if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
		return -errno;
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)ECHO;
	for (size_t i = 0; i < 5; i++)
		sigaction(sigs[i], &sa, &old[i]);
	/* Echo goes off before the prompt shows: whatever is typed after the
	 * prompt is neither echoed nor flushed away. */
	echo_off = 1;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
	fputs(prompt, stderr);
	fflush(stderr);
	n = read_line(STDIN_FILENO, buf, cap);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
	echo_off = 0;
	for (size_t i = 0; i < 5; i++)
		sigaction(sigs[i], &old[i], NULL);
	fputc('\n', stderr);
	return n;
}

/* The new password into pw (SW_MAX_PASSWORD + 1 bytes): from argv, stdin or
 * the terminal. 0 or an exit code (message printed). */
static int get_password(const struct ctl *ctl, const char *arg, char *pw)
{
	char again[SW_MAX_PASSWORD + 2];
	ssize_t n;

	if (arg && ctl->password_stdin)
		return usage_err(ctl, "give the password either as an argument or with --password-stdin");
	if (arg) {
		if (strlen(arg) > SW_MAX_PASSWORD)
			return usage_err(ctl, "password longer than %d bytes", SW_MAX_PASSWORD);
		strcpy(pw, arg);
		n = (ssize_t)strlen(pw);
	} else if (ctl->password_stdin) {
		n = read_line(STDIN_FILENO, pw, SW_MAX_PASSWORD + 1);
	} else if (isatty(STDIN_FILENO)) {
		n = read_hidden("Password: ", pw, SW_MAX_PASSWORD + 1);
		if (n > 0) {
			ssize_t m = read_hidden("Retype password: ", again, sizeof(again));
			bool same = m == n && memcmp(pw, again, (size_t)n) == 0;

			base_wipe(again, sizeof(again));
			if (!same) {
				base_wipe(pw, SW_MAX_PASSWORD + 1);
				say_err("the passwords do not match");
				return EXIT_USAGE;
			}
		}
	} else {
		return usage_err(ctl, "no password: give PASSWORD, use --password-stdin, or run on a terminal");
	}
	if (n == -ENOSPC)
		return usage_err(ctl, "password longer than %d bytes", SW_MAX_PASSWORD);
	if (n < 0) {
		say_err("cannot read the password: %s", strerror((int)-n));
		return EXIT_USAGE;
	}
	if (n == 0)
		return usage_err(ctl, "empty password refused");
	return 0;
}

struct hashes {
	char ha1[STORE_HASH__COUNT][SW_MAX_HASH_HEX + 1];
	char ha1b[STORE_HASH__COUNT][SW_MAX_HASH_HEX + 1];
	char userhash[STORE_HASH__COUNT][SW_MAX_HASH_HEX + 1];
};

/* Kamailio's pair, realm = domain: HA1 over "user", HA1b over "user@domain",
 * for each hash family (RFC 7616, RFC 8760), and the RFC 7616 §3.4.4
 * userhash H(user:realm) per family. */
static void make_hashes(const struct account *a, const char *pw, struct hashes *h)
{
	static const enum auth_algo fam[STORE_HASH__COUNT] = { AUTH_ALGO_MD5, AUTH_ALGO_SHA256,
							       AUTH_ALGO_SHA512_256 };
	struct slice pass = slice_cstr(pw), realm = slice_cstr(a->domain);

	for (int i = 0; i < STORE_HASH__COUNT; i++) {
		auth_digest_ha1(fam[i], slice_cstr(a->user), realm, pass, h->ha1[i]);
		auth_digest_ha1(fam[i], slice_cstr(a->aor), realm, pass, h->ha1b[i]);
		auth_digest_userhash(fam[i], slice_cstr(a->user), realm, h->userhash[i]);
	}
}

/* 0 when the account exists, -ENOENT, or another store error. */
static int account_exists(struct ctl *ctl, const struct account *a)
{
	struct store_cred c;
	int err = store_get_cred(ctl->store, slice_cstr(a->user), slice_cstr(a->domain), &c);

	store_cred_wipe(&c);
	return err;
}

/* Shared body of "user add" and "user passwd". */
static int set_password(struct ctl *ctl, int argc, char **argv, bool add)
{
	char pw[SW_MAX_PASSWORD + 1];
	struct store_user_secrets sec;
	struct account a;
	struct hashes h;
	int rc, err;

	rc = parse_account(ctl, argv[0], &a);
	if (rc)
		return rc;
	/* Refuse before asking for a password that could not be used. */
	err = account_exists(ctl, &a);
	if (add && err == 0) {
		say_err("user %s already exists", a.aor);
		return EXIT_MISSING;
	}
	if (!add && err == -ENOENT) {
		say_err("user %s does not exist", a.aor);
		return EXIT_MISSING;
	}
	if (err && err != -ENOENT)
		return store_err(err, a.aor);
	rc = get_password(ctl, argc > 1 ? argv[1] : NULL, pw);
	if (rc) {
		base_wipe(pw, sizeof(pw));
		return rc;
	}
	make_hashes(&a, pw, &h);
	/* Without --plaintext a changed password also erases an older cleartext copy. */
	sec = (struct store_user_secrets){
		.password = ctl->plaintext ? pw : "",
		.ha1 = h.ha1[STORE_HASH_MD5],
		.ha1b = h.ha1b[STORE_HASH_MD5],
		.ha1_sha256 = h.ha1[STORE_HASH_SHA256],
		.ha1b_sha256 = h.ha1b[STORE_HASH_SHA256],
		.ha1_sha512t256 = h.ha1[STORE_HASH_SHA512_256],
		.ha1b_sha512t256 = h.ha1b[STORE_HASH_SHA512_256],
		.userhash = { h.userhash[0], h.userhash[1], h.userhash[2] },
	};
	err = add ? store_user_add(ctl->store, a.user, a.domain, &sec)
		  : store_user_update(ctl->store, a.user, a.domain, &sec);
	base_wipe(pw, sizeof(pw));
	base_wipe(&h, sizeof(h));
	if (err == -EEXIST || err == -ENOENT) {
		say_err("user %s %s", a.aor, err == -EEXIST ? "already exists" : "does not exist");
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, a.aor);
	printf("user %s %s\n", a.aor, add ? "added" : "password changed");
	return EXIT_OK;
}

static int cmd_user_add(struct ctl *ctl, int argc, char **argv)
{
	return set_password(ctl, argc, argv, true);
}

static int cmd_user_passwd(struct ctl *ctl, int argc, char **argv)
{
	return set_password(ctl, argc, argv, false);
}

static int cmd_user_del(struct ctl *ctl, int argc, char **argv)
{
	struct account a;
	int err, rc = parse_account(ctl, argv[0], &a);

	(void)argc;
	if (rc)
		return rc;
	err = store_user_del(ctl->store, a.user, a.domain);
	if (err == -ENOENT) {
		say_err("user %s does not exist", a.aor);
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, a.aor);
	printf("user %s deleted\n", a.aor);
	return EXIT_OK;
}

static int set_status(struct ctl *ctl, char **argv, int status)
{
	struct account a;
	int err, rc = parse_account(ctl, argv[0], &a);

	if (rc)
		return rc;
	err = store_user_set_status(ctl->store, a.user, a.domain, status);
	if (err == -ENOENT) {
		say_err("user %s does not exist", a.aor);
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, a.aor);
	printf("user %s %s\n", a.aor, status ? "disabled" : "enabled");
	return EXIT_OK;
}

static int cmd_user_disable(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	return set_status(ctl, argv, 1);
}

static int cmd_user_enable(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	return set_status(ctl, argv, 0);
}

static const char *status_name(int status)
{
	return status ? "disabled" : "active";
}

static const char *rank_name(int rank)
{
	static const char *const names[] = { "MD5", "SHA-256", "SHA-512-256" };

	return rank >= 0 && rank < 3 ? names[rank] : "none";
}

static int cmd_user_show(struct ctl *ctl, int argc, char **argv)
{
	char b1[256], b2[600];
	struct store_cred c;
	struct account a;
	int err, rc = parse_account(ctl, argv[0], &a);

	(void)argc;
	if (rc)
		return rc;
	err = store_get_cred(ctl->store, slice_cstr(a.user), slice_cstr(a.domain), &c);
	if (err == -ENOENT) {
		say_err("user %s does not exist", a.aor);
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, a.aor);
	printf("user:      %s@%s\n", safe(c.username, b1, sizeof(b1)), safe(c.domain, b2, sizeof(b2)));
	printf("status:    %s", status_name(c.status));
	if (c.status != 0 && c.status != 1)
		printf(" (%d)", c.status);
	printf("\npassword:  %s\n", c.password[0] ? "stored in cleartext" : "not stored");
	printf("ha1:       %s\n", c.ha1[0] ? "present" : "absent");
	printf("ha1b:      %s\n", c.ha1b[0] ? "present" : "absent");
	printf("sha-256:   %s\n", c.ha1_sha256[0] ? "present" : "absent");
	printf("sha-512-256: %s\n", c.ha1_sha512t256[0] ? "present" : "absent");
	printf("min-algo:  %s\n", rank_name(c.min_algo));
	printf("pinned-to: %s\n", rank_name(c.pin_algo));
	if (c.locked_until > (int64_t)base_wall_s())
		printf("locked:    yes\n");
	if (c.valid_until)
		printf("valid-until: %lld\n", (long long)c.valid_until);
	if (c.email[0])
		printf("email:     %s\n", safe(c.email, b1, sizeof(b1)));
	if (c.rpid[0])
		printf("rpid:      %s\n", safe(c.rpid, b2, sizeof(b2)));
	store_cred_wipe(&c);
	return EXIT_OK;
}

static int print_user(const struct store_cred *c, void *arg)
{
	char b1[256], b2[256];

	(void)arg;
	printf("%s@%s  %s\n", safe(c->username, b1, sizeof(b1)), safe(c->domain, b2, sizeof(b2)),
	       status_name(c->status));
	return 0;
}

static int cmd_user_list(struct ctl *ctl, int argc, char **argv)
{
	char domain[SW_MAX_DOMAIN + 1];
	int err;

	if (argc > 0) {
		size_t n = strlen(argv[0]);

		if (n == 0 || n > SW_MAX_DOMAIN)
			return usage_err(ctl, "DOMAIN must be 1 to %d bytes", SW_MAX_DOMAIN);
		for (size_t i = 0; i <= n; i++)
			domain[i] = (char)tolower((unsigned char)argv[0][i]);
	}
	err = store_user_list(ctl->store, argc > 0 ? domain : NULL, print_user, NULL);
	return err ? store_err(err, "user list") : EXIT_OK;
}

struct reg_rows {
	const char *aor; /**< filter, or NULL */
	struct store_contact *v;
	size_t n, cap;
};

static int collect_reg(const struct store_contact *c, void *arg)
{
	struct reg_rows *r = arg;

	if (r->aor && strcmp(c->aor, r->aor) != 0)
		return 0;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct store_contact *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = *c;
	return 0;
}

static int cmd_reg_list(struct ctl *ctl, int argc, char **argv)
{
	struct reg_rows rows = { 0 };
	struct account a;
	int64_t now = (int64_t)base_wall_s();
	int w_aor = 3, w_contact = 7, w_recv = 8, rc, err;

	if (argc > 0) {
		rc = parse_account(ctl, argv[0], &a);
		if (rc)
			return rc;
		rows.aor = a.aor;
	}
	err = store_loc_load(ctl->store, now, collect_reg, &rows);
	if (err) {
		free(rows.v);
		return store_err(err, "reg list");
	}
	for (size_t i = 0; i < rows.n; i++) {
		struct store_contact *c = &rows.v[i];

		safe(c->aor, c->aor, sizeof(c->aor));
		safe(c->contact, c->contact, sizeof(c->contact));
		safe(c->received, c->received, sizeof(c->received));
		safe(c->user_agent, c->user_agent, sizeof(c->user_agent));
		w_aor = (int)strlen(c->aor) > w_aor ? (int)strlen(c->aor) : w_aor;
		w_contact = (int)strlen(c->contact) > w_contact ? (int)strlen(c->contact) : w_contact;
		w_recv = (int)strlen(c->received) > w_recv ? (int)strlen(c->received) : w_recv;
	}
	printf("%-*s  %-*s  %10s  %-*s  %s\n", w_aor, "AOR", w_contact, "CONTACT", "EXPIRES-IN", w_recv,
	       "RECEIVED", "USER-AGENT");
	for (size_t i = 0; i < rows.n; i++) {
		const struct store_contact *c = &rows.v[i];

		printf("%-*s  %-*s  %10lld  %-*s  %s\n", w_aor, c->aor, w_contact, c->contact,
		       (long long)(c->expires - now), w_recv, c->received, c->user_agent);
	}
	free(rows.v);
	return EXIT_OK;
}

static int cmd_reg_del(struct ctl *ctl, int argc, char **argv)
{
	char shown[SW_MAX_CONTACT_URI + 1];
	const char *contact = argc > 1 ? argv[1] : NULL;
	struct account a;
	int err, rc = parse_account(ctl, argv[0], &a);

	if (rc)
		return rc;
	if (contact && (!contact[0] || strlen(contact) > SW_MAX_CONTACT_URI))
		return usage_err(ctl, "CONTACT must be 1 to %d bytes", SW_MAX_CONTACT_URI);
	err = store_loc_del(ctl->store, a.aor, contact);
	if (err == -ENOENT) {
		if (contact)
			say_err("no binding %s for %s", safe(contact, shown, sizeof(shown)), a.aor);
		else
			say_err("no registration for %s", a.aor);
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, a.aor);
	printf("registration%s of %s deleted\n", contact ? "" : "s", a.aor);
	return EXIT_OK;
}

/* Year 9999: an administrator's lock has no end of its own. */
#define LOCK_FOREVER 253402300799LL

static int set_field(struct ctl *ctl, const char *arg, enum store_field f, int64_t v, const char *done_msg)
{
	struct account a;
	int err, rc = parse_account(ctl, arg, &a);

	if (rc)
		return rc;
	err = store_user_set_field(ctl->store, a.user, a.domain, f, v);
	if (err == -ENOENT) {
		say_err("user %s does not exist", a.aor);
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, a.aor);
	printf("user %s %s\n", a.aor, done_msg);
	return EXIT_OK;
}

static int cmd_user_lock(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	return set_field(ctl, argv[0], STORE_FIELD_LOCKED_UNTIL, LOCK_FOREVER, "locked");
}

static int cmd_user_unlock(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	return set_field(ctl, argv[0], STORE_FIELD_LOCKED_UNTIL, 0, "unlocked");
}

static int cmd_user_reset_pin(struct ctl *ctl, int argc, char **argv)
{
	(void)argc;
	return set_field(ctl, argv[0], STORE_FIELD_PIN, STORE_RANK_NONE, "algorithm pin reset");
}

/* "YYYY-MM-DD" (end of that day, UTC) or "never". */
static int cmd_user_expire(struct ctl *ctl, int argc, char **argv)
{
	struct tm tm = { 0 };
	const char *end;

	(void)argc;
	if (strcmp(argv[1], "never") == 0)
		return set_field(ctl, argv[0], STORE_FIELD_VALID_UNTIL, 0, "never expires");
	end = strptime(argv[1], "%Y-%m-%d", &tm);
	if (!end || *end)
		return usage_err(ctl, "DATE must be YYYY-MM-DD or never");
	tm.tm_hour = 23;
	tm.tm_min = 59;
	tm.tm_sec = 59;
	return set_field(ctl, argv[0], STORE_FIELD_VALID_UNTIL, (int64_t)timegm(&tm), "expiry set");
}

static int cmd_user_min_algo(struct ctl *ctl, int argc, char **argv)
{
	enum auth_algo algo;

	(void)argc;
	if (strcmp(argv[1], "none") == 0)
		return set_field(ctl, argv[0], STORE_FIELD_MIN_ALGO, STORE_RANK_NONE, "minimum algorithm cleared");
	if (auth_algo_parse(slice_cstr(argv[1]), &algo))
		return usage_err(ctl, "ALGORITHM must be MD5, SHA-256, SHA-512-256 or none");
	return set_field(ctl, argv[0], STORE_FIELD_MIN_ALGO, auth_algo_rank(algo), "minimum algorithm set");
}


static int report_user(const struct store_cred *c, void *arg)
{
	char b1[256], b2[256];
	bool sha = (c->hashes & (1u << STORE_HASH_SHA256)) && (c->hashes & (1u << STORE_HASH_SHA512_256));

	(void)arg;
	if (sha && c->pin_algo != STORE_HASH_MD5)
		return 0;
	printf("%s@%s  %s%s%s\n", safe(c->username, b1, sizeof(b1)), safe(c->domain, b2, sizeof(b2)),
	       sha ? "" : "lacks SHA hashes (set the password again)", !sha && c->pin_algo == 0 ? "; " : "",
	       c->pin_algo == STORE_HASH_MD5 ? "authenticates with MD5 only" : "");
	return 0;
}

/* Users still needing MD5: no SHA-256/SHA-512-256 HA1 stored, or whose
 * strongest algorithm ever used is MD5. */
static int cmd_user_report(struct ctl *ctl, int argc, char **argv)
{
	int err;

	(void)argc;
	(void)argv;
	err = store_user_list(ctl->store, NULL, report_user, NULL);
	return err ? store_err(err, "user report") : EXIT_OK;
}

static int alias_args(struct ctl *ctl, char **argv, struct account *who, struct account *as)
{
	int rc = parse_account(ctl, argv[0], who);

	return rc ? rc : parse_account(ctl, argv[1], as);
}

static int cmd_alias_add(struct ctl *ctl, int argc, char **argv)
{
	struct account who, as;
	int err, rc = alias_args(ctl, argv, &who, &as);

	(void)argc;
	if (rc)
		return rc;
	err = store_alias_add(ctl->store, who.user, who.domain, as.user, as.domain);
	if (err == -EEXIST) {
		say_err("%s may already act as %s", who.aor, as.aor);
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, who.aor);
	printf("%s may now register and call as %s\n", who.aor, as.aor);
	return EXIT_OK;
}

static int cmd_alias_del(struct ctl *ctl, int argc, char **argv)
{
	struct account who, as;
	int err, rc = alias_args(ctl, argv, &who, &as);

	(void)argc;
	if (rc)
		return rc;
	err = store_alias_del(ctl->store, who.user, who.domain, as.user, as.domain);
	if (err == -ENOENT) {
		say_err("no alias %s for %s", as.aor, who.aor);
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, who.aor);
	printf("alias %s of %s deleted\n", as.aor, who.aor);
	return EXIT_OK;
}

static int print_alias(const char *u, const char *d, const char *au, const char *ad, void *arg)
{
	char b1[128], b2[128], b3[128], b4[128];

	(void)arg;
	printf("%s@%s  as  %s@%s\n", safe(u, b1, sizeof(b1)), safe(d, b2, sizeof(b2)), safe(au, b3, sizeof(b3)),
	       safe(ad, b4, sizeof(b4)));
	return 0;
}

static int cmd_alias_list(struct ctl *ctl, int argc, char **argv)
{
	int err;

	(void)argc;
	(void)argv;
	err = store_alias_list(ctl->store, print_alias, NULL);
	return err ? store_err(err, "alias list") : EXIT_OK;
}

static int print_block(const struct store_block *b, void *arg)
{
	char b1[64], b2[128], b3[64];
	int64_t now = *(const int64_t *)arg;

	printf("%-40s  %-20s  %8lld  %s\n", safe(b->src, b1, sizeof(b1)), b->user[0] ? safe(b->user, b2, sizeof(b2)) : "*",
	       (long long)(b->until > now ? b->until - now : 0), safe(b->reason, b3, sizeof(b3)));
	return 0;
}

static int cmd_block_list(struct ctl *ctl, int argc, char **argv)
{
	int64_t now = (int64_t)base_wall_s();
	int err;

	(void)argc;
	(void)argv;
	store_block_purge(ctl->store, now);
	printf("%-40s  %-20s  %8s  %s\n", "SOURCE", "USER", "ENDS-IN", "REASON");
	err = store_block_list(ctl->store, print_block, &now);
	return err ? store_err(err, "block list") : EXIT_OK;
}

/* The daemon notices the missing row within a couple of seconds and lifts the block. */
static int cmd_block_del(struct ctl *ctl, int argc, char **argv)
{
	char shown[64];
	int err;

	if (strlen(argv[0]) >= sizeof(((struct store_block *)0)->src))
		return usage_err(ctl, "SOURCE is not an address");
	err = store_block_del(ctl->store, argv[0], argc > 1 ? argv[1] : NULL);
	if (err == -ENOENT) {
		say_err("no block for %s", safe(argv[0], shown, sizeof(shown)));
		return EXIT_MISSING;
	}
	if (err)
		return store_err(err, "block del");
	printf("block of %s lifted\n", safe(argv[0], shown, sizeof(shown)));
	return EXIT_OK;
}

/* Commands answered by the running daemon rather than the database. */
static const struct {
	const char *name;
	const char *help;
} daemon_cmds[] = {
	{ "connections", "the daemon's TCP/TLS connections: peer, age, idle time, bytes buffered, TLS, worker" },
	{ "status", "the daemon's uptime, workers, connections, registrations, credential cache counters and version" },
	{ "cache-flush", "make every worker drop its cached credentials (user commands do it by themselves)" },
};

/* Send one request line to the daemon's control socket and print the reply. */
static int daemon_query(const char *path, const char *verb)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_DAEMON_TIMEOUT_S };
	char shown[160], req[32];
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		say_err("control socket path too long: %s", safe(path, shown, sizeof(shown)));
		return EXIT_USAGE;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		say_err("socket: %s", strerror(errno));
		return EXIT_DAEMON;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		if (err == ENOENT || err == ECONNREFUSED)
			say_err("the daemon is not running (nothing answers on %s)", safe(path, shown, sizeof(shown)));
		else
			say_err("cannot reach the daemon on %s: %s", safe(path, shown, sizeof(shown)), strerror(err));
		return EXIT_DAEMON;
	}
	int rlen = snprintf(req, sizeof(req), "%s\n", verb);
	if (send(fd, req, (size_t)rlen, MSG_NOSIGNAL) != rlen) {
		say_err("cannot send to the daemon: %s", strerror(errno));
		close(fd);
		return EXIT_DAEMON;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			if (cap >= CTL_DAEMON_MAX_REPLY) {
				say_err("the daemon's reply is larger than %u bytes", CTL_DAEMON_MAX_REPLY);
				free(buf);
				close(fd);
				return EXIT_DAEMON;
			}
			char *p = realloc(buf, cap ? cap * 2 : 65536);
			if (!p) {
				free(buf);
				close(fd);
				say_err("out of memory");
				return EXIT_DAEMON;
			}
			buf = p;
			cap = cap ? cap * 2 : 65536;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			say_err("no complete answer from the daemon: %s",
				errno == EAGAIN ? "timed out" : strerror(errno));
			free(buf);
			close(fd);
			return EXIT_DAEMON;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (!buf) {
		say_err("the daemon closed the connection without answering");
		return EXIT_DAEMON;
	}
	buf[len] = '\0';
	int rc = EXIT_OK;
	char line[1024];
	char *p = buf;
	if (strncmp(p, "OK\n", 3) == 0) {
		p += 3;
	} else {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		say_err("the daemon refused the request: %s",
			safe(strncmp(p, "ERR ", 4) == 0 ? p + 4 : p, line, sizeof(line)));
		free(buf);
		return EXIT_DAEMON;
	}
	/* Lines printed one by one, control characters masked. */
	while (*p) {
		char *nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		puts(safe(p, line, sizeof(line)));
		if (!nl)
			break;
		p = nl + 1;
	}
	free(buf);
	return rc;
}

/* Tell a running daemon that subscriber rows changed: its workers drop their
 * cached credentials before the next request. Without a daemon or a control
 * socket there is nothing to tell (a daemon started later reads the store; one
 * not reachable sees the change within [auth] credential_cache_ttl). Only a
 * daemon that answers and refuses earns a note. */
static void daemon_notify(const char *given, const struct sw_config *cfg, const char *url)
{
	static const char req[] = "cache-flush\n";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 2 };
	char path[sizeof(sa.sun_path)], reply[64];
	size_t len = 0;
	ssize_t n;
	int fd;

	if (given) {
		if (strlen(given) >= sizeof(path))
			return;
		memcpy(path, given, strlen(given) + 1);
	} else if (cfg && strcmp(cfg->control_socket, "none") == 0) {
		return;
	} else if (cfg && cfg->control_socket[0]) {
		if (strlen(cfg->control_socket) >= sizeof(path))
			return;
		memcpy(path, cfg->control_socket, strlen(cfg->control_socket) + 1);
	} else if (config_control_socket_default(url, path, sizeof(path))) {
		return;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return;
	}
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1) {
		while (len < sizeof(reply) - 1) {
			n = recv(fd, reply + len, sizeof(reply) - 1 - len, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			len += (size_t)n;
		}
	}
	close(fd);
	if (len < 3 || memcmp(reply, "OK\n", 3) != 0)
		fprintf(stderr, PROG ": note: the running daemon did not confirm the change; it applies there "
				"within [auth] credential_cache_ttl\n");
}

static const struct ctl_cmd cmds[] = {
	{ "user", "add", 1, 2, OPT_PASSWORD | OPT_CHANGES_USER, cmd_user_add, "USER@DOMAIN [PASSWORD] [--password-stdin] [--plaintext]",
	  "create a subscriber (stores HA1/HA1b; the password too with --plaintext)" },
	{ "user", "passwd", 1, 2, OPT_PASSWORD | OPT_CHANGES_USER, cmd_user_passwd,
	  "USER@DOMAIN [PASSWORD] [--password-stdin] [--plaintext]", "change a subscriber's password" },
	{ "user", "del", 1, 1, OPT_CHANGES_USER, cmd_user_del, "USER@DOMAIN", "delete a subscriber" },
	{ "user", "list", 0, 1, 0, cmd_user_list, "[DOMAIN]", "list subscribers and whether they are active" },
	{ "user", "disable", 1, 1, OPT_CHANGES_USER, cmd_user_disable, "USER@DOMAIN", "refuse the subscriber (status = 1)" },
	{ "user", "enable", 1, 1, OPT_CHANGES_USER, cmd_user_enable, "USER@DOMAIN", "accept the subscriber again (status = 0)" },
	{ "user", "show", 1, 1, 0, cmd_user_show, "USER@DOMAIN",
	  "show status and which secrets are stored (never their values)" },
	{ "user", "lock", 1, 1, OPT_CHANGES_USER, cmd_user_lock, "USER@DOMAIN", "lock the account (403 Account Locked after a right password)" },
	{ "user", "unlock", 1, 1, OPT_CHANGES_USER, cmd_user_unlock, "USER@DOMAIN", "unlock the account" },
	{ "user", "expire", 2, 2, OPT_CHANGES_USER, cmd_user_expire, "USER@DOMAIN YYYY-MM-DD|never",
	  "account valid until the end of that day (UTC), or forever" },
	{ "user", "min-algo", 2, 2, OPT_CHANGES_USER, cmd_user_min_algo, "USER@DOMAIN MD5|SHA-256|SHA-512-256|none",
	  "weakest digest algorithm accepted for this user" },
	{ "user", "reset-pin", 1, 1, OPT_CHANGES_USER, cmd_user_reset_pin, "USER@DOMAIN",
	  "forget the strongest algorithm used, so MD5 is accepted again" },
	{ "user", "report", 0, 0, 0, cmd_user_report, "",
	  "users lacking SHA hashes or still authenticating with MD5 only" },
	{ "alias", "add", 2, 2, 0, cmd_alias_add, "USER@DOMAIN ALIAS@DOMAIN",
	  "let USER register and call as ALIAS (To/From identity)" },
	{ "alias", "del", 2, 2, 0, cmd_alias_del, "USER@DOMAIN ALIAS@DOMAIN", "remove an alias" },
	{ "alias", "list", 0, 0, 0, cmd_alias_list, "", "list aliases" },
	{ "block", "list", 0, 0, 0, cmd_block_list, "", "list the sources the limiter currently blocks" },
	{ "block", "del", 1, 2, 0, cmd_block_del, "SOURCE [USER]",
	  "lift a block (all of SOURCE, or USER from it); the daemon notices within 2 s" },
	{ "reg", "list", 0, 1, 0, cmd_reg_list, "[AOR]", "list unexpired registrations (AOR = USER@DOMAIN)" },
	{ "reg", "del", 1, 2, 0, cmd_reg_del, "AOR [CONTACT]", "delete one binding, or all of an AOR" },
};
static const size_t ncmds = sizeof(cmds) / sizeof(cmds[0]);

static void help(FILE *f)
{
	const char *group = "";

	fputs("usage: " PROG " [--db URL] [-c FILE] [--socket PATH] COMMAND ...\n\n"
	      "Administers sipwarden's subscriber store and persisted registrations, and asks\n"
	      "the running daemon about its state.\n\n"
	      "Options:\n"
	      "  --db URL           store URL (default: $SIPWARDEN_DB, else the config file's\n"
	      "                     [store] db, else " DEFAULT_DB ")\n"
	      "  -c, --config FILE  the daemon's sipwarden.conf: its database and control socket\n"
	      "  --socket PATH      the daemon's control socket (default: [server] control_socket,\n"
	      "                     else the database path + .ctl)\n"
	      "  -h, --help         show this help\n"
	      "\ndaemon commands (over the control socket):\n",
	      f);
	for (size_t i = 0; i < sizeof(daemon_cmds) / sizeof(daemon_cmds[0]); i++)
		fprintf(f, "  %s\n      %s\n", daemon_cmds[i].name, daemon_cmds[i].help);
	for (size_t i = 0; i < ncmds; i++) {
		const struct ctl_cmd *c = &cmds[i];

		if (strcmp(group, c->group) != 0) {
			group = c->group;
			fprintf(f, "\n%s commands:\n", group);
		}
		fprintf(f, "  %s %s %s\n      %s\n", c->group, c->name, c->args, c->help);
	}
	fputs("\nPasswords: given as PASSWORD, read from one line of stdin with --password-stdin, or\n"
	      "asked twice without echo on a terminal. Only hashes are stored (HA1 and HA1b for\n"
	      "MD5, SHA-256 and SHA-512-256, and userhashes); --plaintext also keeps the password.\n"
	      "\nExit status: 0 success, 1 usage error, 2 not found or already exists, 3 store error,\n"
	      "4 daemon not running or not answering.\n",
	      f);
}

static const struct ctl_cmd *find_cmd(const char *group, const char *name, bool *group_known)
{
	*group_known = false;
	for (size_t i = 0; i < ncmds; i++) {
		if (strcmp(cmds[i].group, group) != 0)
			continue;
		*group_known = true;
		if (name && strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	}
	return NULL;
}

/* Split a command's arguments into options and positionals (in place, argv
 * keeps only positionals). 0, -1 for --help, or an exit code. */
static int parse_cmd_args(struct ctl *ctl, int *argc, char **argv)
{
	bool opts_done = false;
	int n = 0;

	for (int i = 0; i < *argc; i++) {
		const char *a = argv[i];

		if (opts_done || a[0] != '-' || a[1] == '\0') {
			argv[n++] = argv[i];
		} else if (strcmp(a, "--") == 0) {
			opts_done = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			return -1;
		} else if ((ctl->cmd->opts & OPT_PASSWORD) && strcmp(a, "--password-stdin") == 0) {
			ctl->password_stdin = true;
		} else if ((ctl->cmd->opts & OPT_PASSWORD) && strcmp(a, "--plaintext") == 0) {
			ctl->plaintext = true;
		} else {
			char shown[64];
			return usage_err(ctl, "unknown option '%s'", safe(a, shown, sizeof(shown)));
		}
	}
	*argc = n;
	if (n < ctl->cmd->min_args)
		return usage_err(ctl, "missing argument");
	if (n > ctl->cmd->max_args)
		return usage_err(ctl, "too many arguments");
	return 0;
}

static int open_store(struct ctl *ctl)
{
	int err = store_open(&ctl->store, ctl->url);

	char shown[256];

	if (err == -EINVAL) {
		say_err("unsupported store URL (expected sqlite:PATH, mysql://USER:PASSWORD@HOST[:PORT]/DATABASE or postgres://...)");
		return EXIT_USAGE;
	}
	if (err) {
		/* Passwords in URLs are masked. */
		say_err("cannot open the store %s: %s", store_url_redact(ctl->url, shown, sizeof(shown)),
			err == -EAGAIN ? "database busy" : strerror(-err));
		return EXIT_STORE;
	}
	store_set_busy_timeout(ctl->store, CTL_BUSY_TIMEOUT_MS);
	return 0;
}

static int copy_path(const char *path, char *out, size_t cap)
{
	size_t n = strlen(path);

	if (n >= cap) {
		say_err("control socket path too long");
		return EXIT_USAGE;
	}
	memcpy(out, path, n + 1);
	return 0;
}

/* The control socket to use: --socket, else the config file's setting, else
 * the one derived from the database URL. 0 or an exit code. */
static int socket_path(const char *given, const struct sw_config *cfg, const char *url, char *out, size_t cap)
{
	if (given)
		return copy_path(given, out, cap);
	if (cfg && strcmp(cfg->control_socket, "none") == 0) {
		say_err("the configuration disables the control socket ([server] control_socket = none)");
		return EXIT_USAGE;
	}
	if (cfg && cfg->control_socket[0])
		return copy_path(cfg->control_socket, out, cap);
	if (config_control_socket_default(url, out, cap)) {
		say_err("the control socket path derived from the database is too long; use --socket");
		return EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct sw_config cfg;
	struct ctl ctl = { .url = getenv("SIPWARDEN_DB") };
	const char *config_path = NULL, *sock = NULL;
	bool url_given = ctl.url && ctl.url[0];
	char shown[64], err[600], path[256];
	bool group_known;
	int i, rc;

	log_set_level(LOG_LVL_ERR);
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			help(stdout);
			return EXIT_OK;
		} else if (strcmp(a, "--db") == 0 && i + 1 < argc) {
			ctl.url = argv[++i];
			url_given = true;
		} else if (strncmp(a, "--db=", 5) == 0) {
			ctl.url = a + 5;
			url_given = true;
		} else if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			config_path = a + 9;
		} else if (strcmp(a, "--socket") == 0 && i + 1 < argc) {
			sock = argv[++i];
		} else if (strncmp(a, "--socket=", 9) == 0) {
			sock = a + 9;
		} else if (strcmp(a, "--db") == 0) {
			return usage_err(NULL, "--db needs a URL");
		} else if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
			return usage_err(NULL, "%s needs a FILE", a);
		} else if (strcmp(a, "--socket") == 0) {
			return usage_err(NULL, "--socket needs a PATH");
		} else {
			return usage_err(NULL, "unknown option '%s'", safe(a, shown, sizeof(shown)));
		}
	}
	if (config_path) {
		config_defaults(&cfg);
		if (config_load_file(&cfg, config_path, err, sizeof(err))) {
			say_err("%s", err);
			return EXIT_USAGE;
		}
		if (!url_given)
			ctl.url = cfg.db_url;
		url_given = true;
	}
	if (!url_given || !ctl.url[0])
		ctl.url = DEFAULT_DB;
	if (i >= argc)
		return usage_err(NULL, "missing COMMAND");
	if (strcmp(argv[i], "help") == 0) {
		help(stdout);
		return EXIT_OK;
	}
	for (size_t k = 0; k < sizeof(daemon_cmds) / sizeof(daemon_cmds[0]); k++) {
		if (strcmp(argv[i], daemon_cmds[k].name) != 0)
			continue;
		if (i + 1 < argc && (strcmp(argv[i + 1], "-h") == 0 || strcmp(argv[i + 1], "--help") == 0)) {
			printf("usage: " PROG " [-c FILE] [--socket PATH] %s\n  %s\n", daemon_cmds[k].name,
			       daemon_cmds[k].help);
			return EXIT_OK;
		}
		if (i + 1 < argc)
			return usage_err(NULL, "'%s' takes no arguments", daemon_cmds[k].name);
		rc = socket_path(sock, config_path ? &cfg : NULL, ctl.url, path, sizeof(path));
		if (rc)
			return rc;
		rc = daemon_query(path, daemon_cmds[k].name);
		if (fflush(stdout) != 0 && rc == EXIT_OK)
			rc = EXIT_DAEMON;
		return rc;
	}
	ctl.cmd = find_cmd(argv[i], i + 1 < argc ? argv[i + 1] : NULL, &group_known);
	if (!ctl.cmd) {
		if (!group_known)
			return usage_err(NULL, "unknown command '%s'", safe(argv[i], shown, sizeof(shown)));
		if (i + 1 >= argc)
			return usage_err(NULL, "'%s' needs a subcommand", argv[i]);
		return usage_err(NULL, "unknown command '%s %s'", argv[i],
				 safe(argv[i + 1], shown, sizeof(shown)));
	}
	argc -= i + 2;
	argv += i + 2;
	rc = parse_cmd_args(&ctl, &argc, argv);
	if (rc == -1) {
		cmd_usage(stdout, ctl.cmd);
		printf("  %s\n", ctl.cmd->help);
		return EXIT_OK;
	}
	if (rc)
		return rc;
	rc = open_store(&ctl);
	if (rc)
		return rc;
	rc = ctl.cmd->fn(&ctl, argc, argv);
	store_close(ctl.store);
	if (rc == EXIT_OK && (ctl.cmd->opts & OPT_CHANGES_USER))
		daemon_notify(sock, config_path ? &cfg : NULL, ctl.url);
	if (fflush(stdout) != 0 && rc == EXIT_OK)
		rc = EXIT_STORE;
	return rc;
}
