/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF"),
 * 64- and 128-bit outputs: the keyed MAC of the digest nonces and the
 * Record-Route tokens, a few hundred instructions for their short inputs.
 * SipHash-1-3 (one compression round per word, three to finish): the keyed
 * hash of tables whose keys the network chooses (transactions, kept
 * answers), so crafted keys cannot pile into one chain; about half the
 * work of 2-4 on a whole request, and not meant as a MAC. */
#ifndef SW_BASE_SIPHASH_H
#define SW_BASE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define BASE_SIPHASH_KEY_LEN 16

/* The 64-bit tag of msg under key, as the reference writes it: 8 bytes,
 * little-endian. */
void base_siphash64(const uint8_t key[BASE_SIPHASH_KEY_LEN], const void *msg, size_t len, uint8_t out[8]);
/* The 128-bit variant (different initialisation, 16 bytes out). */
void base_siphash128(const uint8_t key[BASE_SIPHASH_KEY_LEN], const void *msg, size_t len, uint8_t out[16]);
/* SipHash-1-3 of msg under key, the 64-bit tag as a number (the value whose
 * little-endian bytes the reference would write). */
uint64_t base_siphash13(const uint8_t key[BASE_SIPHASH_KEY_LEN], const void *msg, size_t len);

#endif
