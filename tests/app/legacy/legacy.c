// A Spin 0.x HTTP module written by hand against the wit-bindgen 0.2 ABI of spin-http.wit (what the
// Spin SDKs generated before components): exports `canonical_abi_realloc`, `canonical_abi_free` and
// `handle-http-request(method, uri ptr/len, headers ptr/len, params ptr/len, body tag/ptr/len)`
// returning a pointer to the 28-byte response record. Built as a WASI reactor with zig.
//
// The path picks what it answers (after the route prefix):
//   .../echo         200; x-method, x-uri, x-header-count, x-echo (request header x-echo), x-path-info,
//                    x-env (env GREETING); body "body=<request body>" or "no body"
//   .../bad-pointer  a headers list pointing outside memory      .../bad-body    a body outside memory
//   .../bad-status   status 42                                     .../bad-header  a header value with CRLF
//   .../bad-return   a response pointer outside memory            .../trap        a trap
//   .../config       spin-config's get-config: x-config (key "greeting"), x-config-missing ("missing"),
//                    x-config-bad ("Bad-Key"): the value, or "err:<case>:<message>"
//   .../config-bad-pointer   get-config with a key pointer outside memory (the host must refuse it)
//   .../outbound     wasi-outbound-http's request: POST "ping" with x-from: legacy to the URL in the
//                    request header x-target; answers x-outbound ("ok <status>" or "err <http-error>"),
//                    x-outbound-type (the response's content-type) and the response body
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char *ptr; uint32_t len; } str_t;
typedef struct { str_t name, value; } pair_t;

__attribute__((export_name("canonical_abi_realloc")))
void *canonical_abi_realloc(void *ptr, uint32_t old_size, uint32_t align, uint32_t new_size) {
  if (new_size == 0) return (void *)(uintptr_t)align;
  void *out = realloc(ptr, new_size);
  if (!out) abort();
  return out;
}

__attribute__((export_name("canonical_abi_free")))
void canonical_abi_free(void *ptr, uint32_t size, uint32_t align) {
  if (size) free(ptr);
}

// spin-config's get-config (wit-bindgen 0.2 import): key ptr/len, then where to write the result.
__attribute__((import_module("spin-config"), import_name("get-config")))
void spin_config_get_config(char *key, uint32_t key_len, uint8_t *ret);

// wasi-outbound-http's request (wit-bindgen 0.2 import): the request flattened, then the result pointer.
__attribute__((import_module("wasi-outbound-http"), import_name("request")))
void wasi_outbound_http_request(int32_t method, char *uri, uint32_t uri_len, pair_t *headers, uint32_t nheaders,
                                pair_t *params, uint32_t nparams, int32_t has_body, const void *body, uint32_t body_len,
                                uint8_t *ret);

static uint8_t HTTP_RET[32] __attribute__((aligned(4)));
static char OUTBOUND[64];

static char CONFIG_OUT[3][128];
static uint8_t CONFIG_RET[16] __attribute__((aligned(4)));

static str_t config(int slot, const char *key, uint32_t key_len) {
  spin_config_get_config((char *)key, key_len, CONFIG_RET);
  char *ptr = (char *)(uintptr_t)*(uint32_t *)(CONFIG_RET + (CONFIG_RET[0] ? 8 : 4));
  uint32_t len = *(uint32_t *)(CONFIG_RET + (CONFIG_RET[0] ? 12 : 8));
  if (CONFIG_RET[0])
    snprintf(CONFIG_OUT[slot], sizeof CONFIG_OUT[slot], "err:%d:%.*s", CONFIG_RET[4], (int)len, ptr);
  else
    snprintf(CONFIG_OUT[slot], sizeof CONFIG_OUT[slot], "%.*s", (int)len, ptr);
  return (str_t){CONFIG_OUT[slot], strlen(CONFIG_OUT[slot])};
}

static const char *METHODS[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
static uint32_t RET[7];  // the response record: 28 bytes, aligned to 4
static pair_t OUT[8];
static char COUNT[16];

static int ends_with(const char *s, uint32_t n, const char *suffix) {
  uint32_t k = strlen(suffix);
  return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static str_t lit(const char *s) { return (str_t){(char *)s, strlen(s)}; }

static str_t header(pair_t *h, uint32_t n, const char *name) {
  for (uint32_t i = 0; i < n; i++)
    if (h[i].name.len == strlen(name) && memcmp(h[i].name.ptr, name, h[i].name.len) == 0) return h[i].value;
  return lit("");
}

static void set(uint16_t status, pair_t *headers, uint32_t nheaders, int has_body, const void *body, uint32_t blen) {
  uint8_t *r = (uint8_t *)RET;
  memset(r, 0, sizeof RET);
  *(uint16_t *)(r + 0) = status;
  r[4] = headers != 0;
  *(uint32_t *)(r + 8) = (uint32_t)(uintptr_t)headers;
  *(uint32_t *)(r + 12) = nheaders;
  r[16] = has_body;
  *(uint32_t *)(r + 20) = (uint32_t)(uintptr_t)body;
  *(uint32_t *)(r + 24) = blen;
}

__attribute__((export_name("handle-http-request")))
uint32_t handle_http_request(int32_t method, char *uri, uint32_t uri_len, pair_t *headers, uint32_t nheaders,
                             pair_t *params, uint32_t nparams, int32_t has_body, uint8_t *body, uint32_t body_len) {
  // The path part of the uri (without the query).
  uint32_t path_len = 0;
  while (path_len < uri_len && uri[path_len] != '?') path_len++;
  fprintf(stderr, "legacy module: %s %.*s\n", METHODS[method], (int)uri_len, uri);

  if (ends_with(uri, path_len, "/bad-pointer")) {
    set(200, (pair_t *)0xFFFFFFF0u, 4, 0, 0, 0);
  } else if (ends_with(uri, path_len, "/bad-body")) {
    set(200, 0, 0, 1, (void *)0x7FFFFFF0u, 64);
  } else if (ends_with(uri, path_len, "/bad-status")) {
    set(42, 0, 0, 0, 0, 0);
  } else if (ends_with(uri, path_len, "/bad-header")) {
    OUT[0] = (pair_t){lit("x-evil"), lit("a\r\nset-cookie: injected=1")};
    set(200, OUT, 1, 0, 0, 0);
  } else if (ends_with(uri, path_len, "/bad-return")) {
    return 0xFFFFFF00u;
  } else if (ends_with(uri, path_len, "/config")) {
    OUT[0] = (pair_t){lit("x-config"), config(0, "greeting", 8)};
    OUT[1] = (pair_t){lit("x-config-missing"), config(1, "missing", 7)};
    OUT[2] = (pair_t){lit("x-config-bad"), config(2, "Bad-Key", 7)};
    set(200, OUT, 3, 0, 0, 0);
  } else if (ends_with(uri, path_len, "/config-bad-pointer")) {
    spin_config_get_config((char *)0xFFFFFFF0u, 64, CONFIG_RET);
    set(200, 0, 0, 0, 0, 0);
  } else if (ends_with(uri, path_len, "/outbound")) {
    str_t target = header(headers, nheaders, "x-target");
    pair_t out_headers[1] = {{lit("x-from"), lit("legacy")}};
    wasi_outbound_http_request(1, target.ptr, target.len, out_headers, 1, 0, 0, 1, "ping", 4, HTTP_RET);
    if (HTTP_RET[0]) {
      snprintf(OUTBOUND, sizeof OUTBOUND, "err %d", HTTP_RET[4]);
      OUT[0] = (pair_t){lit("x-outbound"), lit(OUTBOUND)};
      set(200, OUT, 1, 0, 0, 0);
    } else {
      snprintf(OUTBOUND, sizeof OUTBOUND, "ok %d", *(uint16_t *)(HTTP_RET + 4));
      OUT[0] = (pair_t){lit("x-outbound"), lit(OUTBOUND)};
      OUT[1] = (pair_t){lit("x-outbound-type"), lit("")};
      if (HTTP_RET[8])
        OUT[1].value = header((pair_t *)(uintptr_t)*(uint32_t *)(HTTP_RET + 12), *(uint32_t *)(HTTP_RET + 16),
                              "content-type");
      set(200, OUT, 2, HTTP_RET[20], (void *)(uintptr_t)*(uint32_t *)(HTTP_RET + 24), *(uint32_t *)(HTTP_RET + 28));
    }
  } else if (ends_with(uri, path_len, "/trap")) {
    __builtin_trap();
  } else {
    snprintf(COUNT, sizeof COUNT, "%u", nheaders);
    const char *env = getenv("GREETING");
    OUT[0] = (pair_t){lit("x-method"), lit(METHODS[method])};
    OUT[1] = (pair_t){lit("x-uri"), (str_t){uri, uri_len}};
    OUT[2] = (pair_t){lit("x-header-count"), lit(COUNT)};
    OUT[3] = (pair_t){lit("x-echo"), header(headers, nheaders, "x-echo")};
    OUT[4] = (pair_t){lit("x-path-info"), header(headers, nheaders, "spin-path-info")};
    OUT[5] = (pair_t){lit("x-env"), lit(env ? env : "")};
    OUT[6] = (pair_t){lit("x-params"), lit(nparams ? "some" : "none")};
    if (has_body) {
      uint8_t *out = canonical_abi_realloc(0, 0, 1, body_len + 5);
      memcpy(out, "body=", 5);
      memcpy(out + 5, body, body_len);
      set(200, OUT, 7, 1, out, body_len + 5);
    } else {
      set(200, OUT, 7, 1, "no body", 7);
    }
  }
  return (uint32_t)(uintptr_t)RET;
}
