/* A WASI preview 1 command that classifies a digit through `wasi_ephemeral_nn` (the core-module ABI
 * older wasi-nn SDKs use), on the model the host grants by name.
 *
 *   wasmhive run --nn-model digits=digits.onnx classify.wasm digits 0 0 5 13 9 1 ...   (64 pixels 0..16)
 *
 * Prints the label and the top probability, or "<call>: error <errno>" and exits 1. Any number of
 * pixels is sent as a [1, N] tensor, so a wrong count shows the host's shape check. Build:
 *   python -m ziglang cc --target=wasm32-wasi -O2 -s classify.c -o classify.wasm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NN(name) __attribute__((import_module("wasi_ephemeral_nn"), import_name(name)))

/* The ABI's tensor record: dims (pointer, count), element type (u8, padded), data (pointer, length). */
typedef struct {
    const uint32_t *dims;
    uint32_t ndims;
    uint8_t type;
    const uint8_t *data;
    uint32_t len;
} tensor_t;

enum { TENSOR_F32 = 1 };

NN("load_by_name") int32_t nn_load_by_name(const char *name, uint32_t len, uint32_t *graph);
NN("init_execution_context") int32_t nn_init_execution_context(uint32_t graph, uint32_t *ctx);
NN("set_input") int32_t nn_set_input(uint32_t ctx, uint32_t index, const tensor_t *tensor);
NN("compute") int32_t nn_compute(uint32_t ctx);
NN("get_output") int32_t nn_get_output(uint32_t ctx, uint32_t index, uint8_t *buf, uint32_t max, uint32_t *written);

static int check(const char *call, int32_t err) {
    if (err != 0) {
        printf("%s: error %d\n", call, (int)err);
        exit(1);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: classify MODEL PIXEL...\n");
        return 2;
    }
    static float pixels[4096];
    uint32_t n = (uint32_t)(argc - 2) < 4096 ? (uint32_t)(argc - 2) : 4096;
    for (uint32_t i = 0; i < n; i++) pixels[i] = (float)atoi(argv[i + 2]) / 16.0f;

    uint32_t graph, ctx, written;
    check("load_by_name", nn_load_by_name(argv[1], (uint32_t)strlen(argv[1]), &graph));
    check("init_execution_context", nn_init_execution_context(graph, &ctx));
    uint32_t dims[2] = {1, n};
    tensor_t input = {dims, 2, TENSOR_F32, (const uint8_t *)pixels, n * 4};
    check("set_input", nn_set_input(ctx, 0, &input));
    check("compute", nn_compute(ctx));

    int64_t label;
    float probabilities[10];
    check("get_output", nn_get_output(ctx, 0, (uint8_t *)&label, sizeof label, &written));
    check("get_output", nn_get_output(ctx, 1, (uint8_t *)probabilities, sizeof probabilities, &written));
    printf("%lld %.6f\n", (long long)label, (double)probabilities[label]);
    return 0;
}
