/*
 * dh_sha256.h - SHA-256 (FIPS 180-4) for the digest of spec 5.3 and the blob trailer of 7.4.
 *
 * Owned here so the module depends on nothing beyond the C standard library. Sized for an
 * 8-bit MCU: a 104-byte context whose block buffer doubles as the 16-word rolling message
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

#ifdef __cplusplus
}
#endif

#endif /* DH_SHA256_H */
