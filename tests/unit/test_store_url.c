/* store_url_redact: the password of a database URL never reaches a log line
 * (userinfo and a password= parameter), everything else is kept, and the
 * output stays NUL-terminated within any buffer size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

static void check(const char *url, const char *want)
{
	char out[256];

	store_url_redact(url, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_masks_passwords(void **state)
{
	(void)state;
	check("postgres://sw:s3cret@db.example.com:5433/sip", "postgres://sw:***@db.example.com:5433/sip");
	check("postgresql://sw:p@ss:word@[::1]/sip?sslmode=require",
	      "postgresql://sw:***@[::1]/sip?sslmode=require");
	check("postgres://sw@127.0.0.1/sip?password=s3cret&sslmode=disable",
	      "postgres://sw@127.0.0.1/sip?password=***&sslmode=disable");
	check("postgres://h/sip?sslmode=disable&PASSWORD=x", "postgres://h/sip?sslmode=disable&PASSWORD=***");
	check("postgres://sw:@h/d", "postgres://sw:***@h/d");
	/* characters libpq (or a MySQL client) may take as part of the password */
	check("postgres://u:pa?ss@h/db", "postgres://u:***@h/db");
	check("postgres://u:pa#ss@h/db", "postgres://u:***@h/db");
	check("mysql://u:pa/ss@h/db", "mysql://u:***@h/db");
	check("postgres://u:50%off@h/db", "postgres://u:***@h/db");
	check("postgres://u@h/db?sslpassword=k3y&x=1", "postgres://u@h/db?sslpassword=***&x=1");
	check("postgres://u@h/db?sslmode=require&SSLPassword=k3y", "postgres://u@h/db?sslmode=require&SSLPassword=***");
}

static void test_keeps_the_rest(void **state)
{
	(void)state;
	check("sqlite:/var/lib/sipwarden/sipwarden.db", "sqlite:/var/lib/sipwarden/sipwarden.db");
	check("postgres://sw@127.0.0.1:5433/sip", "postgres://sw@127.0.0.1:5433/sip");
	/* an '@' after a ':' anywhere: masked generously rather than risk a password */
	check("postgres://127.0.0.1/sip?application_name=a:b@c", "postgres://127.0.0.1/sip?application_name=a:***@c");
	check("postgres://127.0.0.1/sip?application_name=ab@c", "postgres://127.0.0.1/sip?application_name=ab@c");
	check("sqlite:a@b:c", "sqlite:a@b:c");
}

static void test_small_buffers(void **state)
{
	const char *url = "postgres://sw:s3cret@h/db?password=other";

	(void)state;
	for (size_t cap = 1; cap < 64; cap++) {
		char out[64];

		memset(out, 'X', sizeof(out));
		store_url_redact(url, out, cap);
		assert_true(strlen(out) < cap);
		assert_null(strstr(out, "s3c"));
		assert_null(strstr(out, "oth"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_masks_passwords),
		cmocka_unit_test(test_keeps_the_rest),
		cmocka_unit_test(test_small_buffers),
	};

	return cmocka_run_group_tests_name("store_url", tests, NULL, NULL);
}
