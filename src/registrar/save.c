/* Binding rules for an authenticated REGISTER (RFC 3261 §10.3 steps 6-8):
 * Contact: * removal, expiry from the param / header / default with
 * Min-Expires and a ceiling, Call-ID + CSeq ordering, a limit on bindings per
 * AOR, then the 200 OK listing every current binding with its expiry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "registrar/reg_int.h"

struct new_contact {
	struct slice uri;
	int64_t expires; /**< relative seconds after clamping */
	int q;
};

static void reply(struct registrar_reply *rep, int code, const char *reason)
{
	rep->code = code;
	rep->reason = reason;
}

/* "0.5" / "1" / "1.000" -> 500 / 1000 / 1000; -1 when malformed. */
static int parse_q(struct slice v)
{
	int q = 0, scale = 1000;
	size_t i = 0;

	if (v.len == 0 || (v.p[0] != '0' && v.p[0] != '1'))
		return -1;
	q = (v.p[0] - '0') * 1000;
	i = 1;
	if (i < v.len) {
		if (v.p[i] != '.')
			return -1;
		for (i++; i < v.len; i++) {
			if (v.p[i] < '0' || v.p[i] > '9' || scale == 1)
				return -1;
			scale /= 10;
			q += (v.p[i] - '0') * scale;
		}
	}
	return q > 1000 ? -1 : q;
}

static struct binding *find_binding(struct aor_rec *rec, struct slice uri)
{
	for (struct binding *b = rec ? rec->bindings : NULL; b; b = b->next)
		if (b->contact_len == uri.len && strncasecmp(binding_contact(b), uri.p, uri.len) == 0)
			return b;
	return NULL;
}

static void unlink_binding(struct loc_shard *sh, struct aor_rec *rec, struct binding *victim)
{
	for (struct binding **pp = &rec->bindings; *pp; pp = &(*pp)->next) {
		if (*pp == victim) {
			*pp = victim->next;
			rec->nbindings--;
			sh->nbindings--;
			binding_free(sh, victim);
			return;
		}
	}
}

static void list_bindings(struct aor_rec *rec, int64_t now, struct sip_buf *out)
{
	for (struct binding *b = rec ? rec->bindings : NULL; b; b = b->next) {
		if (b->expires <= now)
			continue; /* not yet swept */
		sip_buf_put(out, "Contact: <", 10);
		sip_buf_put(out, binding_contact(b), b->contact_len);
		sip_buf_put(out, ">;expires=", 10);
		sip_buf_i64(out, b->expires - now);
		if (b->q >= 0) {
			char q[6] = { ';', 'q', '=', (char)('0' + b->q / 1000 % 10), '.', 0 };

			sip_buf_put(out, q, 5);
			q[0] = (char)('0' + b->q / 100 % 10);
			q[1] = (char)('0' + b->q / 10 % 10);
			q[2] = (char)('0' + b->q % 10);
			sip_buf_put(out, q, 3);
		}
		sip_buf_puts(out, "\r\n");
	}
}

/* Collect the Contact list; 0, or a reply already set in rep. */
static int collect(struct registrar *r, const struct sip_msg *msg, struct new_contact *nc, unsigned *n,
		   bool *star, struct registrar_reply *rep)
{
	unsigned stars = 0;

	*n = 0;
	*star = false;
	for (const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTACT); h; h = sip_msg_hdr_next(msg, h)) {
		struct slice cur = h->value;
		struct sip_addr a;
		int rc;
		while ((rc = sip_addr_list_next(&cur, &a)) == 1) {
			if (a.star) {
				stars++;
				continue;
			}
			if (*n == SW_MAX_CONTACTS_PER_MSG) {
				reply(rep, 403, "Too Many Contacts");
				return -1;
			}
			if (a.uri_str.len == 0 || a.uri_str.len > SW_MAX_CONTACT_URI) {
				reply(rep, 400, "Bad Contact URI");
				return -1;
			}
			struct new_contact *c = &nc[(*n)++];
			struct slice v;
			uint64_t e;
			c->uri = a.uri_str;
			c->q = -1;
			if (sip_param_find(a.params, "expires", &v) == 0) {
				if (slice_to_u64(slice_trim(v), UINT32_MAX, &e)) {
					reply(rep, 400, "Bad Contact expires");
					return -1;
				}
			} else if (msg->expires >= 0) {
				e = (uint64_t)msg->expires;
			} else {
				e = r->cfg.default_expires;
			}
			c->expires = (int64_t)e;
			if (sip_param_find(a.params, "q", &v) == 0) {
				c->q = parse_q(slice_trim(v));
				if (c->q < 0) {
					reply(rep, 400, "Bad Contact q-value");
					return -1;
				}
			}
		}
		if (rc < 0) {
			reply(rep, 400, "Malformed Contact");
			return -1;
		}
	}
	/* RFC 3261 §10.3 step 6: "*" only alone and only with Expires: 0. */
	if (stars) {
		if (stars > 1 || *n > 0 || msg->expires != 0) {
			reply(rep, 400, "Invalid Contact: *");
			return -1;
		}
		*star = true;
	}
	return 0;
}

void registrar_save(struct registrar *r, const struct registrar_req *req, struct slice aor,
		    struct registrar_reply *rep)
{
	const struct sip_msg *msg = req->msg;
	struct new_contact nc[SW_MAX_CONTACTS_PER_MSG];
	unsigned n;
	bool star;
	int64_t now = (int64_t)req->now_s;

	if (collect(r, msg, nc, &n, &star, rep))
		return;
	for (unsigned i = 0; i < n; i++) {
		if (nc[i].expires > 0 && nc[i].expires < (int64_t)r->cfg.min_expires) {
			sip_buf_printf(&rep->hdrs, "Min-Expires: %u\r\n", r->cfg.min_expires);
			reply(rep, 423, "Interval Too Brief");
			return;
		}
		if (nc[i].expires > (int64_t)r->cfg.max_expires)
			nc[i].expires = r->cfg.max_expires;
	}

	uint64_t h = location_hash(aor);
	struct loc_shard *sh = location_shard(&r->loc, h);
	pthread_mutex_lock(&sh->lock);
	struct aor_rec *rec = location_find(sh, aor, h);
	if (rec)
		location_expire(sh, rec, now);

	if (star) {
		if (rec && rec->bindings) {
			while (rec->bindings)
				unlink_binding(sh, rec, rec->bindings);
			persist_mark(r->persist, rec);
		}
		goto done;
	}

	/* Validate everything before changing anything. RFC 3261 §10.3 step 7:
	 * same Call-ID with a CSeq not above the stored one fails, except for a
	 * retransmission of the very request that set the binding (same Via
	 * branch), which is answered again without changing anything. */
	unsigned total = rec ? rec->nbindings : 0;
	uint32_t branch = binding_branch_hash(msg->via1.branch);
	bool retransmission = n > 0;
	for (unsigned i = 0; i < n; i++) {
		struct binding *b = find_binding(rec, nc[i].uri);
		bool same_call = b && b->callid_len == msg->call_id.len &&
				 memcmp(binding_callid(b), msg->call_id.p, msg->call_id.len) == 0;
		if (!(same_call && msg->cseq == b->cseq && b->branch_hash == branch))
			retransmission = false;
		if (same_call && msg->cseq <= b->cseq && !(msg->cseq == b->cseq && b->branch_hash == branch)) {
			pthread_mutex_unlock(&sh->lock);
			reply(rep, 400, "Stale CSeq");
			return;
		}
		bool dup = false;
		for (unsigned j = 0; j < i; j++)
			if (slice_caseeq(nc[j].uri, nc[i].uri))
				dup = true;
		if (dup)
			continue;
		if (!b && nc[i].expires > 0)
			total++;
		else if (b && nc[i].expires == 0)
			total--;
	}
	if (total > r->cfg.max_contacts) {
		pthread_mutex_unlock(&sh->lock);
		reply(rep, 403, "Too Many Contacts");
		return;
	}

	if (retransmission)
		goto done;
	if (n > 0 && !rec) {
		rec = location_create(sh, aor, h);
		if (!rec) {
			pthread_mutex_unlock(&sh->lock);
			sip_buf_puts(&rep->hdrs, "Retry-After: 5\r\n");
			reply(rep, 500, "Out Of Memory");
			return;
		}
	}
	const struct sip_hdr *ua = sip_msg_hdr(msg, SIP_HDR_USER_AGENT);
	for (unsigned i = 0; i < n; i++) {
		struct binding *old = find_binding(rec, nc[i].uri);
		if (nc[i].expires == 0) {
			if (old)
				unlink_binding(sh, rec, old);
			continue;
		}
		struct binding *b = binding_new(sh, nc[i].uri, msg->call_id, slice_cstr(req->received),
						ua ? ua->value : SLICE_NULL, msg->cseq, now + nc[i].expires, nc[i].q);
		if (!b)
			continue;
		b->branch_hash = branch;
		if (old)
			unlink_binding(sh, rec, old);
		b->next = rec->bindings;
		rec->bindings = b;
		rec->nbindings++;
		sh->nbindings++;
	}
	if (n > 0)
		persist_mark(r->persist, rec);
done:
	rep->contacts_at = rep->hdrs.len;
	list_bindings(rec, now, &rep->hdrs);
	rep->contacts_len = rep->hdrs.overflow ? 0 : rep->hdrs.len - rep->contacts_at;
	if (aor.len < sizeof(rep->aor)) {
		memcpy(rep->aor, aor.p, aor.len);
		rep->aor_len = aor.len;
	}
	if (rec && !rec->bindings && !rec->dirty)
		location_remove(sh, rec);
	pthread_mutex_unlock(&sh->lock);
	reply(rep, 200, "OK");
}

void registrar_contact_lines(struct registrar *r, struct slice aor, uint64_t now_s, struct sip_buf *out)
{
	uint64_t h = location_hash(aor);
	struct loc_shard *sh = location_shard(&r->loc, h);

	pthread_mutex_lock(&sh->lock);
	list_bindings(location_find(sh, aor, h), (int64_t)now_s, out);
	pthread_mutex_unlock(&sh->lock);
}
