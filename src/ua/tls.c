/* The client side of SIP over TLS (RFC 3261 §26.2, RFC 5630, RFC 5922) for
 * the UA: a context with TLS 1.2 at least, forward-secret AEAD suites, the
 * trusted CAs (a file or the system store) and an optional client
 * certificate; then per connection SNI, the server certificate checked
 * against the expected host name or IP address, a handshake bounded in time,
 * and reads and writes that never raise SIGPIPE. Failures are described in
 * ua->conn_err so that users see why a connection was refused. */
#include "ua/ua_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/util.h"

/* TLS 1.2 suites: ECDHE with AES-GCM or ChaCha20-Poly1305 (Mozilla
 * "intermediate"); TLS 1.3 keeps OpenSSL's defaults, all AEAD. */
#define UA_TLS_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"

static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int readable(const char *path)
{
	return access(path, R_OK) == 0 ? 0 : -errno;
}

int ua_tls_ctx_new(struct sw_ua *ua, const struct sw_ua_cfg *cfg)
{
	SSL_CTX *ctx;
	int err = -EINVAL;

	if (cfg->tls_ca_file && (err = readable(cfg->tls_ca_file)) != 0)
		return err;
	if (cfg->tls_cert_file && (err = readable(cfg->tls_cert_file)) != 0)
		return err;
	if (cfg->tls_key_file && (err = readable(cfg->tls_key_file)) != 0)
		return err;
	if (cfg->tls_key_file && !cfg->tls_cert_file)
		return -EINVAL;
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return -ENOMEM;
	err = -EINVAL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (!SSL_CTX_set_cipher_list(ctx, UA_TLS_CIPHERS))
		goto fail;
	ua->tls_verify = !cfg->tls_insecure;
	if (ua->tls_verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (cfg->tls_ca_file ? !SSL_CTX_load_verify_locations(ctx, cfg->tls_ca_file, NULL)
				     : !SSL_CTX_set_default_verify_paths(ctx))
			goto fail;
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (cfg->tls_cert_file) {
		const char *key = cfg->tls_key_file ? cfg->tls_key_file : cfg->tls_cert_file;

		if (!SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) ||
		    !SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) || !SSL_CTX_check_private_key(ctx))
			goto fail;
	}
	ERR_clear_error();
	ua->tls_ctx = ctx;
	return 0;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return err;
}

void ua_tls_ctx_free(struct sw_ua *ua)
{
	SSL_CTX_free(ua->tls_ctx);
	ua->tls_ctx = NULL;
}

/* The reason of the first queued OpenSSL error ("certificate verify failed",
 * "tlsv13 alert certificate required"), or fallback. Clears the queue. */
static const char *ssl_reason(const char *fallback)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : fallback;
}

/* Wait for what OpenSSL asked for (ssl_err WANT_READ/WANT_WRITE) until
 * deadline_ms. 0 ready, -ETIMEDOUT, -errno. */
static int wait_io(struct sw_ua *ua, int ssl_err, uint64_t deadline_ms)
{
	struct pollfd p = { .fd = ua->fd, .events = ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN };
	uint64_t now = base_mono_ms();
	int r;

	if (now >= deadline_ms)
		return -ETIMEDOUT;
	r = poll(&p, 1, (int)(deadline_ms - now));
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r == 0 ? -ETIMEDOUT : 0;
}

/* Expected identity of the server (RFC 5922 §7.2 via OpenSSL's RFC 6125
 * matching): an IP address against IP SANs, a name against DNS SANs. */
static int set_identity(struct sw_ua *ua)
{
	const char *name = ua->tls_name;
	bool ip = is_ip_literal(name);

	/* RFC 6066 §3: SNI carries host names only, never IP literals. */
	if (!ip && !SSL_set_tlsext_host_name(ua->ssl, name))
		return -EINVAL;
	if (!ua->tls_verify)
		return 0;
	if (ip)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ua->ssl), name) ? 0 : -EINVAL;
	SSL_set_hostflags(ua->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ua->ssl, name) ? 0 : -EINVAL;
}

int ua_tls_connect(struct sw_ua *ua, uint64_t deadline_ms)
{
	int err;

	ua->conn_err[0] = '\0';
	ua->tls_heard = false;
	ERR_clear_error();
	ua->ssl = SSL_new(ua->tls_ctx);
	if (!ua->ssl)
		return -ENOMEM;
	if (!SSL_set_fd(ua->ssl, ua->fd) || set_identity(ua) != 0) {
		snprintf(ua->conn_err, sizeof(ua->conn_err), "TLS set-up failed: %s",
			 ssl_reason("bad server name"));
		return -EINVAL;
	}
	for (;;) {
		int r, e;

		ERR_clear_error();
		r = SSL_connect(ua->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(ua->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			err = wait_io(ua, e, deadline_ms);
			if (err == -ETIMEDOUT) {
				snprintf(ua->conn_err, sizeof(ua->conn_err), "TLS handshake timed out");
				return err;
			}
			if (err)
				return err;
			continue;
		}
		if (ua->tls_verify && SSL_get_verify_result(ua->ssl) != X509_V_OK) {
			long v = SSL_get_verify_result(ua->ssl);

			ERR_clear_error();
			snprintf(ua->conn_err, sizeof(ua->conn_err), "TLS: server certificate not accepted: %s",
				 X509_verify_cert_error_string(v));
			return -EPERM;
		}
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
			err = errno ? -errno : -ECONNRESET;
			snprintf(ua->conn_err, sizeof(ua->conn_err), "TLS handshake failed: %s",
				 errno ? strerror(errno) : "connection closed by the server");
			return err;
		}
		snprintf(ua->conn_err, sizeof(ua->conn_err), "TLS handshake failed: %s",
			 ssl_reason("protocol error"));
		return -EPROTO;
	}
}

void ua_tls_close(struct sw_ua *ua)
{
	if (!ua->ssl)
		return;
	/* One close_notify, not waiting for the peer's (RFC 8446 §6.1 allows it). */
	if (SSL_is_init_finished(ua->ssl)) {
		sigset_t set, old;

		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &set, &old);
		(void)SSL_shutdown(ua->ssl);
		if (!sigismember(&old, SIGPIPE)) {
			struct timespec zero = { 0, 0 };

			while (sigtimedwait(&set, NULL, &zero) > 0) {
			}
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	SSL_free(ua->ssl);
	ua->ssl = NULL;
	ERR_clear_error();
}

/* Failure of an SSL_read/SSL_write that is not a want-more: -errno with conn_err. */
static int io_failure(struct sw_ua *ua, int e)
{
	if ((e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) && ERR_peek_error() == 0) {
		int err = e == SSL_ERROR_SYSCALL && errno && errno != EPIPE ? -errno : -ECONNRESET;

		/* With TLS 1.3 the server judges our certificate after the client's
		 * handshake is over; a server that refuses it often resets the
		 * connection before its alert can be read. */
		if (!ua->tls_heard)
			snprintf(ua->conn_err, sizeof(ua->conn_err),
				 "TLS: the server closed the connection before answering (%s; "
				 "client certificate refused or required?)",
				 err == -ECONNRESET && e == SSL_ERROR_ZERO_RETURN ? "close_notify" : strerror(-err));
		return err;
	}
	/* After the handshake this is mostly an alert from the server, e.g. a
	 * refused client certificate, which TLS 1.3 reports only now. */
	snprintf(ua->conn_err, sizeof(ua->conn_err), "TLS: connection ended by the server: %s",
		 ssl_reason("protocol error"));
	return -EPROTO;
}

int ua_tls_send(struct sw_ua *ua, const char *buf, size_t len)
{
	uint64_t deadline = base_mono_ms() + ua->timeout_ms;
	sigset_t set, old;
	bool had_pipe;
	int rc = 0;

	if (len == 0)
		return 0;
	/* OpenSSL writes with write(2): keep a closed peer from killing the
	 * process with SIGPIPE, and swallow the signal if one was raised here. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	{
		sigset_t pend;

		sigpending(&pend);
		had_pipe = sigismember(&pend, SIGPIPE);
	}
	for (;;) {
		int r, e;

		ERR_clear_error();
		r = SSL_write(ua->ssl, buf, (int)len);
		if (r > 0)
			break;
		e = SSL_get_error(ua->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			rc = wait_io(ua, e, deadline);
			if (rc)
				break;
			continue;
		}
		rc = io_failure(ua, e);
		break;
	}
	if (!had_pipe && !sigismember(&old, SIGPIPE)) {
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&set, NULL, &zero) > 0) {
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

long ua_tls_recv(struct sw_ua *ua, char *buf, size_t cap)
{
	int r, e;

	if (cap == 0)
		return 0;
	ERR_clear_error();
	r = SSL_read(ua->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
	if (r > 0) {
		ua->tls_heard = true;
		return r;
	}
	e = SSL_get_error(ua->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	return io_failure(ua, e);
}

bool ua_tls_pending(const struct sw_ua *ua)
{
	return ua->ssl && SSL_pending(ua->ssl) > 0;
}

int sw_ua_tls_info(const struct sw_ua *ua, char *out, size_t cap)
{
	int n;

	if (!ua || !out)
		return -EINVAL;
	if (!ua->ssl || !SSL_is_init_finished(ua->ssl))
		return -ENOTCONN;
	n = snprintf(out, cap, "%s %s, server certificate %s", SSL_get_version(ua->ssl),
		     SSL_get_cipher_name(ua->ssl), ua->tls_verify ? "verified" : "NOT verified");
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}
