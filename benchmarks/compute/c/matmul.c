/* C = A x B for n x n f32 matrices, row-major, blocked over i and k, four k steps per pass over a row
 * of C (one load and store of C[i][j] per four products instead of per product).
 * Every C[i][j] still accumulates its products one at a time in ascending k order, in all languages,
 * so results match bit for bit (the inputs are small integers, which makes every partial sum exact too). */
#include "common.h"
#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

#define BI 64
#define BK 128

BH_EXPORT(matmul) void matmul(const float *a, const float *b, float *c, int n) {
    bh_zero(c, (size_t)n * n * sizeof(float));
    for (int ii = 0; ii < n; ii += BI) {
        int iend = ii + BI < n ? ii + BI : n;
        for (int kk = 0; kk < n; kk += BK) {
            int kend = kk + BK < n ? kk + BK : n;
            for (int i = ii; i < iend; i++) {
                float *ci = c + (size_t)i * n;
                const float *ai = a + (size_t)i * n;
                int k = kk;
                for (; k + 4 <= kend; k += 4) {
                    float a0 = ai[k], a1 = ai[k + 1], a2 = ai[k + 2], a3 = ai[k + 3];
                    const float *b0 = b + (size_t)k * n, *b1 = b0 + n, *b2 = b1 + n, *b3 = b2 + n;
                    int j = 0;
#if defined(__wasm_simd128__)
                    v128_t v0 = wasm_f32x4_splat(a0), v1 = wasm_f32x4_splat(a1);
                    v128_t v2 = wasm_f32x4_splat(a2), v3 = wasm_f32x4_splat(a3);
                    /* Two independent vectors per step: the adds into one vector form a dependency chain. */
                    for (; j + 8 <= n; j += 8) {
                        v128_t s = wasm_v128_load(ci + j), t = wasm_v128_load(ci + j + 4);
                        s = wasm_f32x4_add(s, wasm_f32x4_mul(v0, wasm_v128_load(b0 + j)));
                        t = wasm_f32x4_add(t, wasm_f32x4_mul(v0, wasm_v128_load(b0 + j + 4)));
                        s = wasm_f32x4_add(s, wasm_f32x4_mul(v1, wasm_v128_load(b1 + j)));
                        t = wasm_f32x4_add(t, wasm_f32x4_mul(v1, wasm_v128_load(b1 + j + 4)));
                        s = wasm_f32x4_add(s, wasm_f32x4_mul(v2, wasm_v128_load(b2 + j)));
                        t = wasm_f32x4_add(t, wasm_f32x4_mul(v2, wasm_v128_load(b2 + j + 4)));
                        s = wasm_f32x4_add(s, wasm_f32x4_mul(v3, wasm_v128_load(b3 + j)));
                        t = wasm_f32x4_add(t, wasm_f32x4_mul(v3, wasm_v128_load(b3 + j + 4)));
                        wasm_v128_store(ci + j, s);
                        wasm_v128_store(ci + j + 4, t);
                    }
#endif
                    for (; j < n; j++) ci[j] = (((ci[j] + a0 * b0[j]) + a1 * b1[j]) + a2 * b2[j]) + a3 * b3[j];
                }
                for (; k < kend; k++) {
                    float aik = ai[k];
                    const float *bk = b + (size_t)k * n;
                    for (int j = 0; j < n; j++) ci[j] += aik * bk[j];
                }
            }
        }
    }
}
