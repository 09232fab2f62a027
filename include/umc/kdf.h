/* SPDX-License-Identifier: MIT */
/*
 * Key derivation with HKDF-SHA256 (RFC 5869) over OpenSSL's EVP_KDF.
 *
 * Frame keys: one per (session, key ID, suite, direction, layer), derived
 * from the target's provisioned master key and the session salt that the
 * AUTH exchange produced. Separate directions and layers get separate keys,
 * so a sequence number is a nonce that never repeats for a key.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "umc/cipher.h"

#define UMC_MASTER_KEY_LEN 32
#define UMC_SALT_LEN 32
/* Longest HKDF info OpenSSL 3.0 accepts (its HKDF_MAXBUF). */
#define UMC_KDF_INFO_MAX 1024

enum umc_direction {
        UMC_DIR_MASTER_TO_ECU = 0, /* umcd -> agent */
        UMC_DIR_ECU_TO_MASTER = 1, /* agent -> umcd */
};

enum umc_layer {
        UMC_LAYER_OUTER = 0, /* the rotating suite */
        UMC_LAYER_INNER = 1, /* the fixed first layer of layered mode */
};

/*
 * Raw HKDF-SHA256 (RFC 5869): extract with salt (may be NULL/0: HashLen
 * zeros), expand with info (may be NULL/0) into out_len bytes of out.
 * Returns 0, -EINVAL for an empty ikm, out_len 0 or above 255 * 32,
 * info_len above UMC_KDF_INFO_MAX or a NULL pointer with a length, -ENOMEM,
 * -EIO (out is then zeroed). Thread-safe.
 */
int umc_kdf_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                        const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);

/*
 * Derive the key and the 12-byte base IV for one frame key:
 * HKDF-SHA256(ikm = master, salt = salt, info, L = suite->key_len + 12),
 * key first, then IV, from one expand, where
 * info = "umc1 frame" (10 bytes, no NUL) || session_id(8) || key_id(2) ||
 *        suite(1) || dir(1) || layer(1), integers big-endian (23 bytes).
 * ret_key gets suite->key_len bytes and its suite, ret_iv 12 bytes, both
 * only on success. Caller clears both. Returns 0, -EINVAL for a NONE or
 * unknown suite, a direction or layer outside the enums, a NULL pointer;
 * -ENOMEM, -EIO.
 */
int umc_kdf_frame_key(const uint8_t master[UMC_MASTER_KEY_LEN], const uint8_t salt[UMC_SALT_LEN],
                      uint64_t session_id, uint16_t key_id, enum umc_suite_id suite,
                      enum umc_direction dir, enum umc_layer layer, struct umc_key *ret_key,
                      uint8_t ret_iv[UMC_NONCE_LEN]);

/*
 * TLS 1.3-style nonce (RFC 8446 §5.3): base IV XOR the 32-bit sequence
 * number, big-endian, right-aligned. out may be iv. Cannot fail.
 */
void umc_kdf_nonce(const uint8_t iv[UMC_NONCE_LEN], uint32_t seq, uint8_t out[UMC_NONCE_LEN]);
