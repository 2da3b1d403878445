// SIMD128 intrinsics: built with -msimd128, `wasmhive inspect` must report the "simd" feature.
#include <stdio.h>
#include <wasm_simd128.h>

__attribute__((export_name("sum4"))) float sum4(const float *p) {
    v128_t a = wasm_v128_load(p);
    v128_t b = wasm_f32x4_add(a, wasm_i32x4_shuffle(a, a, 2, 3, 0, 1));
    return wasm_f32x4_extract_lane(b, 0) + wasm_f32x4_extract_lane(b, 1);
}

int main(int argc, char **argv) {
    float x[4] = {1, 2, 3, (float)argc};
    printf("%f\n", sum4(x));
    return 0;
}
