/* The UA handle: construction from sw_ua_cfg, settings, and the non-blocking
 * loop surface (sw_ua_fd, sw_ua_timeout_ms, sw_ua_process) that dispatches
 * received messages and fires transaction and refresh timers. */
#include "ua/ua_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

/* "sips:" or "sip:" in front of a URI: 2 (sips), 1 (sip), 0 (none); *s moves past it. */
static int skip_scheme(const char **s)
{
	if (strncasecmp(*s, "sips:", 5) == 0) {
		*s += 5;
		return 2;
	}
	if (strncasecmp(*s, "sip:", 4) == 0) {
		*s += 4;
		return 1;
	}
	return 0;
}

/* "host", "host:port", "[v6]", "[v6]:port", optionally after "sip:"/"sips:"
 * -> host without brackets and port (0 = the transport's default). */
static int parse_server(struct sw_ua *ua, const char *s)
{
	const char *colon;
	size_t hl;
	unsigned long port = 0;

	if (!s)
		return -EINVAL;
	if (skip_scheme(&s) == 2)
		ua->sips = true;
	if (!s[0])
		return -EINVAL;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end)
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		s++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return -EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			colon = NULL; /* bare IPv6 address without a port */
		hl = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (colon) {
		char *end;

		port = strtoul(colon + 1, &end, 10);
		if (*end || port == 0 || port > 65535)
			return -EINVAL;
	}
	if (hl == 0 || hl >= sizeof(ua->server_host))
		return -EINVAL;
	memcpy(ua->server_host, s, hl);
	ua->server_host[hl] = '\0';
	ua->server_port = (uint16_t)port;
	return 0;
}

static int parse_aor(struct sw_ua *ua, const char *aor)
{
	const char *at;

	if (!aor)
		return -EINVAL;
	if (skip_scheme(&aor) == 2)
		ua->sips = true;
	at = strchr(aor, '@');
	if (!at || at == aor || !at[1] || (size_t)(at - aor) >= sizeof(ua->user) ||
	    strlen(at + 1) >= sizeof(ua->domain) || strpbrk(aor, " \t\r\n<>\";"))
		return -EINVAL;
	memcpy(ua->user, aor, (size_t)(at - aor));
	ua->user[at - aor] = '\0';
	strcpy(ua->domain, at + 1);
	return 0;
}

int sw_ua_new(struct sw_ua **out, const struct sw_ua_cfg *cfg)
{
	struct sw_ua *ua;

	if (!out || !cfg)
		return -EINVAL;
	*out = NULL;
	if (cfg->transport != SW_UA_UDP && cfg->transport != SW_UA_TCP && cfg->transport != SW_UA_TLS)
		return -EINVAL;
	ua = calloc(1, sizeof(*ua));
	if (!ua)
		return -ENOMEM;
	ua->fd = -1;
	ua->security = true;
	ua->transport = cfg->transport;
	ua->t1_ms = cfg->t1_ms ? cfg->t1_ms : 500;
	ua->t2_ms = cfg->t2_ms ? cfg->t2_ms : 4000;
	ua->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 64 * ua->t1_ms;
	ua->trace = cfg->trace;
	ua->trace_arg = cfg->trace_arg;
	if (parse_server(ua, cfg->server) || parse_aor(ua, cfg->aor) ||
	    ua_copy(ua->display, sizeof(ua->display), cfg->display_name) ||
	    ua_copy(ua->user_agent, sizeof(ua->user_agent), cfg->user_agent ? cfg->user_agent : "sipwarden-ua") ||
	    strpbrk(ua->display, "\"\\\r\n") || strpbrk(ua->user_agent, "\r\n")) {
		free(ua);
		return -EINVAL;
	}
	if (ua->sips)
		ua->transport = SW_UA_TLS; /* RFC 3261 §26.2.2: sips: means TLS on every hop */
	if (!ua->server_port)
		ua->server_port = ua->transport == SW_UA_TLS ? 5061 : 5060;
	if (ua->transport == SW_UA_TLS) {
		int err = ua_copy(ua->tls_name, sizeof(ua->tls_name),
				  cfg->tls_server_name ? cfg->tls_server_name : ua->server_host);

		if (!err && !ua->tls_name[0])
			err = -EINVAL;
		if (!err)
			err = ua_tls_ctx_new(ua, cfg);
		if (err) {
			free(ua);
			return err;
		}
	}
	ua_rand_hex(ua->reg.d.call_id, 16);
	ua_rand_hex(ua->reg.d.local_tag, 8);
	*out = ua;
	return 0;
}

void sw_ua_free(struct sw_ua *ua)
{
	if (!ua)
		return;
	ua_conn_close(ua);
	ua_tls_ctx_free(ua);
	free(ua->op.target);
	free(ua->op.extra);
	free(ua->op.body);
	free(ua->op.ctype);
	base_wipe(ua->creds, sizeof(ua->creds));
	base_wipe(ua->tmp, sizeof(ua->tmp));
	free(ua);
}

void sw_ua_set_security_handling(struct sw_ua *ua, bool enabled)
{
	if (ua)
		ua->security = enabled;
}

bool sw_ua_security_handling(const struct sw_ua *ua)
{
	return ua && ua->security;
}

void sw_ua_set_challenge_handler(struct sw_ua *ua, sw_ua_challenge_fn fn, void *arg)
{
	if (ua) {
		ua->on_chal = fn;
		ua->chal_arg = arg;
	}
}

void sw_ua_set_refresh_handler(struct sw_ua *ua, sw_ua_done_fn fn, void *arg)
{
	if (ua) {
		ua->on_refresh = fn;
		ua->refresh_arg = arg;
	}
}

int sw_ua_fd(const struct sw_ua *ua)
{
	return ua ? ua->fd : -1;
}

bool sw_ua_busy(const struct sw_ua *ua)
{
	return ua && ua->op.kind != UA_OP_NONE;
}

int sw_ua_timeout_ms(const struct sw_ua *ua)
{
	uint64_t now = base_mono_ms();
	int t;

	if (!ua)
		return -1;
	if (ua->op.finished || ua_tls_pending(ua))
		return 0;
	t = ua_txn_next_ms(ua, now);
	if (ua->reg.refresh_ms && ua->op.kind == UA_OP_NONE) {
		int r = ua->reg.refresh_ms <= now ? 0 : (int)(ua->reg.refresh_ms - now);

		if (t < 0 || r < t)
			t = r;
	}
	return t;
}

static void dispatch(struct sw_ua *ua, char *buf, size_t len)
{
	struct sip_parse_err perr;

	ua_trace(ua, false, buf, len);
	if (sip_msg_parse(&ua->msg, buf, len, &perr) != 0)
		return; /* garbage from the server is dropped, as a transaction would */
	if (ua->msg.is_request)
		ua_incoming_request(ua, &ua->msg);
	else
		ua_op_response(ua, &ua->msg);
}

int sw_ua_process(struct sw_ua *ua)
{
	uint64_t now;
	int rc = 0;

	if (!ua)
		return -EINVAL;
	for (;;) {
		char *buf;
		size_t len;
		int r = ua_conn_recv(ua, &buf, &len);

		if (r == 0)
			break;
		if (r < 0) {
			/* The connection is gone (ICMP refusal on UDP, reset or close on
			 * TCP): whatever was in flight cannot complete. */
			ua_conn_close(ua);
			if (ua->op.kind != UA_OP_NONE && !ua->op.finished) {
				char why[sizeof(ua->conn_err) + 32];

				ua_conn_why(ua, r, why, sizeof(why));
				ua_op_fail(ua, SW_UA_TRANSPORT, why);
			}
			rc = r;
			break;
		}
		dispatch(ua, buf, len);
	}
	now = base_mono_ms();
	if (ua->op.kind != UA_OP_NONE && !ua->op.finished && ua_txn_timers(ua, now))
		ua_op_fail(ua, SW_UA_TIMEOUT, "timeout (no final response)");
	ua_op_deliver(ua);
	if (ua->op.kind == UA_OP_NONE && ua->reg.refresh_ms && now >= ua->reg.refresh_ms) {
		int err = sw_ua_register_start(ua, ua->reg.expires, NULL, NULL, NULL);

		if (err == 0)
			ua->op.refresh = true;
		else
			ua->reg.refresh_ms = now + 1000;
		ua_op_deliver(ua);
	}
	return rc == -ECONNREFUSED || rc == -ECONNRESET ? 0 : rc;
}
