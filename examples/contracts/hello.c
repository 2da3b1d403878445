// A 32-bit canister in C against the IC System API (no libc): `greet` reads a Candid text argument
// and replies with a Candid text; `count` is a query of how many greetings were sent.
//   python -m ziglang cc --target=wasm32-freestanding -nostdlib -O2 -Wl,--no-entry hello.c -o hello.wasm
#include <stdint.h>

#define IC0(name) __attribute__((import_module("ic0"), import_name(#name)))
IC0(msg_arg_data_size) uint32_t ic0_msg_arg_data_size(void);
IC0(msg_arg_data_copy) void ic0_msg_arg_data_copy(void *dst, uint32_t off, uint32_t size);
IC0(msg_reply_data_append) void ic0_msg_reply_data_append(const void *src, uint32_t size);
IC0(msg_reply) void ic0_msg_reply(void);
IC0(trap) void ic0_trap(const char *src, uint32_t size);

static uint8_t buf[1024];
static uint8_t out[1100];
static uint64_t greetings;

static uint32_t leb_read(const uint8_t *p, uint32_t *pos) {
  uint32_t v = 0, shift = 0;
  for (;;) {
    uint8_t b = p[(*pos)++];
    v |= (uint32_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
    shift += 7;
  }
}

static uint32_t leb_write(uint8_t *p, uint32_t v) {
  uint32_t n = 0;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    p[n++] = b | (v ? 0x80 : 0);
  } while (v);
  return n;
}

static void fail(const char *msg) {
  uint32_t n = 0;
  while (msg[n]) n++;
  ic0_trap(msg, n);
}

// Candid: "DIDL", an empty type table, one argument of type text (0x71), then LEB128 length + bytes.
__attribute__((export_name("canister_update greet"))) void greet(void) {
  uint32_t size = ic0_msg_arg_data_size();
  if (size > sizeof buf) fail("argument too large");
  ic0_msg_arg_data_copy(buf, 0, size);
  uint32_t pos = 7;
  if (size < 8 || buf[0] != 'D' || buf[4] != 0 || buf[5] != 1 || buf[6] != 0x71) fail("expected (text)");
  uint32_t len = leb_read(buf, &pos);
  if (pos + len > size) fail("truncated text");
  static const char hello[] = "Hello, ";
  uint32_t text_len = 7 + len + 1, o = 0;
  out[o++] = 'D'; out[o++] = 'I'; out[o++] = 'D'; out[o++] = 'L'; out[o++] = 0; out[o++] = 1; out[o++] = 0x71;
  o += leb_write(out + o, text_len);
  for (uint32_t i = 0; i < 7; i++) out[o++] = (uint8_t)hello[i];
  for (uint32_t i = 0; i < len; i++) out[o++] = buf[pos + i];
  out[o++] = '!';
  greetings++;
  ic0_msg_reply_data_append(out, o);
  ic0_msg_reply();
}

__attribute__((export_name("canister_query count"))) void count(void) {
  uint8_t reply[15] = {'D', 'I', 'D', 'L', 0, 1, 0x78};
  for (int i = 0; i < 8; i++) reply[7 + i] = (uint8_t)(greetings >> (8 * i));
  ic0_msg_reply_data_append(reply, sizeof reply);
  ic0_msg_reply();
}
