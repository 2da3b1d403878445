/* wasmhive_tee.h: sealing and attestation for C guests of wasmhive (core WebAssembly modules).
 *
 * Functions return a length (>= 0) on success or one of the negative codes below; on failure
 * wasmhive_tee_last_error() copies a one-line message. Outputs that do not fit are not written
 * (WASMHIVE_TEE_E_SPACE): a sealed blob is the input plus WASMHIVE_TEE_SEAL_OVERHEAD bytes. */
#ifndef WASMHIVE_TEE_H
#define WASMHIVE_TEE_H
#include <stdint.h>

#define WASMHIVE_TEE_SAME_CODE 1    /* only this exact module (its measurement) can unseal */
#define WASMHIVE_TEE_SAME_SIGNER 2  /* any module of the same signer at this or a higher security version */
#define WASMHIVE_TEE_SEAL_OVERHEAD 85

#define WASMHIVE_TEE_E_DENIED -1        /* not granted to this guest */
#define WASMHIVE_TEE_E_FAULT -2         /* a pointer/length outside the guest's memory */
#define WASMHIVE_TEE_E_SPACE -3         /* the output buffer is too small */
#define WASMHIVE_TEE_E_INVALID -4       /* bad policy, not a sealed blob, bad nonce size */
#define WASMHIVE_TEE_E_OTHER_CODE -5    /* sealed for another module */
#define WASMHIVE_TEE_E_OTHER_SIGNER -6  /* sealed for another signer */
#define WASMHIVE_TEE_E_OLD_VERSION -7   /* sealed at a higher security version */
#define WASMHIVE_TEE_E_UNSIGNED -8      /* same-signer policy, but this module is unsigned */
#define WASMHIVE_TEE_E_TAMPERED -9      /* authentication failed: modified, or another platform */
#define WASMHIVE_TEE_E_ATTESTATION -10  /* evidence could not be produced */

#define WASMHIVE_TEE_IMPORT(name) __attribute__((import_module("wasmhive_tee"), import_name(name)))

WASMHIVE_TEE_IMPORT("seal") int32_t wasmhive_tee_seal(int32_t policy, const uint8_t *data, uint32_t len,
                                                      uint8_t *out, uint32_t cap);
WASMHIVE_TEE_IMPORT("unseal") int32_t wasmhive_tee_unseal(const uint8_t *sealed, uint32_t len, uint8_t *out,
                                                          uint32_t cap);
WASMHIVE_TEE_IMPORT("report") int32_t wasmhive_tee_report(const uint8_t *nonce, uint32_t nonce_len,
                                                          const uint8_t *user_data, uint32_t user_len,
                                                          uint8_t *out, uint32_t cap);
WASMHIVE_TEE_IMPORT("measurement") int32_t wasmhive_tee_measurement(uint8_t *out, uint32_t cap);
WASMHIVE_TEE_IMPORT("last_error") int32_t wasmhive_tee_last_error(uint8_t *out, uint32_t cap);

#endif
