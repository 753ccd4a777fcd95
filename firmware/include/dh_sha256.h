/* SPDX-License-Identifier: MIT */
/*
 * dh_sha256.h - SHA-256 (FIPS 180-4) for the digest of spec 5.3 and the blob trailer of 7.4,
 * and HMAC-SHA256 (RFC 2104) on top of it for the possession proof of spec 10.3.
 *
 * Owned here so the module depends on nothing beyond the C standard library. Sized for an
 * 8-bit MCU: a 100-byte context whose block buffer doubles as the 16-word rolling message
 * schedule (no 64- or 256-byte schedule on the stack), and the round constants in flash on AVR.
 */
#ifndef DH_SHA256_H
#define DH_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dh_sha256 {
    uint32_t state[8];
    /* Bytes hashed so far; 2^32 bytes is far beyond any config blob. */
    uint32_t count;
    /* The block being filled, as big-endian words; compress() consumes it in place. */
    uint32_t w[16];
} dh_sha256;

void dh_sha256_init(dh_sha256 *ctx);
void dh_sha256_update(dh_sha256 *ctx, const uint8_t *data, size_t len);
/* Writes the digest and wipes the context (it may hold the tail of a secret). */
void dh_sha256_final(dh_sha256 *ctx, uint8_t digest[32]);
/* Finishes the hash and tells whether it equals `expected`, without a 32-byte digest buffer
 * (COMMIT's peak stack on an 8-bit MCU); wipes the context. */
int dh_sha256_final_equals(dh_sha256 *ctx, const uint8_t expected[32]);

/*
 * HMAC-SHA256 (RFC 2104 over SHA-256, 64-byte block) with the one context above: no key copy
 * and no second context, so it costs no more RAM than a plain hash. The caller keeps K0 (the
 * key as used in the pads) and hands it to both steps:
 *
 *     k0_len = dh_hmac_sha256_key(&ctx, key, key_len);   (only if the key may exceed 64 bytes)
 *     dh_hmac_sha256_init(&ctx, key, k0_len);
 *     dh_sha256_update(&ctx, message, n);                (as many times as needed)
 *     dh_hmac_sha256_final(&ctx, key, k0_len, mac);
 *
 * RFC 2104 section 2: a key longer than DH_HMAC_BLOCK_LEN bytes is replaced by its SHA-256; a
 * shorter one is padded with zeros (the padding is implicit here).
 */
#define DH_HMAC_BLOCK_LEN 64u
#define DH_HMAC_LEN 32u

/* Makes key[0..key_len) K0 in place: a key over DH_HMAC_BLOCK_LEN bytes becomes its 32-byte
 * SHA-256 (the rest of the buffer is wiped); a shorter one stays. Returns K0's length. */
size_t dh_hmac_sha256_key(dh_sha256 *ctx, uint8_t *key, size_t key_len);
/* Starts the inner hash over K0 ^ ipad. k0_len is at most DH_HMAC_BLOCK_LEN. */
void dh_hmac_sha256_init(dh_sha256 *ctx, const uint8_t *k0, size_t k0_len);
/* Finishes the inner hash and runs the outer one over K0 ^ opad; `mac` (32 bytes, not
 * overlapping k0) receives the result; wipes the context. */
void dh_hmac_sha256_final(dh_sha256 *ctx, const uint8_t *k0, size_t k0_len,
                          uint8_t mac[32]);

#ifdef __cplusplus
}
#endif

#endif /* DH_SHA256_H */
