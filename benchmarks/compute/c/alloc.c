/* Scratch memory without libc. On wasm it grows linear memory; natively it uses one big arena. */
#include "common.h"

#if defined(__wasm__)
extern unsigned char __heap_base;
static uintptr_t top = 0;

static void ensure(uintptr_t end) {
    uintptr_t have = __builtin_wasm_memory_size(0) * 65536u;
    if (end > have) {
        uintptr_t pages = (end - have + 65535u) / 65536u;
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) __builtin_trap();
    }
}

BH_EXPORT(bh_alloc) void *bh_alloc(uint32_t size) {
    if (top == 0) top = ((uintptr_t)&__heap_base + 15u) & ~(uintptr_t)15u;
    uintptr_t p = top;
    top = (top + size + 15u) & ~(uintptr_t)15u;
    ensure(top);
    return (void *)p;
}
BH_EXPORT(bh_mark) uint32_t bh_mark(void) {
    if (top == 0) top = ((uintptr_t)&__heap_base + 15u) & ~(uintptr_t)15u;
    return (uint32_t)top;
}
BH_EXPORT(bh_release) void bh_release(uint32_t mark) { top = mark; }
#else
#include <stdlib.h>
static unsigned char *arena = 0;
static uint32_t top = 0;
#define ARENA_SIZE (512u << 20)
void *bh_alloc(uint32_t size) {
    if (!arena) arena = malloc(ARENA_SIZE);
    if ((uint64_t)top + size > ARENA_SIZE) abort();
    void *p = arena + top;
    top = (top + size + 15u) & ~15u;
    return p;
}
uint32_t bh_mark(void) { return top; }
void bh_release(uint32_t mark) { top = mark; }
#endif

/* Plain loops: clang and gcc turn these into memset/memcpy-speed code (or the bulk-memory ops). */
void bh_zero(void *p, size_t n) {
    unsigned char *d = p;
    for (size_t i = 0; i < n; i++) d[i] = 0;
}
void bh_copy(void *dst, const void *src, size_t n) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++) d[i] = s[i];
}
