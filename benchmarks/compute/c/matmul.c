/* C = A x B for n x n f32 matrices, row-major, blocked over i and k.
 * Every C[i][j] accumulates its products in ascending k order, in all languages, so results match
 * bit for bit (the inputs are small integers, which makes every partial sum exact anyway). */
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
                for (int k = kk; k < kend; k++) {
                    float aik = a[(size_t)i * n + k];
                    const float *bk = b + (size_t)k * n;
                    int j = 0;
#if defined(__wasm_simd128__)
                    v128_t va = wasm_f32x4_splat(aik);
                    for (; j + 8 <= n; j += 8) {
                        v128_t c0 = wasm_v128_load(ci + j), c1 = wasm_v128_load(ci + j + 4);
                        c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(va, wasm_v128_load(bk + j)));
                        c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(va, wasm_v128_load(bk + j + 4)));
                        wasm_v128_store(ci + j, c0);
                        wasm_v128_store(ci + j + 4, c1);
                    }
#endif
                    for (; j < n; j++) ci[j] += aik * bk[j];
                }
            }
        }
    }
}
