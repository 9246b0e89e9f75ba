/* The control socket's text protocol: a client connects, sends one request
 * line ("VERB\n", CRLF accepted), and reads the reply until the daemon closes
 * the connection. The reply starts with "OK\n" followed by the answer's lines,
 * or is the single line "ERR reason\n". This file holds the strict request
 * parser and the formatting of reply lines; ctlsrv.c does the I/O. */
#ifndef SW_CTLPROTO_H
#define SW_CTLPROTO_H

#include <stddef.h>

#include "base/limits.h"
#include "transport/tp.h"

#define SW_VERSION "0.1"

enum ctl_verb { CTL_VERB_CONNECTIONS = 0, CTL_VERB_STATUS, CTL_VERB_HELP, CTL_VERB_CACHE_FLUSH };

enum ctlproto_rc {
	CTLPROTO_MORE = 0, /**< no complete line yet: read more */
	CTLPROTO_REQ,      /**< a valid request: req->verb */
	CTLPROTO_BAD,      /**< refused: req->error says why (one line, no newline) */
};

struct ctlproto_req {
	enum ctl_verb verb;
	const char *error;
};

/* Parse the bytes received so far on a control connection (len of them, no
 * NUL needed). A request is exactly one line of at most SW_CTL_MAX_LINE bytes
 * including its end: printable ASCII, a known lower-case verb, no arguments,
 * no leading, trailing or doubled spaces, nothing after the line. */
enum ctlproto_rc ctlproto_parse(const char *buf, size_t len, struct ctlproto_req *req);

/* Name of a verb and the help text listing them all. */
const char *ctlproto_verb_name(enum ctl_verb v);
const char *ctlproto_help(void);

/* One reply line (ending in "\n") describing a connection, as
 * "proto=tls listen=tls:127.0.0.1:5061 peer=127.0.0.1:40000 age=12 idle=3
 * buffered=0 tls=TLSv1.3 identity=sip:alice@example.com worker=1", ages in
 * whole seconds. Bytes of the identity outside printable ASCII, spaces and
 * '%' are written as %XX. Returns the length written (always < cap, NUL
 * terminated); a line that does not fit is cut and still ends in "\n".
 * cap must be at least 2. */
size_t ctlproto_conn_line(char *out, size_t cap, const struct tp_conn_info *ci);

#endif
