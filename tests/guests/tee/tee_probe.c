/* tee_probe: a WASI command exercising the wasmhive_tee functions (tests/test_tee_core.py).
 *
 *   tee_probe seal code|signer   stdin -> sealed bytes on stdout
 *   tee_probe unseal             sealed bytes on stdin -> data on stdout
 *   tee_probe report NONCE DATA  evidence token on stdout
 *   tee_probe measurement        the measurement (hex) on stdout
 *   tee_probe fault              pointers outside memory: prints the codes
 *   tee_probe small              an output buffer too small: prints the code
 *   tee_probe variant            which build this is
 *
 * A failing call prints "error CODE: MESSAGE" on stderr and exits with -CODE. As a WAGI module
 * ($GATEWAY_INTERFACE set; the op and its arguments come from the query string) it answers CGI:
 * the output after a Content-Type header, or Status 422 and the error.
 * Built twice: with -DVARIANT=2 it is another module (another measurement) doing the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wasmhive_tee.h"

#ifndef VARIANT
#define VARIANT 1
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
static const char *variant = "tee_probe variant " STR(VARIANT);

static uint8_t in[1 << 20];
static uint8_t out[(1 << 20) + 4096];

static int cgi; /* run as a WAGI (CGI) module: answer with CGI headers on stdout */

static int fail(int32_t code) {
    char msg[512];
    int32_t n = wasmhive_tee_last_error((uint8_t *)msg, sizeof msg - 1);
    msg[n < 0 ? 0 : n] = 0;
    fprintf(stderr, "error %d: %s\n", (int)code, msg);
    if (cgi) {
        printf("Status: 422\nContent-Type: text/plain\n\nerror %d: %s\n", (int)code, msg);
        return 0;
    }
    return (int)-code;
}

static size_t read_all(void) {
    size_t n = 0;
    ssize_t r;
    while (n < sizeof in && (r = read(0, in + n, sizeof in - n)) > 0) n += (size_t)r;
    return n;
}

static void write_all(const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0) exit(3);
        p += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    cgi = getenv("GATEWAY_INTERFACE") != NULL;
    if (argc < 2) return 64;
    const char *op = argv[1];
    int32_t rc;
    if (!strcmp(op, "seal") && argc == 3) {
        int32_t policy = !strcmp(argv[2], "signer") ? WASMHIVE_TEE_SAME_SIGNER : WASMHIVE_TEE_SAME_CODE;
        size_t n = read_all();
        rc = wasmhive_tee_seal(policy, in, (uint32_t)n, out, sizeof out);
    } else if (!strcmp(op, "unseal")) {
        size_t n = read_all();
        rc = wasmhive_tee_unseal(in, (uint32_t)n, out, sizeof out);
    } else if (!strcmp(op, "report") && argc == 4) {
        rc = wasmhive_tee_report((const uint8_t *)argv[2], (uint32_t)strlen(argv[2]), (const uint8_t *)argv[3],
                                 (uint32_t)strlen(argv[3]), out, sizeof out);
    } else if (!strcmp(op, "variant")) {
        puts(variant);
        return 0;
    } else if (!strcmp(op, "measurement")) {
        rc = wasmhive_tee_measurement(out, sizeof out);
    } else if (!strcmp(op, "fault")) {
        /* an input running past the end of memory, an output pointer far outside it, a wrapping length */
        int32_t a = wasmhive_tee_seal(1, (const uint8_t *)0xFFFFFF00u, 0x1000, out, sizeof out);
        int32_t b = wasmhive_tee_seal(1, in, 4, (uint8_t *)0xFFFFFFF0u, 1000);
        int32_t c = wasmhive_tee_unseal(in, 0xFFFFFFFFu, out, sizeof out);
        int32_t d = wasmhive_tee_measurement((uint8_t *)0x7FFFFFF0, 64);
        printf("%d %d %d %d\n", (int)a, (int)b, (int)c, (int)d);
        return 0;
    } else if (!strcmp(op, "small")) {
        rc = wasmhive_tee_seal(1, in, 16, out, 40);
        printf("%d\n", (int)rc);
        return 0;
    } else {
        return 64;
    }
    if (rc < 0) return fail(rc);
    if (cgi) {
        static const char head[] = "Content-Type: application/octet-stream\n\n";
        write_all((const uint8_t *)head, sizeof head - 1);
    }
    write_all(out, (size_t)rc);
    return 0;
}
