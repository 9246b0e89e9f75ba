/* MD5 (RFC 1321), the digest of SIP's default Digest algorithm: a plain
 * streaming implementation, so the hot path of a REGISTER or INVITE check does
 * not pay a crypto library's per-call dispatch for a two-block hash. Not for
 * anything that needs collision resistance: Digest uses MD5 as RFC 2617 and
 * RFC 7616 define it. */
#ifndef SW_BASE_MD5_H
#define SW_BASE_MD5_H

#include <stddef.h>
#include <stdint.h>

#define BASE_MD5_LEN 16

struct base_md5 {
	uint32_t h[4];
	uint64_t total;   /**< bytes fed so far */
	uint8_t buf[64];  /**< the incomplete block */
	size_t used;
};

void base_md5_init(struct base_md5 *m);
void base_md5_update(struct base_md5 *m, const void *data, size_t len);
/* The digest into out; m then holds nothing secret (it is wiped). */
void base_md5_final(struct base_md5 *m, uint8_t out[BASE_MD5_LEN]);
/* One call: MD5(data). */
void base_md5(const void *data, size_t len, uint8_t out[BASE_MD5_LEN]);

#endif
