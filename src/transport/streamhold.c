/* Replies on stream connections (TCP, TLS) leave in one write per read: while
 * the worker dispatches the messages of one read of a connection, the replies
 * made for that connection are appended to a per-worker buffer and written
 * together when the read is done (a client that pipelines requests gets its
 * answers in one segment, or one TLS record, instead of one per request).
 * Nothing waits longer than the dispatch of that read. Order on the
 * connection is kept: any other write to it (a request the proxy sends, a
 * keep-alive pong) first sends what is held. */
#include "transport/tp_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


void tp_stream_hold_begin(struct tp_worker *w, struct tp_conn *c)
{
	w->hold_conn = c;
	w->hold_len = 0;
}

int tp_stream_hold_flush(struct tp_worker *w, struct tp_conn *c)
{
	if (w->hold_conn != c || !w->hold_len)
		return 0;
	size_t len = w->hold_len;
	w->hold_len = 0;
	return c->ops->write(w, c, w->hold_buf, len);
}

int tp_stream_hold_end(struct tp_worker *w, struct tp_conn *c)
{
	int err = tp_stream_hold_flush(w, c);

	w->hold_conn = NULL;
	if (err) {
		/* A peer that does not read its replies is not waited for. */
		tp_conn_close(w, c);
		return -1;
	}
	return 0;
}

void tp_stream_hold_drop(struct tp_worker *w, struct tp_conn *c)
{
	if (w->hold_conn == c) {
		w->hold_conn = NULL;
		w->hold_len = 0;
	}
}

int tp_stream_reply(struct tp_worker *w, struct tp_conn *c, const void *buf, size_t len)
{
	int err;

	if (w->hold_conn == c && !c->handshaking) {
		if (!w->hold_buf)
			w->hold_buf = malloc(SW_STREAM_HOLD_MAX);
		if (w->hold_buf && len <= SW_STREAM_HOLD_MAX - w->hold_len) {
			memcpy(w->hold_buf + w->hold_len, buf, len);
			w->hold_len += len;
			return 0;
		}
	}
	err = tp_stream_hold_flush(w, c);
	if (!err)
		err = c->ops->write(w, c, buf, len);
	if (err) {
		/* A peer that does not read its replies is not waited for. */
		tp_conn_close(w, c);
		return err;
	}
	return 0;
}
