/* Strict parser for control-socket request lines and formatting of the reply
 * lines (see ctlproto.h). Pure functions on buffers: no I/O, no allocation,
 * so the parser can be fuzzed on its own. */
#include "app/ctlproto.h"

#include <stdio.h>
#include <string.h>

static const char *const verb_names[] = {
	[CTL_VERB_CONNECTIONS] = "connections",
	[CTL_VERB_STATUS] = "status",
	[CTL_VERB_HELP] = "help",
	[CTL_VERB_CACHE_FLUSH] = "cache-flush",
};
#define NVERBS (sizeof(verb_names) / sizeof(verb_names[0]))

const char *ctlproto_verb_name(enum ctl_verb v)
{
	return (unsigned)v < NVERBS ? verb_names[v] : "?";
}

const char *ctlproto_help(void)
{
	return "connections  one line per TCP/TLS connection\n"
	       "status       uptime, workers, connections, registrations, version\n"
	       "cache-flush  drop the cached credentials of every worker\n"
	       "help         this list\n";
}

static enum ctlproto_rc bad(struct ctlproto_req *req, const char *why)
{
	req->error = why;
	return CTLPROTO_BAD;
}

enum ctlproto_rc ctlproto_parse(const char *buf, size_t len, struct ctlproto_req *req)
{
	size_t scan = len < SW_CTL_MAX_LINE ? len : SW_CTL_MAX_LINE;
	size_t end = scan; /* index of '\n' */

	req->error = NULL;
	for (size_t i = 0; i < scan; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch == '\n') {
			end = i;
			break;
		}
		if (ch == '\r' && i + 1 < len && buf[i + 1] == '\n')
			continue;
		if (ch == '\r' && i + 1 == len)
			continue; /* the "\n" may be in the next read */
		if (ch < 0x20 || ch > 0x7e)
			return bad(req, "request contains a control or non-ASCII byte");
	}
	if (end == scan)
		return len >= SW_CTL_MAX_LINE ? bad(req, "request line too long") : CTLPROTO_MORE;
	if (end + 1 < len)
		return bad(req, "one request line per connection");
	size_t llen = end;
	if (llen && buf[llen - 1] == '\r')
		llen--;
	if (llen == 0)
		return bad(req, "empty request");
	if (buf[0] == ' ' || buf[llen - 1] == ' ')
		return bad(req, "malformed request line (stray spaces)");
	size_t vlen = 0;
	while (vlen < llen && buf[vlen] != ' ')
		vlen++;
	for (size_t i = 0; i < NVERBS; i++) {
		if (strlen(verb_names[i]) == vlen && memcmp(verb_names[i], buf, vlen) == 0) {
			if (vlen != llen)
				return bad(req, "this verb takes no arguments");
			req->verb = (enum ctl_verb)i;
			return CTLPROTO_REQ;
		}
	}
	return bad(req, "unknown verb (try help)");
}

/* Append identity with %XX escapes for what would break a key=value line. */
static size_t put_escaped(char *out, size_t cap, size_t pos, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		bool plain = ch > 0x20 && ch < 0x7f && ch != '%';
		size_t need = plain ? 1 : 3;
		if (pos + need >= cap)
			break;
		if (plain) {
			out[pos++] = (char)ch;
		} else {
			out[pos++] = '%';
			out[pos++] = hex[ch >> 4];
			out[pos++] = hex[ch & 15];
		}
	}
	out[pos] = '\0';
	return pos;
}

static size_t clamp(int n, size_t cap)
{
	if (n < 0)
		return 0;
	return (size_t)n >= cap ? cap - 1 : (size_t)n;
}

size_t ctlproto_conn_line(char *out, size_t cap, const struct tp_conn_info *ci)
{
	const char *tls = "-";
	bool v6 = strchr(ci->peer_ip, ':') != NULL;
	size_t pos;

	if (ci->proto == TP_TLS)
		tls = ci->handshaking ? "handshake" : ci->tls_version[0] ? ci->tls_version : "established";
	pos = clamp(snprintf(out, cap, "proto=%s listen=%s peer=%s%s%s:%u age=%llu idle=%llu buffered=%zu tls=%s identity=",
			     tp_proto_name(ci->proto), ci->listen, v6 ? "[" : "", ci->peer_ip, v6 ? "]" : "",
			     ci->peer_port, (unsigned long long)(ci->age_ms / 1000),
			     (unsigned long long)(ci->idle_ms / 1000), ci->buffered, tls),
		    cap);
	if (ci->peer_identity[0])
		pos = put_escaped(out, cap, pos, ci->peer_identity);
	else
		pos += clamp(snprintf(out + pos, cap - pos, "-"), cap - pos);
	pos += clamp(snprintf(out + pos, cap - pos, " worker=%u\n", ci->worker), cap - pos);
	if (pos == 0) {
		out[0] = '\n';
		out[1] = '\0';
		return 1;
	}
	if (out[pos - 1] != '\n') {
		out[pos - 1] = '\n';
		out[pos] = '\0';
	}
	return pos;
}
