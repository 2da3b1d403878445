/* The docs:math calculator in C, with the canonical ABI written by hand (no bindings generator).
 *
 * Build (see build.sh):  zig cc --target=wasm32-freestanding -nostdlib -O2 -Wl,--no-entry math.c -o core.wasm
 *                        wasm-tools component embed ../wit/math.wit core.wasm --world calculator -o embed.wasm
 *                        wasm-tools component new embed.wasm -o math-c.wasm
 *
 * Canonical ABI in brief: `add(u32, u32) -> u32` is just a core function. A string or list argument
 * arrives as (pointer, length) into our memory, written there through `cabi_realloc`. Results that
 * do not fit one core value are written to memory and their address returned. After the host has
 * read a result it calls `cabi_post_<name>`, where we free everything the call allocated.
 */
#include <stddef.h>
#include <stdint.h>

extern unsigned char __heap_base;
static uintptr_t heap_top = 0;

/* A bump allocator reset after each call: nothing outlives a call in this component. */
__attribute__((export_name("cabi_realloc")))
void *cabi_realloc(void *old, size_t old_size, size_t align, size_t new_size) {
    if (heap_top == 0) heap_top = (uintptr_t)&__heap_base;
    uintptr_t p = (heap_top + align - 1) & ~(uintptr_t)(align - 1);
    uintptr_t end = p + new_size;
    size_t have = __builtin_wasm_memory_size(0) * 65536;
    if (end > have && __builtin_wasm_memory_grow(0, (end - have + 65535) / 65536) == (size_t)-1)
        __builtin_trap();
    heap_top = end;
    unsigned char *dst = (unsigned char *)p, *src = old;
    for (size_t i = 0; old && i < old_size && i < new_size; i++) dst[i] = src[i];
    return (void *)p;
}

static void reset_heap(void) { heap_top = (uintptr_t)&__heap_base; }

__attribute__((export_name("add")))
uint32_t add(uint32_t a, uint32_t b) { return a + b; }

/* greet: func(name: string) -> string.  Returns the address of (ptr, len). */
static uint32_t ret_area[4] __attribute__((aligned(8)));

__attribute__((export_name("docs:math/ops#greet")))
uint32_t *greet(const char *name, size_t len) {
    static const char hello[] = "Hello, ";
    char *out = cabi_realloc(NULL, 0, 1, 7 + len + 1);
    size_t n = 0;
    for (size_t i = 0; i < 7; i++) out[n++] = hello[i];
    for (size_t i = 0; i < len; i++) out[n++] = name[i];
    out[n++] = '!';
    ret_area[0] = (uint32_t)(uintptr_t)out;
    ret_area[1] = (uint32_t)n;
    return ret_area;
}

__attribute__((export_name("cabi_post_docs:math/ops#greet")))
void greet_post(uint32_t *ret) { (void)ret; reset_heap(); }

/* stats: func(values: list<s32>) -> summary { count: u32, min: s32, max: s32, mean: f64 }.
 * Record layout: count @0, min @4, max @8, mean @16 (f64 aligns to 8). */
struct summary { uint32_t count; int32_t min; int32_t max; uint32_t pad; double mean; };
static struct summary summary_area;

__attribute__((export_name("docs:math/ops#stats")))
struct summary *stats(const int32_t *values, size_t len) {
    struct summary s = {0, 0, 0, 0, 0.0};
    if (len) {
        int64_t sum = 0;
        s.min = s.max = values[0];
        for (size_t i = 0; i < len; i++) {
            int32_t v = values[i];
            sum += v;
            if (v < s.min) s.min = v;
            if (v > s.max) s.max = v;
        }
        s.count = (uint32_t)len;
        s.mean = (double)sum / (double)len;
    }
    summary_area = s;
    return &summary_area;
}

__attribute__((export_name("cabi_post_docs:math/ops#stats")))
void stats_post(struct summary *ret) { (void)ret; reset_heap(); }

/* divide: func(a: s32, b: s32) -> result<s32, string>.
 * Layout: discriminant (u8) @0 (0 = ok, 1 = err); payload @4: the s32, or the string's (ptr, len). */
static uint32_t result_area[3];

__attribute__((export_name("docs:math/ops#divide")))
uint32_t *divide(int32_t a, int32_t b) {
    static const char msg[] = "division by zero";
    if (b == 0) {
        result_area[0] = 1;
        result_area[1] = (uint32_t)(uintptr_t)msg;
        result_area[2] = sizeof msg - 1;
    } else if (a == INT32_MIN && b == -1) {
        result_area[0] = 0;
        result_area[1] = (uint32_t)INT32_MIN; /* wraps, like the other providers' 32-bit arithmetic */
    } else {
        result_area[0] = 0;
        result_area[1] = (uint32_t)(a / b);
    }
    return result_area;
}
