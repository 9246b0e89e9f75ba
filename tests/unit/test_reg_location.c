/* The location table's memory layout: a binding is its 27-byte head plus its
 * strings (no padding, no terminators), taken from the shard's slab in 8-byte
 * steps and reused after a free; AOR records are 24 bytes plus the key; the
 * strings come back byte for byte, the received source also from its 7-byte
 * form, the User-Agent from the shard's shared copy; the hash table finds every AOR after it
 * grows and forgets removed ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "registrar/reg_int.h"

static struct location loc; /* large: kept off the stack */

static void test_head_sizes(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct binding, data), 27);
	assert_int_equal(offsetof(struct aor_rec, key), 24);
}

static void test_binding_strings_and_size(void **state)
{
	(void)state;
	assert_int_equal(location_init(&loc), 0);
	struct loc_shard *sh = &loc.shards[0];
	struct slice contact = slice_cstr("sip:u00001@127.0.0.1:40001;line=3");
	struct slice callid = slice_cstr("12345-4242@127.0.0.1");
	struct slice rcv = slice_cstr("udp:127.0.0.1:40001");
	struct slice ua = slice_cstr("sipp-bench");
	struct binding *b = binding_new(sh, contact, callid, rcv, ua, 7, 1700000000, 500);

	char text[LOC_MAX_RECEIVED + 1];

	assert_non_null(b);
	/* the received text in its 7-byte form, the User-Agent as a one-byte slot */
	assert_int_equal(binding_size(b), 27 + 33 + 20 + 7 + 1);
	/* 88 bytes (the old layout: a 40-byte head, every string as text, 144 bytes of
	 * glibc chunk) and the shared User-Agent, 9 + 10 rounded to 24. */
	assert_int_equal(sh->slab.bytes, 88 + 24);
	assert_int_equal(b->ua_len, LOC_UA_SHARED);
	assert_memory_equal(binding_contact(b), contact.p, contact.len);
	assert_memory_equal(binding_callid(b), callid.p, callid.len);
	assert_int_equal(binding_received(b, text), rcv.len);
	assert_string_equal(text, "udp:127.0.0.1:40001");
	assert_true(slice_eq(binding_ua(sh, b), ua));
	assert_int_equal(b->contact_len, contact.len);
	assert_int_equal(b->cseq, 7);
	assert_int_equal(b->expires, 1700000000);
	assert_int_equal(b->q, 500);

	/* A free piece is reused by the next binding of the same rounded size. */
	binding_free(sh, b);
	assert_int_equal(sh->slab.bytes, 0);
	assert_int_equal(sh->ua_top, 0);
	struct binding *c = binding_new(sh, slice_cstr("sip:u00002@127.0.0.1:40002;line=4"), callid,
					slice_cstr("tls:10.0.0.255:5061"), ua, 1, 1700000000, -1);
	assert_ptr_equal(c, b);
	assert_int_equal(c->q, -1);
	assert_int_equal(binding_received(c, text), 19);
	assert_string_equal(text, "tls:10.0.0.255:5061");
	binding_free(sh, c);
	location_fini(&loc);
}

/* Only the exact text binding_received() prints is packed; anything else is
 * kept as given, and both come back unchanged. */
static void test_received_forms(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		size_t stored;
	} cases[] = {
		{ "udp:1.2.3.4:5060", 7 },
		{ "tcp:255.255.255.255:65535", 7 },
		{ "tls:0.0.0.0:1", 7 },
		{ "udp:127.0.0.01:5060", 19 },     /* leading zero */
		{ "udp:127.0.0.1:05060", 19 },
		{ "udp:127.0.0.1:0", 15 },         /* port 0 */
		{ "udp:127.0.0.1:65536", 19 },
		{ "udp:256.0.0.1:5060", 18 },
		{ "udp:1.2.3:5060", 14 },
		{ "udp:1.2.3.4.5:5060", 18 },
		{ "udp:1.2.3.4:5060x", 17 },
		{ "udp:1.2.3.4", 11 },
		{ "sctp:1.2.3.4:5060", 17 },
		{ "udp:[2001:db8::1]:5060", 22 },
		{ "", 0 },
	};
	char text[LOC_MAX_RECEIVED + 1];

	assert_int_equal(location_init(&loc), 0);
	struct loc_shard *sh = &loc.shards[2];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct slice r = slice_cstr(cases[i].text);
		struct binding *b = binding_new(sh, slice_cstr("sip:a@b"), slice_cstr("c"), r, slice_cstr("ua"), 1, 1, -1);
		assert_non_null(b);
		assert_int_equal(binding_received_stored(b), cases[i].stored);
		assert_int_equal(binding_received(b, text), r.len);
		assert_string_equal(text, cases[i].text);
		assert_true(slice_eq(binding_ua(sh, b), slice_cstr("ua")));
		binding_free(sh, b);
	}
	assert_int_equal(sh->slab.bytes, 0);
	location_fini(&loc);
}

/* One copy of a User-Agent per shard, counted by its bindings: freed with the
 * last one, its slot reused; with every slot taken, new strings go inline. */
static void test_user_agent_shared(void **state)
{
	(void)state;
	enum { N = LOC_UA_SLOTS + 20 };
	static struct binding *b[N], *twin;
	char ua[32];

	assert_int_equal(location_init(&loc), 0);
	struct loc_shard *sh = &loc.shards[3];
	for (int i = 0; i < N; i++) {
		int n = snprintf(ua, sizeof(ua), "phone/%d.0", i);
		b[i] = binding_new(sh, slice_cstr("sip:a@b"), slice_cstr("c"), SLICE_NULL, slice_from(ua, (size_t)n), 1,
				   1, -1);
		assert_non_null(b[i]);
		assert_int_equal(b[i]->ua_len, i < LOC_UA_SLOTS ? LOC_UA_SHARED : (unsigned)n);
	}
	assert_int_equal(sh->ua_top, LOC_UA_SLOTS);
	twin = binding_new(sh, slice_cstr("sip:z@b"), slice_cstr("c2"), SLICE_NULL, slice_cstr("phone/5.0"), 1, 1, -1);
	assert_non_null(twin);
	assert_int_equal(twin->ua_len, LOC_UA_SHARED);
	assert_int_equal(sh->ua[5]->refs, 2);
	for (int i = 0; i < N; i++) {
		int n = snprintf(ua, sizeof(ua), "phone/%d.0", i);
		assert_true(slice_eq(binding_ua(sh, b[i]), slice_from(ua, (size_t)n)));
	}
	/* The shared copy outlives the first of its two bindings. */
	binding_free(sh, b[5]);
	assert_non_null(sh->ua[5]);
	assert_true(slice_eq(binding_ua(sh, twin), slice_cstr("phone/5.0")));
	binding_free(sh, twin);
	assert_null(sh->ua[5]);
	/* The free slot takes the next new string. */
	b[5] = binding_new(sh, slice_cstr("sip:a@b"), slice_cstr("c"), SLICE_NULL, slice_cstr("other/1"), 1, 1, -1);
	assert_non_null(b[5]);
	assert_int_equal(b[5]->ua_len, LOC_UA_SHARED);
	assert_non_null(sh->ua[5]);
	assert_true(slice_eq(binding_ua(sh, b[5]), slice_cstr("other/1")));
	for (int i = 0; i < N; i++)
		binding_free(sh, b[i]);
	assert_int_equal(sh->ua_top, 0);
	assert_int_equal(sh->slab.bytes, 0);
	location_fini(&loc);
}

static void test_binding_limits(void **state)
{
	(void)state;
	static char big[600];
	memset(big, 'a', sizeof(big));
	assert_int_equal(location_init(&loc), 0);
	struct loc_shard *sh = &loc.shards[1];
	/* Too long: contact, Call-ID, received. A long User-Agent is cut. */
	assert_null(binding_new(sh, slice_from(big, SW_MAX_CONTACT_URI + 1), SLICE_NULL, SLICE_NULL, SLICE_NULL, 1, 1,
				-1));
	assert_null(binding_new(sh, slice_cstr("sip:a@b"), slice_from(big, LOC_MAX_CALLID + 1), SLICE_NULL,
				SLICE_NULL, 1, 1, -1));
	assert_null(binding_new(sh, slice_cstr("sip:a@b"), SLICE_NULL, slice_from(big, LOC_MAX_RECEIVED + 1),
				SLICE_NULL, 1, 1, -1));
	struct binding *b = binding_new(sh, slice_from(big, SW_MAX_CONTACT_URI), slice_from(big, LOC_MAX_CALLID),
					slice_from(big, LOC_MAX_RECEIVED), slice_from(big, 300), 1, 1, -1);
	assert_non_null(b);
	assert_int_equal(binding_ua(sh, b).len, LOC_MAX_UA);
	assert_true(binding_size(b) <= LOC_SLAB_MAX);
	/* Expiry times outside 32 bits are clamped, not wrapped. */
	struct binding *e = binding_new(sh, slice_cstr("sip:a@b"), SLICE_NULL, SLICE_NULL, SLICE_NULL, 1,
					(int64_t)UINT32_MAX + 5, -1);
	assert_non_null(e);
	assert_int_equal(e->expires, UINT32_MAX);
	binding_free(sh, b);
	binding_free(sh, e);
	assert_int_equal(sh->slab.bytes, 0);
	location_fini(&loc);
}

static void test_aors_grow_find_remove(void **state)
{
	(void)state;
	enum { N = 20000 };
	char key[64];
	assert_int_equal(location_init(&loc), 0);
	for (int i = 0; i < N; i++) {
		int n = snprintf(key, sizeof(key), "u%05d@example.com", i);
		struct slice k = slice_from(key, (size_t)n);
		uint64_t h = location_hash(k);
		struct loc_shard *sh = location_shard(&loc, h);
		assert_null(location_find(sh, k, h));
		struct aor_rec *r = location_create(sh, k, h);
		assert_non_null(r);
		struct binding *b = binding_new(sh, slice_cstr("sip:x@127.0.0.1"), slice_cstr("cid"), SLICE_NULL,
						SLICE_NULL, 1, i % 2 ? 100 : 200, -1);
		assert_non_null(b);
		r->bindings = b;
		r->nbindings = 1;
		sh->nbindings++;
	}
	uint64_t aors = 0, bytes = 0;
	for (unsigned s = 0; s < LOC_SHARDS; s++) {
		aors += loc.shards[s].count;
		bytes += loc.shards[s].slab.bytes;
		assert_true(loc.shards[s].nbuckets >= loc.shards[s].count);
	}
	assert_int_equal(aors, N);
	/* 24 + 17 or 18 key bytes -> 48; 27 + 15 + 3 -> 48 */
	assert_int_equal(bytes, (uint64_t)N * (48 + 48));
	/* Case-insensitive lookups; expiry at 150 drops the odd ones' bindings. */
	for (int i = 0; i < N; i++) {
		int n = snprintf(key, sizeof(key), "U%05d@EXAMPLE.COM", i);
		struct slice k = slice_from(key, (size_t)n);
		uint64_t h = location_hash(k);
		struct loc_shard *sh = location_shard(&loc, h);
		struct aor_rec *r = location_find(sh, k, h);
		assert_non_null(r);
		assert_int_equal(location_expire(sh, r, 150), i % 2 ? 1 : 0);
	}
	location_sweep(&loc, 150);
	aors = 0;
	for (unsigned s = 0; s < LOC_SHARDS; s++)
		aors += loc.shards[s].count;
	assert_int_equal(aors, N / 2);
	for (int i = 0; i < N; i++) {
		int n = snprintf(key, sizeof(key), "u%05d@example.com", i);
		struct slice k = slice_from(key, (size_t)n);
		uint64_t h = location_hash(k);
		struct loc_shard *sh = location_shard(&loc, h);
		struct aor_rec *r = location_find(sh, k, h);
		if (i % 2) {
			assert_null(r);
		} else {
			assert_non_null(r);
			location_remove(sh, r);
			assert_null(location_find(sh, k, h));
		}
	}
	for (unsigned s = 0; s < LOC_SHARDS; s++) {
		assert_int_equal(loc.shards[s].count, 0);
		assert_int_equal(loc.shards[s].nbindings, 0);
		assert_int_equal(loc.shards[s].slab.bytes, 0);
	}
	location_fini(&loc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_sizes),
		cmocka_unit_test(test_binding_strings_and_size),
		cmocka_unit_test(test_received_forms),
		cmocka_unit_test(test_user_agent_shared),
		cmocka_unit_test(test_binding_limits),
		cmocka_unit_test(test_aors_grow_find_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
