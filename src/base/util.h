/* Small primitives with no SIP knowledge: randomness, constant-time compare,
 * hex, clocks, secret wiping. */
#ifndef SW_UTIL_H
#define SW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fill buf with cryptographically secure random bytes; 0 or -errno. */
int base_random(void *buf, size_t len);
/* Compare two buffers in time that depends only on len (never on contents). */
bool base_ct_equal(const void *a, const void *b, size_t len);
/* Lower-case hex of len bytes into out (2*len+1 bytes, NUL-terminated). */
void base_hex(const uint8_t *in, size_t len, char *out);
/* Monotonic milliseconds (for timeouts) and wall-clock seconds (for expiry). */
uint64_t base_mono_ms(void);
uint64_t base_wall_s(void);
/* Overwrite a secret so the compiler cannot elide it. */
void base_wipe(void *p, size_t len);
/* 64-bit FNV-1a, case-insensitive variant for hashing domain/user keys. */
uint64_t base_hash(const void *p, size_t len);
uint64_t base_hash_lower(const void *p, size_t len);
/* 64-bit hash reading eight bytes per step, for whole messages (the
 * retransmission cache key): every byte and the length count; not stable
 * across versions, never store it. Not collision-resistant (like FNV). */
uint64_t base_hash_words(const void *p, size_t len);

#endif
