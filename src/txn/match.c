/* Transaction matching (RFC 3261 §17.1.3 for responses, §17.2.3 for requests)
 * and the per-worker hash tables. A server key is the top Via branch (when it
 * starts with the magic cookie "z9hG4bK"), its sent-by and the method, ACK
 * counting as INVITE; for RFC 2543 peers it is Call-ID, CSeq number, From tag
 * and top Via sent-by instead (§17.2.3's older rules, simplified). */
#include "txn/txn_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/fmt.h"
#include "base/util.h"

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

uint64_t txn_key_hash(const char *key, size_t len)
{
	return base_hash(key, len);
}

struct txn_server *txn_server_find(struct txn_layer *tl, const char *key, uint16_t len)
{
	return txn_server_find_hashed(tl, key, len, txn_key_hash(key, len));
}

struct txn_server *txn_server_find_hashed(struct txn_layer *tl, const char *key, uint16_t len, uint64_t h)
{
	for (struct txn_server *st = tl->servers[h & (tl->nserver_buckets - 1)]; st; st = st->next)
		if (st->hash == h && st->key_len == len && memcmp(st->key, key, len) == 0)
			return st;
	return NULL;
}

/* grow_servers / grow_clients: double a table's bucket array once it holds
 * more than two entries per bucket; on allocation failure the chains just get
 * longer. */
#define DEFINE_GROW(fn, type, table, nbuckets)                                  \
	static void fn(struct txn_layer *tl)                                    \
	{                                                                       \
		unsigned n = tl->nbuckets * 2;                                  \
		type **v = calloc(n, sizeof(*v));                               \
		if (!v)                                                         \
			return;                                                 \
		for (unsigned i = 0; i < tl->nbuckets; i++) {                   \
			for (type *e = tl->table[i], *next; e; e = next) {      \
				next = e->next;                                 \
				e->next = v[e->hash & (n - 1)];                 \
				v[e->hash & (n - 1)] = e;                       \
			}                                                       \
		}                                                               \
		free(tl->table);                                                \
		tl->table = v;                                                  \
		tl->nbuckets = n;                                               \
	}
DEFINE_GROW(grow_servers, struct txn_server, servers, nserver_buckets)
DEFINE_GROW(grow_clients, struct txn_client, clients, nclient_buckets)

void txn_server_link(struct txn_layer *tl, struct txn_server *st)
{
	if (tl->nservers >= 2 * tl->nserver_buckets && tl->nserver_buckets < TXN_BUCKETS_MAX)
		grow_servers(tl);
	struct txn_server **b = &tl->servers[st->hash & (tl->nserver_buckets - 1)];
	st->next = *b;
	*b = st;
	tl->nservers++;
}

void txn_server_unlink(struct txn_layer *tl, struct txn_server *st)
{
	for (struct txn_server **p = &tl->servers[st->hash & (tl->nserver_buckets - 1)]; *p; p = &(*p)->next)
		if (*p == st) {
			*p = st->next;
			tl->nservers--;
			return;
		}
}

static uint64_t client_hash(struct slice branch, enum sip_method method)
{
	return base_hash(branch.p, branch.len) ^ ((uint64_t)method * 0x9e3779b97f4a7c15ull);
}

struct txn_client *txn_client_find(struct txn_layer *tl, struct slice branch, enum sip_method method)
{
	uint64_t h = client_hash(branch, method);
	for (struct txn_client *ct = tl->clients[h & (tl->nclient_buckets - 1)]; ct; ct = ct->next)
		if (ct->hash == h && ct->method == method && slice_eq_cstr(branch, ct->branch))
			return ct;
	return NULL;
}

void txn_client_link(struct txn_layer *tl, struct txn_client *ct)
{
	ct->hash = client_hash(slice_cstr(ct->branch), ct->method);
	if (tl->nclients >= 2 * tl->nclient_buckets && tl->nclient_buckets < TXN_BUCKETS_MAX)
		grow_clients(tl);
	struct txn_client **b = &tl->clients[ct->hash & (tl->nclient_buckets - 1)];
	ct->next = *b;
	*b = ct;
	tl->nclients++;
}

void txn_client_unlink(struct txn_layer *tl, struct txn_client *ct)
{
	for (struct txn_client **p = &tl->clients[ct->hash & (tl->nclient_buckets - 1)]; *p; p = &(*p)->next)
		if (*p == ct) {
			*p = ct->next;
			tl->nclients--;
			return;
		}
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
