/* SPDX-License-Identifier: MIT */
/*
 * dh_sha256.c - SHA-256 (FIPS 180-4), small rather than fast.
 *
 * Bytes are gathered straight into big-endian words and the message schedule is computed in
 * place over those 16 words: on an ATmega328P that keeps a COMMIT's stack within the budget
 * of dh_device.h. The round constants live in flash on AVR (256 bytes of RAM otherwise).
 * HMAC (RFC 2104) reuses the caller's one context for the key reduction, the inner and the
 * outer hash, and never copies the key: the pads are applied byte by byte as it is absorbed.
 */
#include "dh_sha256.h"

#include <string.h>

#include "dh_rom.h"

static const uint32_t K[64] DH_ROM = {
    0x428a2f98UL, 0x71374491UL, 0xb5c0fbcfUL, 0xe9b5dba5UL, 0x3956c25bUL, 0x59f111f1UL,
    0x923f82a4UL, 0xab1c5ed5UL, 0xd807aa98UL, 0x12835b01UL, 0x243185beUL, 0x550c7dc3UL,
    0x72be5d74UL, 0x80deb1feUL, 0x9bdc06a7UL, 0xc19bf174UL, 0xe49b69c1UL, 0xefbe4786UL,
    0x0fc19dc6UL, 0x240ca1ccUL, 0x2de92c6fUL, 0x4a7484aaUL, 0x5cb0a9dcUL, 0x76f988daUL,
    0x983e5152UL, 0xa831c66dUL, 0xb00327c8UL, 0xbf597fc7UL, 0xc6e00bf3UL, 0xd5a79147UL,
    0x06ca6351UL, 0x14292967UL, 0x27b70a85UL, 0x2e1b2138UL, 0x4d2c6dfcUL, 0x53380d13UL,
    0x650a7354UL, 0x766a0abbUL, 0x81c2c92eUL, 0x92722c85UL, 0xa2bfe8a1UL, 0xa81a664bUL,
    0xc24b8b70UL, 0xc76c51a3UL, 0xd192e819UL, 0xd6990624UL, 0xf40e3585UL, 0x106aa070UL,
    0x19a4c116UL, 0x1e376c08UL, 0x2748774cUL, 0x34b0bcb5UL, 0x391c0cb3UL, 0x4ed8aa4aUL,
    0x5b9cca4fUL, 0x682e6ff3UL, 0x748f82eeUL, 0x78a5636fUL, 0x84c87814UL, 0x8cc70208UL,
    0x90befffaUL, 0xa4506cebUL, 0xbef9a3f7UL, 0xc67178f2UL};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

static void compress(dh_sha256 *ctx)
{
    uint32_t v[8];
    uint32_t *w = ctx->w;
    unsigned i, j;

    memcpy(v, ctx->state, sizeof v);
    for (i = 0; i < 64u; i++) {
        uint32_t t1, t2;
        if (i >= 16u) {
            uint32_t w15 = w[(i + 1u) & 15u], w2 = w[(i + 14u) & 15u];
            w[i & 15u] += (rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3)) + w[(i + 9u) & 15u] +
                          (rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10));
        }
        t1 = v[7] + (rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25)) +
             ((v[4] & v[5]) ^ (~v[4] & v[6])) + DH_ROM_U32(&K[i]) + w[i & 15u];
        t2 = (rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22)) +
             ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        for (j = 7u; j > 0u; j--) {
            v[j] = v[j - 1u];
        }
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (j = 0; j < 8u; j++) {
        ctx->state[j] += v[j];
    }
    memset(w, 0, sizeof ctx->w);
}

static void put_byte(dh_sha256 *ctx, uint8_t b)
{
    unsigned used = (unsigned)(ctx->count & 63u);
    ctx->w[used >> 2] |= (uint32_t)b << (24u - 8u * (used & 3u));
    ctx->count++;
    if (used == 63u) {
        compress(ctx);
    }
}

void dh_sha256_init(dh_sha256 *ctx)
{
    static const uint32_t H0[8] DH_ROM = {0x6a09e667UL, 0xbb67ae85UL, 0x3c6ef372UL,
                                          0xa54ff53aUL, 0x510e527fUL, 0x9b05688cUL,
                                          0x1f83d9abUL, 0x5be0cd19UL};
    unsigned i;
    for (i = 0; i < 8u; i++) {
        ctx->state[i] = DH_ROM_U32(&H0[i]);
    }
    ctx->count = 0;
    memset(ctx->w, 0, sizeof ctx->w);
}

void dh_sha256_update(dh_sha256 *ctx, const uint8_t *data, size_t len)
{
    while (len-- > 0u) {
        put_byte(ctx, *data++);
    }
}

static void finish(dh_sha256 *ctx)
{
    /* Bit length from the byte count: the top 3 bits move into the high word. */
    uint32_t hi = ctx->count >> 29, lo = ctx->count << 3;

    put_byte(ctx, 0x80u);
    while ((ctx->count & 63u) != 56u) {
        put_byte(ctx, 0);
    }
    ctx->w[14] = hi;
    ctx->w[15] = lo;
    compress(ctx);
}

static uint8_t digest_byte(const dh_sha256 *ctx, unsigned i)
{
    return (uint8_t)(ctx->state[i >> 2] >> (24u - 8u * (i & 3u)));
}

void dh_sha256_final(dh_sha256 *ctx, uint8_t digest[32])
{
    unsigned i;
    finish(ctx);
    for (i = 0; i < 32u; i++) {
        digest[i] = digest_byte(ctx, i);
    }
    memset(ctx, 0, sizeof *ctx);
}

int dh_sha256_final_equals(dh_sha256 *ctx, const uint8_t expected[32])
{
    uint8_t diff = 0;
    unsigned i;
    finish(ctx);
    for (i = 0; i < 32u; i++) {
        diff |= (uint8_t)(digest_byte(ctx, i) ^ expected[i]);
    }
    memset(ctx, 0, sizeof *ctx);
    return diff == 0u;
}

/* ---- HMAC-SHA256 (RFC 2104). ----------------------------------------------------------- */

#define HMAC_IPAD 0x36u
#define HMAC_OPAD 0x5Cu

size_t dh_hmac_sha256_key(dh_sha256 *ctx, uint8_t *key, size_t key_len)
{
    if (key_len <= DH_HMAC_BLOCK_LEN) {
        return key_len;
    }
    dh_sha256_init(ctx);
    dh_sha256_update(ctx, key, key_len);
    dh_sha256_final(ctx, key);
    memset(key + DH_HMAC_LEN, 0, key_len - DH_HMAC_LEN);
    return DH_HMAC_LEN;
}

/* A fresh hash over K0 ^ pad, K0 padded with zeros to the block. */
static void start_padded(dh_sha256 *ctx, const uint8_t *k0, size_t k0_len, uint8_t pad)
{
    unsigned i;
    dh_sha256_init(ctx);
    for (i = 0; i < DH_HMAC_BLOCK_LEN; i++) {
        put_byte(ctx, (uint8_t)((i < k0_len ? k0[i] : 0u) ^ pad));
    }
}

void dh_hmac_sha256_init(dh_sha256 *ctx, const uint8_t *k0, size_t k0_len)
{
    start_padded(ctx, k0, k0_len, HMAC_IPAD);
}

void dh_hmac_sha256_final(dh_sha256 *ctx, const uint8_t *k0, size_t k0_len, uint8_t mac[32])
{
    /* The inner digest goes into `mac` and is absorbed before the outer one overwrites it. */
    dh_sha256_final(ctx, mac);
    start_padded(ctx, k0, k0_len, HMAC_OPAD);
    dh_sha256_update(ctx, mac, DH_HMAC_LEN);
    dh_sha256_final(ctx, mac);
}
