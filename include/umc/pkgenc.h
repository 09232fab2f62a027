/* SPDX-License-Identifier: MIT */
/*
 * Per-ECU image encryption of a signed package: the backend seals an image
 * for one ECU alone, so the T-Box and the gateways relay ciphertext they
 * cannot read. docs/package.md specifies the format for the backend.
 *
 *   key   = HKDF-SHA256(ikm = the ECU's 32-byte package key,
 *                       salt = the image's 32-byte random salt (manifest),
 *                       info = "umc1 image" || be32(ecu_id) || u8(len(target)) || target,
 *                       L = 32)                                   (RFC 5869)
 *   image = segment 0 || segment 1 || ... , each segment
 *           AES-256-GCM(key, nonce_i, aad = empty, 65536 plaintext bytes)
 *           || 16-byte tag; the last one holds 1..65536 bytes
 *   nonce_i = be64(i) || 00 00 00 || last (0x01 on the last segment, else 0x00)
 *
 * This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizar,
 * "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance",
 * CRYPTO 2015): the counter stops reordering, the last-segment flag stops
 * truncation at a segment boundary. A random salt per image makes the key
 * unique per image, so the counter nonces never repeat under a key.
 *
 * Nothing here allocates memory the caller frees; keys are struct umc_key
 * values the caller clears (umc_key_clear()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/cipher.h"
#include "umc/hash.h"
#include "umc/kdf.h"

#define UMC_PKGENC_SEGMENT 65536u
#define UMC_PKGENC_TAG 16u
#define UMC_PKGENC_SALT_LEN 32u
#define UMC_PKGENC_KEY_LEN UMC_MASTER_KEY_LEN

/*
 * Derive the AES-256-GCM key of one image. target is 1..255 bytes.
 * ret gets suite AES-256-GCM only on success. 0, -EINVAL, -ENOMEM, -EIO.
 */
int umc_pkgenc_derive(const uint8_t pkg_key[UMC_PKGENC_KEY_LEN],
                      const uint8_t salt[UMC_PKGENC_SALT_LEN], uint32_t ecu_id,
                      const char *target, struct umc_key *ret);

/* nonce_i as above. Cannot fail. */
void umc_pkgenc_nonce(uint64_t index, bool last, uint8_t out[UMC_NONCE_LEN]);

/*
 * Sealed size of plain bytes (plain > 0). 0, -EINVAL for 0, -EOVERFLOW.
 */
int umc_pkgenc_sealed_size(uint64_t plain, uint64_t *ret);

/*
 * Plaintext size a sealed size stands for: -EINVAL when no plaintext
 * length seals to exactly sealed bytes (a truncated or padded file).
 */
int umc_pkgenc_plain_size(uint64_t sealed, uint64_t *ret);

/*
 * Seal the whole of in_fd (read to EOF, 1..max_plain bytes) into out_fd
 * (written at its position). Reports the plaintext and ciphertext sizes
 * and SHA-256s (each output may be NULL). 0, -EINVAL (empty input or bad
 * key), -EFBIG above max_plain, -ENOMEM, -EIO, or the errno of read/write.
 */
int umc_pkgenc_seal_fd(const struct umc_key *key, int in_fd, int out_fd, uint64_t max_plain,
                       uint64_t *ret_plain_size, uint8_t ret_plain_sha256[UMC_HASH_LEN],
                       uint64_t *ret_sealed_size, uint8_t ret_sealed_sha256[UMC_HASH_LEN]);

/*
 * Open sealed_size bytes read from in_fd (from its position), writing the
 * plaintext to out_fd (or nowhere when out_fd < 0), and report the
 * plaintext's size and SHA-256 (either may be NULL). Every tag is checked
 * before its plaintext is written. -EBADMSG when a segment does not
 * authenticate, the file ends early or goes on past sealed_size, or
 * sealed_size is not a sealed length; -EINVAL, -ENOMEM, -EIO, or the errno
 * of read/write. On failure out_fd may hold authenticated plaintext of the
 * segments before the bad one: the caller discards it.
 */
int umc_pkgenc_open_fd(const struct umc_key *key, int in_fd, uint64_t sealed_size, int out_fd,
                       uint64_t *ret_plain_size, uint8_t ret_plain_sha256[UMC_HASH_LEN]);
