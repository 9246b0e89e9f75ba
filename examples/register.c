/* Example: register with the UA library's built-in security handling, which
 * answers the registrar's 401 itself, then unregister.
 * usage: register SERVER AOR PASSWORD [udp|tcp|tls [CA-FILE]]   (exit 0 when both succeed)
 * With tls the server certificate is verified against CA-FILE, or the system
 * store without it. */
#include <stdio.h>
#include <string.h>

#include <sipwarden/ua.h>

int main(int argc, char **argv)
{
	struct sw_ua_cfg cfg = { 0 };
	struct sw_ua_result res;
	struct sw_ua *ua;
	int rc = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: %s SERVER AOR PASSWORD [udp|tcp|tls [CA-FILE]]\n", argv[0]);
		return 1;
	}
	cfg.server = argv[1];
	cfg.aor = argv[2];
	cfg.transport = SW_UA_UDP;
	if (argc > 4 && strcmp(argv[4], "tcp") == 0)
		cfg.transport = SW_UA_TCP;
	else if (argc > 4 && strcmp(argv[4], "tls") == 0)
		cfg.transport = SW_UA_TLS;
	cfg.tls_ca_file = argc > 5 ? argv[5] : NULL;
	cfg.timeout_ms = 5000;
	if (sw_ua_new(&ua, &cfg) != 0) {
		fprintf(stderr, "bad server, AOR or CA file\n");
		return 1;
	}
	/* The digest username is the AOR's user part; NULL realm = any realm. */
	{
		char user[64];

		snprintf(user, sizeof(user), "%.*s", (int)strcspn(argv[2], "@"), argv[2]);
		sw_ua_add_credentials(ua, NULL, user, argv[3]);
	}
	if (sw_ua_register(ua, 300, &res) == 0 && res.cls == SW_UA_OK) {
		printf("registered: %d %s, expires %d\n", res.status, res.reason, res.expires);
		if (sw_ua_unregister(ua, &res) == 0 && res.cls == SW_UA_OK) {
			printf("unregistered: %d %s\n", res.status, res.reason);
			rc = 0;
		}
	}
	if (rc)
		printf("failed: %d %s (%s)\n", res.status, res.reason, sw_ua_class_name(res.cls));
	sw_ua_free(ua);
	return rc;
}
