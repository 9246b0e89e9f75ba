/* Example: the application handles authentication itself. Built-in security
 * handling is turned off; the 401/407 arrives as a challenge event, the
 * application builds its own Authorization / Proxy-Authorization header with
 * sw_ua_build_authorization() and re-registers with it attached.
 * usage: app_auth SERVER AOR PASSWORD [udp|tcp]   (exit 0 on 200 OK) */
#include <stdio.h>
#include <string.h>

#include <sipwarden/ua.h>

struct app {
	struct sw_ua_challenge chs[SW_UA_MAX_CHALLENGES];
	unsigned n;
};

/* The challenge event: keep a copy; a real application might ask a token
 * service or a user here. */
static void on_challenge(struct sw_ua *ua, const struct sw_ua_challenge *chs, unsigned n, void *arg)
{
	struct app *app = arg;

	(void)ua;
	app->n = n;
	memcpy(app->chs, chs, n * sizeof(*chs));
	for (unsigned i = 0; i < n; i++)
		printf("challenge: %s realm=\"%s\" algorithm=%s qop=\"%s\" stale=%s\n",
		       chs[i].proxy ? "Proxy-Authenticate" : "WWW-Authenticate", chs[i].realm, chs[i].algorithm,
		       chs[i].qop, chs[i].stale ? "true" : "false");
}

int main(int argc, char **argv)
{
	struct sw_ua_cfg cfg = { 0 };
	struct sw_ua_result res;
	struct app app = { .n = 0 };
	char user[64], headers[4096] = "", value[2048];
	struct sw_ua *ua;
	int rc = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: %s SERVER AOR PASSWORD [udp|tcp]\n", argv[0]);
		return 1;
	}
	cfg.server = argv[1];
	cfg.aor = argv[2];
	cfg.transport = argc > 4 && strcmp(argv[4], "tcp") == 0 ? SW_UA_TCP : SW_UA_UDP;
	cfg.timeout_ms = 5000;
	if (sw_ua_new(&ua, &cfg) != 0)
		return 1;
	snprintf(user, sizeof(user), "%.*s", (int)strcspn(argv[2], "@"), argv[2]);

	sw_ua_set_security_handling(ua, false);
	printf("security handling: %s\n", sw_ua_security_handling(ua) ? "built-in" : "application");
	sw_ua_set_challenge_handler(ua, on_challenge, &app);

	if (sw_ua_register(ua, 300, &res) != 0)
		goto out;
	printf("first attempt: %d %s\n", res.status, res.reason);
	if (res.cls == SW_UA_OK) {
		rc = 0; /* no authentication asked */
		goto out;
	}
	if (res.cls != SW_UA_AUTH_FAILED || app.n == 0)
		goto out;

	/* Answer every challenge (one per realm and header kind would do; the
	 * registrar here sends one), then re-register with the headers attached. */
	for (unsigned i = 0; i < app.n; i++) {
		struct sw_ua_auth_input in = { .user = user, .password = argv[3] };
		size_t used = strlen(headers);

		if (sw_ua_build_authorization(value, sizeof(value), &app.chs[i], &in) < 0) {
			printf("cannot answer challenge for realm %s\n", app.chs[i].realm);
			goto out;
		}
		snprintf(headers + used, sizeof(headers) - used, "%s: %s\r\n",
			 sw_ua_auth_header_name(&app.chs[i]), value);
	}
	if (sw_ua_register_ex(ua, 300, headers, &res) != 0)
		goto out;
	printf("second attempt: %d %s\n", res.status, res.reason);
	rc = res.cls == SW_UA_OK ? 0 : 2;
out:
	sw_ua_free(ua);
	return rc;
}
