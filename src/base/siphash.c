/* SipHash-2-4 with 64- and 128-bit tags, from the specification in the
 * SipHash paper (two compression rounds per 8-byte word, four finalisation
 * rounds; the 128-bit form xors 0xee into v1 at start and into v2 before
 * finalisation, and 0xdd into v1 before the second half), and SipHash-1-3
 * (one and three) with a 64-bit tag for hash-table keys. */
#include "base/siphash.h"

#include <endian.h>
#include <string.h>

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v)); /* one unaligned load */
	return le64toh(v);
}

static inline void store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

struct sip_state {
	uint64_t v0, v1, v2, v3;
};

static inline void sip_round(struct sip_state *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline void absorb(struct sip_state *s, uint64_t m, int c_rounds)
{
	s->v3 ^= m;
	sip_round(s);
	if (c_rounds == 2)
		sip_round(s);
	s->v0 ^= m;
}

/* c_rounds is 2 or 1, a constant at each (inlined) call. */
static inline void compress(struct sip_state *s, const uint8_t key[BASE_SIPHASH_KEY_LEN], const uint8_t *msg,
			    size_t len, int wide, int c_rounds)
{
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8), last = (uint64_t)(len & 0xff) << 56;
	size_t whole = len & ~(size_t)7;

	s->v0 = k0 ^ 0x736f6d6570736575ULL;
	s->v1 = k1 ^ 0x646f72616e646f6dULL;
	s->v2 = k0 ^ 0x6c7967656e657261ULL;
	s->v3 = k1 ^ 0x7465646279746573ULL;
	if (wide)
		s->v1 ^= 0xee;
	for (size_t i = 0; i < whole; i += 8)
		absorb(s, load_le64(msg + i), c_rounds);
	for (size_t i = whole; i < len; i++)
		last |= (uint64_t)msg[i] << (8 * (i - whole));
	absorb(s, last, c_rounds);
}

static inline uint64_t finish(struct sip_state *s, int d_rounds)
{
	for (int i = 0; i < d_rounds; i++)
		sip_round(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

void base_siphash64(const uint8_t key[BASE_SIPHASH_KEY_LEN], const void *msg, size_t len, uint8_t out[8])
{
	struct sip_state s;

	compress(&s, key, msg, len, 0, 2);
	s.v2 ^= 0xff;
	store_le64(out, finish(&s, 4));
}

void base_siphash128(const uint8_t key[BASE_SIPHASH_KEY_LEN], const void *msg, size_t len, uint8_t out[16])
{
	struct sip_state s;

	compress(&s, key, msg, len, 1, 2);
	s.v2 ^= 0xee;
	store_le64(out, finish(&s, 4));
	s.v1 ^= 0xdd;
	store_le64(out + 8, finish(&s, 4));
}

uint64_t base_siphash13(const uint8_t key[BASE_SIPHASH_KEY_LEN], const void *msg, size_t len)
{
	struct sip_state s;

	compress(&s, key, msg, len, 0, 1);
	s.v2 ^= 0xff;
	return finish(&s, 3);
}
