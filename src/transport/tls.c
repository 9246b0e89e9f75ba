/* TLS streams (RFC 3261 §26.2, RFC 5630) with OpenSSL on top of the TCP
 * connection machinery: server contexts (TLS 1.2 minimum, forward-secret AEAD
 * ciphers, optional or required client certificates, one certificate per SNI
 * name), a client context for outbound connections (same versions and
 * ciphers, the server certificate checked against ca_file or the system
 * store, SNI), a non-blocking handshake driven by the worker's epoll loop,
 * and the read/write ops of a TLS connection. Records are read through a
 * small BIO over tp_conn_recv so that a TLS message carries the kernel
 * receive time of its bytes like a TCP one. Never logs key material. */
#include "transport/tp_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/log.h"

/* TLS 1.2 suites: ECDHE/DHE key exchange with AES-GCM or ChaCha20-Poly1305
 * only (the BSI TR-02102-2 / Mozilla "intermediate" set). TLS 1.3 keeps
 * OpenSSL's defaults, all of which are AEAD. */
#define TLS_DEFAULT_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"

struct tls_sni_ctx {
	char name[SW_MAX_DOMAIN + 1];
	SSL_CTX *ctx;
};

struct tp_tls {
	SSL_CTX *def;
	SSL_CTX *client;                /**< outbound connections */
	bool verify_server;
	struct tls_sni_ctx sni[SW_MAX_TLS_SNI];
	unsigned nsni;
};

static void log_ssl_error(const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	ERR_error_string_n(e, buf, sizeof(buf));
	LOG_ERR("TLS: %s%s%s: %s", what, path ? " " : "", path ? path : "", e ? buf : "unknown error");
	ERR_clear_error();
}

/* RFC 6066 §3: pick the certificate of the name the client asks for; an
 * unknown name keeps the default certificate rather than failing. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct tp_tls *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (!name)
		return SSL_TLSEXT_ERR_NOACK;
	for (unsigned i = 0; i < t->nsni; i++) {
		if (strcasecmp(name, t->sni[i].name) == 0) {
			SSL_set_SSL_CTX(ssl, t->sni[i].ctx);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *make_ctx(const struct tp_tls_cfg *cfg, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int vmin = cfg->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;

	if (!ctx) {
		log_ssl_error("cannot create a context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, vmin);
	/* No compression (CRIME), no renegotiation (a cheap CPU drain). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (!SSL_CTX_set_cipher_list(ctx, cfg->ciphers[0] ? cfg->ciphers : TLS_DEFAULT_CIPHERS)) {
		log_ssl_error("no usable cipher in [tls] ciphers", NULL);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		log_ssl_error("cannot load certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		log_ssl_error("cannot load private key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		log_ssl_error("private key does not match certificate", cert);
		goto fail;
	}
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sipwarden", 9);
	if (cfg->ca_file[0]) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1) {
			log_ssl_error("cannot load CA file", cfg->ca_file);
			goto fail;
		}
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		ERR_clear_error();
	}
	switch (cfg->verify) {
	case TP_VERIFY_NONE:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		break;
	case TP_VERIFY_OPTIONAL:
		/* A client may send no certificate; one it sends must verify. */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		break;
	case TP_VERIFY_REQUIRE:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		break;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* RFC 5922 §7.2 / RFC 6125: the server must prove the name or address we
 * connect to; our own certificate is offered for mutual authentication. */
static SSL_CTX *make_client_ctx(const struct tp_tls_cfg *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int vmin = cfg->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;

	if (!ctx) {
		log_ssl_error("cannot create a client context", NULL);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, vmin);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (!SSL_CTX_set_cipher_list(ctx, cfg->ciphers[0] ? cfg->ciphers : TLS_DEFAULT_CIPHERS)) {
		log_ssl_error("no usable cipher in [tls] ciphers", NULL);
		goto fail;
	}
	if (cfg->cert[0] && cfg->key[0] &&
	    (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(ctx, cfg->key, SSL_FILETYPE_PEM) != 1)) {
		log_ssl_error("cannot load certificate for outbound connections", cfg->cert);
		goto fail;
	}
	if (cfg->verify_server) {
		int ok = cfg->ca_file[0] ? SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL)
					 : SSL_CTX_set_default_verify_paths(ctx);
		if (ok != 1) {
			log_ssl_error("cannot load CAs for server certificates", cfg->ca_file[0] ? cfg->ca_file : NULL);
			goto fail;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void tp_tls_free(void *tls)
{
	struct tp_tls *t = tls;

	if (!t)
		return;
	for (unsigned i = 0; i < t->nsni; i++)
		SSL_CTX_free(t->sni[i].ctx);
	SSL_CTX_free(t->def);
	SSL_CTX_free(t->client);
	free(t);
}

int tp_tls_new(void **out, const struct tp_tls_cfg *cfg)
{
	struct tp_tls *t;

	if (!cfg || !cfg->cert[0] || !cfg->key[0]) {
		LOG_ERR("TLS: a tls: listen address needs [tls] certificate and private_key");
		return -EINVAL;
	}
	if (cfg->verify != TP_VERIFY_NONE && !cfg->ca_file[0]) {
		LOG_ERR("TLS: verify_client needs [tls] ca_file");
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->def = make_ctx(cfg, cfg->cert, cfg->key);
	if (!t->def)
		goto fail;
	t->client = make_client_ctx(cfg);
	if (!t->client)
		goto fail;
	t->verify_server = cfg->verify_server;
	for (unsigned i = 0; i < cfg->nsni && i < SW_MAX_TLS_SNI; i++) {
		SSL_CTX *c = make_ctx(cfg, cfg->sni[i].cert, cfg->sni[i].key);
		if (!c)
			goto fail;
		snprintf(t->sni[i].name, sizeof(t->sni[i].name), "%s", cfg->sni[i].name);
		t->sni[i].ctx = c;
		t->nsni++;
	}
	if (t->nsni) {
		SSL_CTX_set_tlsext_servername_callback(t->def, on_servername);
		SSL_CTX_set_tlsext_servername_arg(t->def, t);
	}
	*out = t;
	return 0;
fail:
	tp_tls_free(t);
	return -EINVAL;
}

/* Copy an ASN.1 string if it fits and is printable ASCII; else leave dst "". */
static void copy_ident(char *dst, size_t cap, const unsigned char *p, int len)
{
	if (len <= 0 || (size_t)len >= cap)
		return;
	for (int i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return;
	memcpy(dst, p, (size_t)len);
	dst[len] = '\0';
}

/* Identity of a verified client certificate: the first SAN URI, else the
 * first SAN DNS name, else the subject CN (RFC 5922 §7.1 order). */
static void peer_identity(SSL *ssl, char *out, size_t cap)
{
	X509 *x = SSL_get0_peer_certificate(ssl);

	out[0] = '\0';
	if (!x || SSL_get_verify_result(ssl) != X509_V_OK)
		return;
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (int pass = 0; gens && pass < 2 && !out[0]; pass++) {
		int want = pass == 0 ? GEN_URI : GEN_DNS;
		for (int i = 0; i < sk_GENERAL_NAME_num(gens) && !out[0]; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
			if (g->type == want)
				copy_ident(out, cap, ASN1_STRING_get0_data(g->d.ia5), ASN1_STRING_length(g->d.ia5));
		}
	}
	GENERAL_NAMES_free(gens);
	if (out[0])
		return;
	X509_NAME *subj = X509_get_subject_name(x);
	int idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	if (idx >= 0) {
		ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
		copy_ident(out, cap, ASN1_STRING_get0_data(cn), ASN1_STRING_length(cn));
	}
}

/* The read side of a connection's SSL: the socket read through tp_conn_recv,
 * which keeps c->rx_ns. OpenSSL without read-ahead asks for exactly a
 * record's header, then its body, so the read that completes a record
 * reports a time no earlier than the record's last byte, and SSL_read hands
 * over that record's plaintext: the same lower bound as on TCP (tcp.c). Writes
 * keep OpenSSL's socket BIO. The method is shared by all connections and
 * lives as long as the process. */
static BIO_METHOD *rbio_method;
static pthread_once_t rbio_once = PTHREAD_ONCE_INIT;

static int rbio_read(BIO *b, char *out, int len)
{
	struct tp_conn *c = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	ssize_t n = tp_conn_recv(c, out, (size_t)len);
	if (n == -EAGAIN) {
		BIO_set_retry_read(b);
		return -1;
	}
	if (n < 0) {
		errno = (int)-n;
		return -1;
	}
	return (int)n;
}

static long rbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* nothing buffered, nothing else supported */
}

static void rbio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sipwarden stream read");

	if (m && (!BIO_meth_set_read(m, rbio_read) || !BIO_meth_set_ctrl(m, rbio_ctrl))) {
		BIO_meth_free(m);
		m = NULL;
	}
	rbio_method = m;
}

/* Put ssl on c's socket: OpenSSL's socket BIO writes, ours reads. 0 or -ENOMEM. */
static int attach(SSL *ssl, struct tp_conn *c)
{
	pthread_once(&rbio_once, rbio_method_init);
	if (!rbio_method || SSL_set_fd(ssl, c->ev.fd) != 1)
		return -ENOMEM;
	BIO *rb = BIO_new(rbio_method);
	if (!rb)
		return -ENOMEM;
	BIO_set_data(rb, c);
	BIO_set_init(rb, 1);
	SSL_set0_rbio(ssl, rb); /* ssl owns it now */
	return 0;
}

int tp_tls_conn_start(struct tp_worker *w, struct tp_conn *c)
{
	struct tp_tls *t = w->srv->tls;
	SSL *ssl;

	if (!t)
		return -EINVAL;
	ssl = SSL_new(t->def);
	if (!ssl)
		return -ENOMEM;
	if (attach(ssl, c)) {
		SSL_free(ssl);
		ERR_clear_error();
		return -ENOMEM;
	}
	SSL_set_accept_state(ssl);
	c->ssl = ssl;
	c->handshaking = true;
	c->ops = &tp_tls_ops;
	return 0;
}

int tp_tls_client_start(struct tp_worker *w, struct tp_conn *c, const char *name)
{
	struct tp_tls *t = w->srv->tls;
	SSL *ssl;

	if (!t || !t->client)
		return -EAFNOSUPPORT;
	ssl = SSL_new(t->client);
	if (!ssl)
		return -ENOMEM;
	if (attach(ssl, c))
		goto fail;
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	if (name && name[0]) {
		/* RFC 6066 §3: SNI carries host names only, never IP literals. */
		unsigned char lit[16];
		bool is_ip = inet_pton(AF_INET, name, lit) == 1 || inet_pton(AF_INET6, name, lit) == 1;
		if (!is_ip && SSL_set_tlsext_host_name(ssl, name) != 1)
			goto fail;
		/* OpenSSL 3 checks an IP literal given here against the IP SANs. */
		if (t->verify_server && SSL_set1_host(ssl, name) != 1)
			goto fail;
	} else if (t->verify_server) {
		const unsigned char *ip;
		size_t iplen;
		if (c->peer.ss_family == AF_INET6) {
			ip = (const unsigned char *)&((const struct sockaddr_in6 *)&c->peer)->sin6_addr;
			iplen = 16;
		} else {
			ip = (const unsigned char *)&((const struct sockaddr_in *)&c->peer)->sin_addr;
			iplen = 4;
		}
		if (X509_VERIFY_PARAM_set1_ip(param, ip, iplen) != 1)
			goto fail;
	}
	SSL_set_connect_state(ssl);
	c->ssl = ssl;
	c->handshaking = true;
	c->ops = &tp_tls_ops;
	return 0;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return -ENOMEM;
}

/* Map an SSL result to -EAGAIN (re-armed for the direction wanted) or a fault. */
static int want(struct tp_worker *w, struct tp_conn *c, int rc)
{
	int e = SSL_get_error(c->ssl, rc);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		tp_conn_want(w, c, false);
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		tp_conn_want(w, c, true);
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		break;
	}
	if (c->handshaking) {
		unsigned long err = ERR_peek_error();
		char ip[64];
		uint16_t port;
		tp_addr_text(&c->peer, ip, sizeof(ip), &port);
		LOG_INFO("TLS handshake with %s:%u failed: %s", ip, port,
			 err ? ERR_reason_error_string(err) : "connection closed");
	}
	ERR_clear_error();
	return -EPROTO;
}

static ssize_t tls_read(struct tp_worker *w, struct tp_conn *c, void *buf, size_t len)
{
	SSL *ssl = c->ssl;
	int rc;

	ERR_clear_error();
	if (c->handshaking) {
		rc = SSL_do_handshake(ssl);
		if (rc != 1) {
			int r = want(w, c, rc);
			return r == 0 ? -EPROTO : r;
		}
		c->handshaking = false;
		peer_identity(ssl, c->peer_identity, sizeof(c->peer_identity));
		tp_conn_want(w, c, false);
	}
	if (len > INT32_MAX)
		len = INT32_MAX;
	rc = SSL_read(ssl, buf, (int)len);
	if (rc > 0)
		return rc;
	return want(w, c, rc);
}

static int tls_write(struct tp_worker *w, struct tp_conn *c, const void *buf, size_t len)
{
	(void)w;
	if (c->handshaking)
		return -ENOTCONN;
	if (len == 0)
		return 0;
	if (len > INT32_MAX)
		return -EMSGSIZE;
	ERR_clear_error();
	/* Without SSL_MODE_ENABLE_PARTIAL_WRITE this writes all or nothing. */
	int rc = SSL_write(c->ssl, buf, (int)len);
	if (rc > 0)
		return 0;
	int e = SSL_get_error(c->ssl, rc);
	ERR_clear_error();
	return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? -EAGAIN : -EIO;
}

static void tls_fini(struct tp_conn *c)
{
	if (!c->ssl)
		return;
	ERR_clear_error();
	if (!c->handshaking)
		SSL_shutdown(c->ssl); /* best effort close_notify; never waited for */
	SSL_free(c->ssl);
	ERR_clear_error();
	c->ssl = NULL;
}

const struct tp_stream_ops tp_tls_ops = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.fini = tls_fini,
};
