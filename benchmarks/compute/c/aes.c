/* AES-256 in CTR mode (128-bit big-endian counter, as NIST SP 800-38A and `cryptography` use).
 * The classic four-T-table software AES; the tables are computed from GF(2^8) arithmetic at first use. */
#include "common.h"

static uint8_t SBOX[256];
static uint32_t TE0[256], TE1[256], TE2[256], TE3[256];
static int ready = 0;

static uint8_t xtime(uint8_t x) { return (uint8_t)((x << 1) ^ ((x & 0x80) ? 0x1b : 0)); }

static void init_tables(void) {
    /* Walk the multiplicative group with generator 3 to get inverses, then the affine map. */
    uint8_t p = 1, q = 1;
    do {
        p = p ^ xtime(p);                           /* p *= 3 */
        q ^= q << 1; q ^= q << 2; q ^= q << 4;      /* q /= 3 */
        if (q & 0x80) q ^= 0x09;
        uint8_t x = q ^ (uint8_t)((q << 1) | (q >> 7)) ^ (uint8_t)((q << 2) | (q >> 6))
                      ^ (uint8_t)((q << 3) | (q >> 5)) ^ (uint8_t)((q << 4) | (q >> 4));
        SBOX[p] = x ^ 0x63;
    } while (p != 1);
    SBOX[0] = 0x63;
    for (int i = 0; i < 256; i++) {
        uint32_t s = SBOX[i], s2 = xtime((uint8_t)s), s3 = s2 ^ s;
        uint32_t t = s2 << 24 | s << 16 | s << 8 | s3;
        TE0[i] = t;
        TE1[i] = t >> 8 | t << 24;
        TE2[i] = t >> 16 | t << 16;
        TE3[i] = t >> 24 | t << 8;
    }
    ready = 1;
}

static void expand_key(const uint8_t key[32], uint32_t rk[60]) {
    for (int i = 0; i < 8; i++)
        rk[i] = (uint32_t)key[4 * i] << 24 | (uint32_t)key[4 * i + 1] << 16 | (uint32_t)key[4 * i + 2] << 8 | key[4 * i + 3];
    uint8_t rcon = 1;
    for (int i = 8; i < 60; i++) {
        uint32_t t = rk[i - 1];
        if (i % 8 == 0) {
            t = (uint32_t)SBOX[(t >> 16) & 255] << 24 | (uint32_t)SBOX[(t >> 8) & 255] << 16
              | (uint32_t)SBOX[t & 255] << 8 | SBOX[t >> 24];
            t ^= (uint32_t)rcon << 24;
            rcon = xtime(rcon);
        } else if (i % 8 == 4) {
            t = (uint32_t)SBOX[t >> 24] << 24 | (uint32_t)SBOX[(t >> 16) & 255] << 16
              | (uint32_t)SBOX[(t >> 8) & 255] << 8 | SBOX[t & 255];
        }
        rk[i] = rk[i - 8] ^ t;
    }
}

static void encrypt_block(const uint32_t rk[60], const uint32_t in[4], uint32_t out[4]) {
    uint32_t s0 = in[0] ^ rk[0], s1 = in[1] ^ rk[1], s2 = in[2] ^ rk[2], s3 = in[3] ^ rk[3];
    for (int r = 1; r < 14; r++) {
        const uint32_t *k = rk + 4 * r;
        uint32_t t0 = TE0[s0 >> 24] ^ TE1[(s1 >> 16) & 255] ^ TE2[(s2 >> 8) & 255] ^ TE3[s3 & 255] ^ k[0];
        uint32_t t1 = TE0[s1 >> 24] ^ TE1[(s2 >> 16) & 255] ^ TE2[(s3 >> 8) & 255] ^ TE3[s0 & 255] ^ k[1];
        uint32_t t2 = TE0[s2 >> 24] ^ TE1[(s3 >> 16) & 255] ^ TE2[(s0 >> 8) & 255] ^ TE3[s1 & 255] ^ k[2];
        uint32_t t3 = TE0[s3 >> 24] ^ TE1[(s0 >> 16) & 255] ^ TE2[(s1 >> 8) & 255] ^ TE3[s2 & 255] ^ k[3];
        s0 = t0; s1 = t1; s2 = t2; s3 = t3;
    }
    const uint32_t *k = rk + 56;
#define SB(x, sh) ((uint32_t)SBOX[((x) >> (sh)) & 255])
    out[0] = (SB(s0, 24) << 24 | SB(s1, 16) << 16 | SB(s2, 8) << 8 | SB(s3, 0)) ^ k[0];
    out[1] = (SB(s1, 24) << 24 | SB(s2, 16) << 16 | SB(s3, 8) << 8 | SB(s0, 0)) ^ k[1];
    out[2] = (SB(s2, 24) << 24 | SB(s3, 16) << 16 | SB(s0, 8) << 8 | SB(s1, 0)) ^ k[2];
    out[3] = (SB(s3, 24) << 24 | SB(s0, 16) << 16 | SB(s1, 8) << 8 | SB(s2, 0)) ^ k[3];
#undef SB
}

BH_EXPORT(aes256_ctr) void aes256_ctr(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in,
                                      uint8_t *out, uint32_t n) {
    if (!ready) init_tables();
    uint32_t rk[60], ctr[4], ks[4];
    expand_key(key, rk);
    for (int i = 0; i < 4; i++)
        ctr[i] = (uint32_t)iv[4 * i] << 24 | (uint32_t)iv[4 * i + 1] << 16 | (uint32_t)iv[4 * i + 2] << 8 | iv[4 * i + 3];
    for (uint32_t off = 0; off < n; off += 16) {
        encrypt_block(rk, ctr, ks);
        uint32_t m = n - off < 16 ? n - off : 16;
        for (uint32_t j = 0; j < m; j++) out[off + j] = in[off + j] ^ (uint8_t)(ks[j >> 2] >> (24 - 8 * (j & 3)));
        for (int i = 3; i >= 0; i--) if (++ctr[i] != 0) break;
    }
}
