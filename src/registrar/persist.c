/* Write-back persistence of registrations ([registrar] persist = yes, the
 * default): REGISTER handling only marks an AOR dirty; this thread writes dirty
 * AORs to the store in one transaction every flush interval (default 200 ms),
 * sweeps expired bindings every second and purges expired rows every minute.
 * In the same pass it writes the queued first-use algorithm records
 * (auth_pinq), in their own transaction. A store failure keeps the dirty set
 * and retries; it is logged once per incident. With persist = no it only
 * sweeps and writes those records. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "registrar/reg_int.h"

struct persist {
	struct location *loc;
	char *db_url;
	unsigned interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	char **keys;               /**< dirty AOR keys (owned copies) */
	size_t nkeys, capkeys;
	struct store *store;
	bool failing;
	struct auth_pinq *pins;    /**< not owned; NULL: none */
	bool write_bindings;       /**< false: [registrar] persist = no */
};

void persist_mark(struct persist *p, struct aor_rec *rec)
{
	if (!p || !p->write_bindings || rec->dirty)
		return;
	char *k = strndup(rec->key, rec->key_len);
	if (!k)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->nkeys == p->capkeys) {
		size_t cap = p->capkeys ? p->capkeys * 2 : 1024;
		char **n = realloc(p->keys, cap * sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&p->lock);
			free(k);
			return;
		}
		p->keys = n;
		p->capkeys = cap;
	}
	p->keys[p->nkeys++] = k;
	rec->dirty = true;
	pthread_mutex_unlock(&p->lock);
}

/* Snapshot of one AOR's bindings taken under its shard lock. */
struct snap {
	struct store_contact *c;
	size_t n, cap;
};

static int snapshot(struct location *loc, const char *key, struct snap *s)
{
	struct slice k = slice_cstr(key);
	uint64_t h = location_hash(k);
	struct loc_shard *sh = location_shard(loc, h);

	s->n = 0;
	pthread_mutex_lock(&sh->lock);
	struct aor_rec *rec = location_find(sh, k, h);
	if (rec) {
		rec->dirty = false;
		for (struct binding *b = rec->bindings; b; b = b->next) {
			if (s->n == s->cap) {
				size_t cap = s->cap ? s->cap * 2 : 16;
				struct store_contact *n = realloc(s->c, cap * sizeof(*n));
				if (!n)
					break;
				s->c = n;
				s->cap = cap;
			}
			struct store_contact *c = &s->c[s->n++];
			memset(c, 0, sizeof(*c));
			snprintf(c->aor, sizeof(c->aor), "%s", key);
			slice_copy(slice_from(binding_contact(b), b->contact_len), c->contact, sizeof(c->contact));
			slice_copy(slice_from(binding_callid(b), b->callid_len), c->call_id, sizeof(c->call_id));
			binding_received(b, c->received); /* LOC_MAX_RECEIVED < sizeof(c->received) */
			slice_copy(binding_ua(sh, b), c->user_agent, sizeof(c->user_agent));
			c->cseq = b->cseq;
			c->expires = b->expires;
			c->q = b->q;
		}
		if (!rec->bindings)
			location_remove(sh, rec);
	}
	pthread_mutex_unlock(&sh->lock);
	return 0;
}

static void requeue(struct persist *p, char **keys, size_t n)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		if (p->nkeys == p->capkeys) {
			size_t cap = p->capkeys ? p->capkeys * 2 : 1024;
			char **nk = realloc(p->keys, cap * sizeof(*nk));
			if (!nk) {
				free(keys[i]);
				continue;
			}
			p->keys = nk;
			p->capkeys = cap;
		}
		p->keys[p->nkeys++] = keys[i];
	}
	pthread_mutex_unlock(&p->lock);
}

static void incident(struct persist *p, int err)
{
	if (!p->failing)
		LOG_ERR("registration write-back failed (%s); will retry", strerror(-err));
	p->failing = true;
	store_close(p->store);
	p->store = NULL;
}

/* Write every dirty AOR; returns 0 or the store error (keys then requeued). */
static int flush(struct persist *p)
{
	char **keys;
	size_t n;
	struct snap s = { 0 };
	int err = 0;

	pthread_mutex_lock(&p->lock);
	keys = p->keys;
	n = p->nkeys;
	p->keys = NULL;
	p->nkeys = p->capkeys = 0;
	pthread_mutex_unlock(&p->lock);
	if (n == 0 && (!p->pins || auth_pinq_len(p->pins) == 0)) {
		free(keys);
		return 0;
	}
	if (!p->store) {
		err = store_open(&p->store, p->db_url);
		if (err) {
			p->store = NULL;
			goto fail;
		}
	}
	if (p->pins) {
		err = auth_pinq_flush(p->pins, p->store);
		if (err)
			goto fail;
	}
	if (n == 0) {
		free(keys);
		goto done;
	}
	err = store_begin(p->store);
	for (size_t i = 0; i < n && !err; i++) {
		snapshot(p->loc, keys[i], &s);
		err = store_loc_del(p->store, keys[i], NULL);
		if (err == -ENOENT)
			err = 0;
		for (size_t j = 0; j < s.n && !err; j++)
			err = store_loc_put(p->store, &s.c[j]);
	}
	if (!err)
		err = store_commit(p->store);
	if (err) {
		store_rollback(p->store);
		goto fail;
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(s.c);
done:
	if (p->failing)
		LOG_WARN("registration write-back recovered");
	p->failing = false;
	return 0;
fail:
	free(s.c);
	/* Records whose dirty flag was cleared by a snapshot are still in keys. */
	requeue(p, keys, n);
	free(keys);
	incident(p, err);
	return err;
}

static void *persist_main(void *arg)
{
	struct persist *p = arg;
	uint64_t last_sweep = base_mono_ms(), last_purge = last_sweep;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(p->interval_ms % 1000) * 1000000L;
		ts.tv_sec += p->interval_ms / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		if (p->stopping)
			break;
		pthread_mutex_unlock(&p->lock);
		flush(p);
		uint64_t now = base_mono_ms();
		if (now - last_sweep >= 1000) {
			last_sweep = now;
			location_sweep(p->loc, (int64_t)base_wall_s());
		}
		if (now - last_purge >= 60000 && p->store && p->write_bindings) {
			last_purge = now;
			store_loc_purge(p->store, (int64_t)base_wall_s());
		}
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int persist_start(struct persist **out, struct location *loc, const char *db_url, unsigned interval_ms,
		  struct auth_pinq *pins, bool write_bindings)
{
	struct persist *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->loc = loc;
	p->pins = pins;
	p->write_bindings = write_bindings;
	p->interval_ms = interval_ms ? interval_ms : 200;
	p->db_url = strdup(db_url);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (!p->db_url) {
		err = -ENOMEM;
		goto fail;
	}
	err = store_open(&p->store, db_url);
	if (err)
		goto fail;
	err = -pthread_create(&p->thread, NULL, persist_main, p);
	if (err)
		goto fail;
	*out = p;
	return 0;
fail:
	store_close(p->store);
	free(p->db_url);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
	return err;
}

void persist_stop(struct persist *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	/* Final write-back: a few tries so a briefly locked database loses nothing. */
	for (int i = 0; i < 5 && flush(p) != 0; i++) {
		struct timespec d = { 0, 200 * 1000000L };
		nanosleep(&d, NULL);
	}
	for (size_t i = 0; i < p->nkeys; i++)
		free(p->keys[i]);
	free(p->keys);
	store_close(p->store);
	free(p->db_url);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

struct load_ctx {
	struct location *loc;
	unsigned n;
};

static int load_one(const struct store_contact *c, void *arg)
{
	struct load_ctx *lc = arg;
	struct slice key = slice_cstr(c->aor);
	uint64_t h = location_hash(key);
	struct loc_shard *sh = location_shard(lc->loc, h);

	pthread_mutex_lock(&sh->lock);
	struct binding *b = binding_new(sh, slice_cstr(c->contact), slice_cstr(c->call_id), slice_cstr(c->received),
					slice_cstr(c->user_agent), c->cseq, c->expires, c->q);
	struct aor_rec *rec = b ? location_find(sh, key, h) : NULL;
	if (b && !rec)
		rec = location_create(sh, key, h);
	if (rec) {
		b->next = rec->bindings;
		rec->bindings = b;
		rec->nbindings++;
		sh->nbindings++;
		lc->n++;
	} else {
		binding_free(sh, b);
	}
	pthread_mutex_unlock(&sh->lock);
	return 0;
}

int persist_load(struct location *loc, const char *db_url, int64_t now)
{
	struct store *s;
	struct load_ctx lc = { loc, 0 };
	int err = store_open(&s, db_url);

	if (err)
		return err;
	err = store_loc_load(s, now, load_one, &lc);
	store_close(s);
	if (!err)
		LOG_INFO("restored %u registrations from the store", lc.n);
	return err;
}
