/* Shared declarations for the wasmhive compute workloads.
 * The same sources build three ways: zig cc for wasm32 (scalar and -msimd128, no libc: the host
 * passes buffers through linear memory) and gcc -O3 -march=native as a shared library for ctypes. */
#ifndef BH_COMMON_H
#define BH_COMMON_H
#include <stddef.h>
#include <stdint.h>

#if defined(__wasm__)
#define BH_EXPORT(name) __attribute__((export_name(#name)))
#else
#define BH_EXPORT(name) __attribute__((visibility("default")))
#endif

/* A bump allocator over linear memory (wasm) or a static arena (native): scratch for the encoders. */
void *bh_alloc(uint32_t size);
uint32_t bh_mark(void);
void bh_release(uint32_t mark);
void bh_zero(void *p, size_t n);
void bh_copy(void *dst, const void *src, size_t n);
#endif
