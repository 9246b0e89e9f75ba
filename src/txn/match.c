/* Transaction matching (RFC 3261 §17.1.3 for responses, §17.2.3 for requests)
 * and the per-worker hash tables. A server key is the top Via branch (when it
 * starts with the magic cookie "z9hG4bK"), its sent-by and the method, ACK
 * counting as INVITE; for RFC 2543 peers it is Call-ID, CSeq number, From tag
 * and top Via sent-by instead (§17.2.3's older rules, simplified). */
#include "txn/txn_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/fmt.h"
#include "base/siphash.h"
#include "base/util.h"

/* Entries are found from their struct txn_link. */
_Static_assert(offsetof(struct txn_server, link) == 0, "link first");
_Static_assert(offsetof(struct txn_client, link) == 0, "link first");

static bool has_cookie(struct slice branch)
{
	return branch.len > 7 && memcmp(branch.p, "z9hG4bK", 7) == 0;
}

/* The key is built by hand: this runs for every request and response,
 * and a formatted print costs several times the copying. */
struct keybuf {
	char *p;
	size_t len;
	bool full;
};

static void key_put(struct keybuf *k, const char *s, size_t n)
{
	if (n == 0)
		return; /* an absent part (no From tag): s may be NULL */
	if (k->full || n >= TXN_KEY_MAX - k->len) {
		k->full = true;
		return;
	}
	memcpy(k->p + k->len, s, n);
	k->len += n;
}

static void key_put_uint(struct keybuf *k, unsigned long v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	key_put(k, d + i, sizeof(d) - i);
}

int txn_server_key(const struct sip_msg *req, enum sip_method method, char *key, uint16_t *len)
{
	const struct sip_via *v = &req->via1;
	enum sip_method m = method == SIP_ACK ? SIP_INVITE : method;
	struct keybuf k = { .p = key };

	/* "M|branch|host:port", or for RFC 2543 peers
	 * "M|2543|call-id|cseq|from-tag|host:port" */
	key_put_uint(&k, (unsigned long)m);
	if (has_cookie(v->branch)) {
		key_put(&k, "|", 1);
		key_put(&k, v->branch.p, v->branch.len);
	} else {
		key_put(&k, "|2543|", 6);
		key_put(&k, req->call_id.p, req->call_id.len);
		key_put(&k, "|", 1);
		key_put_uint(&k, req->cseq);
		key_put(&k, "|", 1);
		key_put(&k, req->from.tag.p, req->from.tag.len);
	}
	key_put(&k, "|", 1);
	key_put(&k, v->host.p, v->host.len);
	key_put(&k, ":", 1);
	key_put_uint(&k, v->port);
	if (k.full)
		return -EINVAL;
	/* Retransmissions repeat the Via byte for byte, so no case folding. */
	*len = (uint16_t)k.len;
	return 0;
}

uint64_t txn_key_hash(const struct txn_layer *tl, const char *key, size_t len)
{
	return base_siphash13(tl->hash_key, key, len);
}

struct txn_server *txn_server_find(struct txn_layer *tl, const char *key, uint16_t len)
{
	return txn_server_find_hashed(tl, key, len, txn_key_hash(tl, key, len));
}

struct txn_server *txn_server_find_hashed(struct txn_layer *tl, const char *key, uint16_t len, uint64_t h)
{
	for (struct txn_link *l = txn_chains_first(&tl->servers, h); l; l = l->next) {
		struct txn_server *st = (struct txn_server *)l;
		if (l->hash == h && st->key_len == len && memcmp(st->key, key, len) == 0)
			return st;
	}
	return NULL;
}

void txn_server_link(struct txn_layer *tl, struct txn_server *st)
{
	txn_chains_add(&tl->servers, &st->link);
}

void txn_server_unlink(struct txn_layer *tl, struct txn_server *st)
{
	txn_chains_del(&tl->servers, &st->link);
}

static uint64_t client_hash(struct slice branch, enum sip_method method)
{
	return base_hash_words(branch.p, branch.len) ^ ((uint64_t)method * 0x9e3779b97f4a7c15ull);
}

struct txn_client *txn_client_find(struct txn_layer *tl, struct slice branch, enum sip_method method)
{
	uint64_t h = client_hash(branch, method);
	for (struct txn_link *l = txn_chains_first(&tl->clients, h); l; l = l->next) {
		struct txn_client *ct = (struct txn_client *)l;
		if (l->hash == h && ct->method == method && slice_eq_cstr(branch, ct->branch))
			return ct;
	}
	return NULL;
}

void txn_client_link(struct txn_layer *tl, struct txn_client *ct)
{
	ct->link.hash = client_hash(slice_cstr(ct->branch), ct->method);
	txn_chains_add(&tl->clients, &ct->link);
}

void txn_client_unlink(struct txn_layer *tl, struct txn_client *ct)
{
	txn_chains_del(&tl->clients, &ct->link);
}

void txn_branch_make(struct txn_layer *tl, char *out, size_t cap)
{
	uint32_t rnd = 0;
	if (tl->counter == 0 && base_random(&rnd, sizeof(rnd)) == 0)
		tl->counter = (uint64_t)rnd << 24;
	tl->counter++;
	/* TXN_BRANCH_PREFIX, the worker in decimal, 'x', the counter in hex
	 * (cut to cap - 1 bytes, as snprintf would). */
	char b[sizeof(TXN_BRANCH_PREFIX) + 2 * FMT_U64_MAX];
	size_t n = sizeof(TXN_BRANCH_PREFIX) - 1;
	memcpy(b, TXN_BRANCH_PREFIX, n);
	n += fmt_u64(b + n, tp_worker_index(tl->w));
	b[n++] = 'x';
	n += fmt_hex64(b + n, tl->counter, 0);
	if (cap == 0)
		return;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, b, n);
	out[n] = '\0';
}

int txn_branch_owner(struct slice branch)
{
	unsigned idx = 0;
	size_t i = 9;

	if (branch.len < 11 || memcmp(branch.p, TXN_BRANCH_PREFIX, 9) != 0)
		return -1;
	while (i < branch.len && branch.p[i] >= '0' && branch.p[i] <= '9' && idx < 100000)
		idx = idx * 10 + (unsigned)(branch.p[i++] - '0');
	if (i == 9 || i >= branch.len || branch.p[i] != 'x')
		return -1;
	return (int)idx;
}
