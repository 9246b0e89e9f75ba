/* Private to src/auth: streaming hash helpers over reused per-thread OpenSSL
 * digest contexts, and HMAC-SHA256 (RFC 2104) for nonces and key derivation.
 * Nothing here touches the sip or store layers. */
#ifndef SW_AUTH_INT_H
#define SW_AUTH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"

#define AUTH_SHA256_LEN 32

/* Hex digest of parts[0] ":" parts[1] ":" ... parts[n-1] with the algorithm's
 * hash, without building the joined string; out holds hexlen+1. */
void auth_hash_join_hex(enum auth_algo algo, const struct slice *parts, size_t n, char *out);

/* HMAC-SHA256(key, msg) into out (32 bytes). Keys longer than the 64-byte
 * block are hashed first, as RFC 2104 §2 says. */
void auth_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
		      uint8_t out[AUTH_SHA256_LEN]);

#endif
