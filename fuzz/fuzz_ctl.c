/* libFuzzer harness for the control-socket protocol (app/ctlproto.c): the
 * input is what a client sends. It is parsed whole and prefix by prefix, as
 * the control thread sees it arrive, checking that a decision once taken
 * never goes back to "more" and that errors are single lines; then the input
 * is used as a client-certificate identity in a connection line, which must
 * stay one bounded, printable line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(enum ctlproto_rc rc, const struct ctlproto_req *req, const char *buf, size_t len)
{
	if (rc == CTLPROTO_BAD && (!req->error || strchr(req->error, '\n')))
		abort();
	if (rc == CTLPROTO_REQ) {
		/* a request is one whole line within the limit, ending the input */
		if (len > SW_CTL_MAX_LINE || len == 0 || buf[len - 1] != '\n' || memchr(buf, '\n', len - 1))
			abort();
		if (strcmp(ctlproto_verb_name(req->verb), "?") == 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1);
	struct ctlproto_req req;
	enum ctlproto_rc first = CTLPROTO_MORE;

	if (!buf)
		return 0;
	if (size)
		memcpy(buf, data, size);
	/* Prefixes, as reads would deliver them (bounded: the server stops at
	 * SW_CTL_MAX_LINE bytes anyway). */
	size_t upto = size < 2 * SW_CTL_MAX_LINE ? size : 2 * SW_CTL_MAX_LINE;
	for (size_t i = 0; i <= upto; i++) {
		enum ctlproto_rc rc = ctlproto_parse(buf, i, &req);
		check(rc, &req, buf, i);
		if (first != CTLPROTO_MORE && rc != CTLPROTO_BAD)
			abort(); /* after a decision, more bytes can only make it wrong */
		if (first == CTLPROTO_MORE)
			first = rc;
	}
	check(ctlproto_parse(buf, size, &req), &req, buf, size);

	/* The input as an identity (and peer address) in a reply line. */
	struct tp_conn_info ci = { .proto = TP_TLS, .worker = 1, .peer_port = 5061, .buffered = size };
	snprintf(ci.listen, sizeof(ci.listen), "tls:127.0.0.1:5061");
	size_t n = size < sizeof(ci.peer_identity) - 1 ? size : sizeof(ci.peer_identity) - 1;
	memcpy(ci.peer_identity, buf, n);
	ci.peer_identity[n] = '\0';
	snprintf(ci.peer_ip, sizeof(ci.peer_ip), "%s", size && (data[0] & 1) ? "::1" : "127.0.0.1");
	size_t cap = size ? 2 + data[size - 1] * 2 : 512;
	char *out = malloc(cap);
	if (out) {
		size_t len = ctlproto_conn_line(out, cap, &ci);
		if (len >= cap || len == 0 || out[len] != '\0' || out[len - 1] != '\n' || strlen(out) != len)
			abort();
		for (size_t i = 0; i + 1 < len; i++)
			if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
				abort();
		free(out);
	}
	free(buf);
	return 0;
}
