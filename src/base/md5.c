/* MD5 as RFC 1321 §3 specifies it: 512-bit blocks, four rounds of sixteen
 * steps with the functions F, G, H, I, the sine-derived constants T[i] =
 * floor(2^32 * |sin(i)|) and the per-round shift amounts; the message padded
 * with 0x80, zeros and its bit length (little-endian). */
#include "base/md5.h"

#include <endian.h>
#include <string.h>

#include "base/util.h"

static const uint32_t T[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static inline uint32_t rotl(uint32_t x, unsigned s)
{
	return (x << s) | (x >> (32 - s));
}

/* Word k of the block, read where it lies: no copy of the (possibly
 * secret) input is left on the stack to wipe. */
static inline uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

#define STEP(f, a, b, c, d, k, s, i) (a) = (b) + rotl((a) + f((b), (c), (d)) + le32(p + 4 * (k)) + T[(i)], (s))
#define F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define G(x, y, z) (((x) & (z)) | ((y) & ~(z)))
#define H(x, y, z) ((x) ^ (y) ^ (z))
#define I(x, y, z) ((y) ^ ((x) | ~(z)))

static void block(uint32_t h[4], const uint8_t *p)
{
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3];

	/* Round 1: k = j, s = 7, 12, 17, 22 */
	STEP(F, a, b, c, d, 0, 7, 0);
	STEP(F, d, a, b, c, 1, 12, 1);
	STEP(F, c, d, a, b, 2, 17, 2);
	STEP(F, b, c, d, a, 3, 22, 3);
	STEP(F, a, b, c, d, 4, 7, 4);
	STEP(F, d, a, b, c, 5, 12, 5);
	STEP(F, c, d, a, b, 6, 17, 6);
	STEP(F, b, c, d, a, 7, 22, 7);
	STEP(F, a, b, c, d, 8, 7, 8);
	STEP(F, d, a, b, c, 9, 12, 9);
	STEP(F, c, d, a, b, 10, 17, 10);
	STEP(F, b, c, d, a, 11, 22, 11);
	STEP(F, a, b, c, d, 12, 7, 12);
	STEP(F, d, a, b, c, 13, 12, 13);
	STEP(F, c, d, a, b, 14, 17, 14);
	STEP(F, b, c, d, a, 15, 22, 15);
	/* Round 2: k = (1 + 5j) mod 16, s = 5, 9, 14, 20 */
	STEP(G, a, b, c, d, 1, 5, 16);
	STEP(G, d, a, b, c, 6, 9, 17);
	STEP(G, c, d, a, b, 11, 14, 18);
	STEP(G, b, c, d, a, 0, 20, 19);
	STEP(G, a, b, c, d, 5, 5, 20);
	STEP(G, d, a, b, c, 10, 9, 21);
	STEP(G, c, d, a, b, 15, 14, 22);
	STEP(G, b, c, d, a, 4, 20, 23);
	STEP(G, a, b, c, d, 9, 5, 24);
	STEP(G, d, a, b, c, 14, 9, 25);
	STEP(G, c, d, a, b, 3, 14, 26);
	STEP(G, b, c, d, a, 8, 20, 27);
	STEP(G, a, b, c, d, 13, 5, 28);
	STEP(G, d, a, b, c, 2, 9, 29);
	STEP(G, c, d, a, b, 7, 14, 30);
	STEP(G, b, c, d, a, 12, 20, 31);
	/* Round 3: k = (5 + 3j) mod 16, s = 4, 11, 16, 23 */
	STEP(H, a, b, c, d, 5, 4, 32);
	STEP(H, d, a, b, c, 8, 11, 33);
	STEP(H, c, d, a, b, 11, 16, 34);
	STEP(H, b, c, d, a, 14, 23, 35);
	STEP(H, a, b, c, d, 1, 4, 36);
	STEP(H, d, a, b, c, 4, 11, 37);
	STEP(H, c, d, a, b, 7, 16, 38);
	STEP(H, b, c, d, a, 10, 23, 39);
	STEP(H, a, b, c, d, 13, 4, 40);
	STEP(H, d, a, b, c, 0, 11, 41);
	STEP(H, c, d, a, b, 3, 16, 42);
	STEP(H, b, c, d, a, 6, 23, 43);
	STEP(H, a, b, c, d, 9, 4, 44);
	STEP(H, d, a, b, c, 12, 11, 45);
	STEP(H, c, d, a, b, 15, 16, 46);
	STEP(H, b, c, d, a, 2, 23, 47);
	/* Round 4: k = 7j mod 16, s = 6, 10, 15, 21 */
	STEP(I, a, b, c, d, 0, 6, 48);
	STEP(I, d, a, b, c, 7, 10, 49);
	STEP(I, c, d, a, b, 14, 15, 50);
	STEP(I, b, c, d, a, 5, 21, 51);
	STEP(I, a, b, c, d, 12, 6, 52);
	STEP(I, d, a, b, c, 3, 10, 53);
	STEP(I, c, d, a, b, 10, 15, 54);
	STEP(I, b, c, d, a, 1, 21, 55);
	STEP(I, a, b, c, d, 8, 6, 56);
	STEP(I, d, a, b, c, 15, 10, 57);
	STEP(I, c, d, a, b, 6, 15, 58);
	STEP(I, b, c, d, a, 13, 21, 59);
	STEP(I, a, b, c, d, 4, 6, 60);
	STEP(I, d, a, b, c, 11, 10, 61);
	STEP(I, c, d, a, b, 2, 15, 62);
	STEP(I, b, c, d, a, 9, 21, 63);
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
}

void base_md5_init(struct base_md5 *m)
{
	m->h[0] = 0x67452301;
	m->h[1] = 0xefcdab89;
	m->h[2] = 0x98badcfe;
	m->h[3] = 0x10325476;
	m->total = 0;
	m->used = 0;
}

void base_md5_update(struct base_md5 *m, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!len)
		return; /* data may be NULL then */
	m->total += len;
	if (m->used) {
		size_t take = 64 - m->used < len ? 64 - m->used : len;
		memcpy(m->buf + m->used, p, take);
		m->used += take;
		p += take;
		len -= take;
		if (m->used < 64)
			return;
		block(m->h, m->buf);
		m->used = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		block(m->h, p);
	if (len) {
		memcpy(m->buf, p, len);
		m->used = len;
	}
}

void base_md5_final(struct base_md5 *m, uint8_t out[BASE_MD5_LEN])
{
	uint64_t bits = m->total * 8;

	m->buf[m->used++] = 0x80;
	if (m->used > 56) {
		memset(m->buf + m->used, 0, 64 - m->used);
		block(m->h, m->buf);
		m->used = 0;
	}
	memset(m->buf + m->used, 0, 56 - m->used);
	for (int i = 0; i < 8; i++)
		m->buf[56 + i] = (uint8_t)(bits >> (8 * i));
	block(m->h, m->buf);
	for (int i = 0; i < 4; i++) {
		out[4 * i] = (uint8_t)m->h[i];
		out[4 * i + 1] = (uint8_t)(m->h[i] >> 8);
		out[4 * i + 2] = (uint8_t)(m->h[i] >> 16);
		out[4 * i + 3] = (uint8_t)(m->h[i] >> 24);
	}
	base_wipe(m, sizeof(*m));
}

void base_md5(const void *data, size_t len, uint8_t out[BASE_MD5_LEN])
{
	struct base_md5 m;

	base_md5_init(&m);
	base_md5_update(&m, data, len);
	base_md5_final(&m, out);
}
