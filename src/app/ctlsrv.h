/* The daemon's control socket: a Unix stream socket (mode 0600) answered by a
 * thread of its own, never by the SIP workers, one client at a time with a
 * deadline per client (protocol in ctlproto.h). */
#ifndef SW_CTLSRV_H
#define SW_CTLSRV_H

#include "registrar/registrar.h"
#include "transport/tp.h"

struct ctlsrv;

/* Create and bind the socket at path (before any thread starts: the file is
 * created under umask 077). A stale socket file nobody answers on is
 * replaced; a live one (another daemon) or a file that is not a socket is
 * refused. 0 or -errno after logging why. */
int ctlsrv_open(struct ctlsrv **out, const char *path);
/* Start answering; srv and reg (may be NULL) must outlive ctlsrv_close. */
int ctlsrv_start(struct ctlsrv *cs, struct tp_server *srv, struct registrar *reg);
/* Stop the thread, close the socket and remove its file (only if it is still
 * the one created here); NULL-safe. */
void ctlsrv_close(struct ctlsrv *cs);

#endif
