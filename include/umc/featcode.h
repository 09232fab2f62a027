/* SPDX-License-Identifier: MIT */
/*
 * The feature code of a signed package: the code of the devices a package
 * is for (a vehicle's option code, for instance), sealed by the backend so
 * that only a device holding the feature key can read it, and bound to
 * one package so that it cannot be lifted into another manifest.
 * docs/package.md specifies it for the backend:
 *
 *   key   = HKDF-SHA256(ikm = the 32-byte feature key, salt = none,
 *                       info = "umc1 feature key" || u8(len(key_id)) || key_id,
 *                       L = 32)                                   (RFC 5869)
 *   aad   = "umc1 feature" || u8(len(name)) || name
 *           || u8(len(package_version)) || package_version
 *           || u8(len(key_id)) || key_id
 *   ciphertext = AES-256-GCM(key, nonce, aad, code) || 16-byte tag
 *
 * The feature key is provisioned per device class (model, option
 * variant), not per device: one signed manifest serves a whole fleet, so
 * every device that may install it must open the same ciphertext. The
 * nonce is 12 random bytes per seal: a backend seals a handful of codes
 * per package under one key, far below the 2^32 random nonces NIST SP
 * 800-38D (8.3) allows per key.
 *
 * Codes and key IDs are 1..64 printable ASCII characters without spaces.
 * Keys are the caller's (uint8_t[32]); derived keys and decrypted codes
 * are cleansed here. Nothing here allocates memory or logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/cipher.h"
#include "umc/kdf.h"

#define UMC_FEATCODE_KEY_LEN UMC_MASTER_KEY_LEN
#define UMC_FEATCODE_MAX 64             /* characters of a code */
#define UMC_FEATCODE_KEY_ID_MAX 64
#define UMC_FEATCODE_TAG_LEN 16
#define UMC_FEATCODE_CT_MAX (UMC_FEATCODE_MAX + UMC_FEATCODE_TAG_LEN)
#define UMC_FEATCODE_CT_MIN (1 + UMC_FEATCODE_TAG_LEN)

/* A sealed feature code as the manifest carries it. */
struct umc_featcode_sealed {
        char key_id[UMC_FEATCODE_KEY_ID_MAX + 1];
        uint8_t nonce[UMC_NONCE_LEN];
        uint8_t ct[UMC_FEATCODE_CT_MAX];        /* ciphertext || tag */
        size_t ct_len;                          /* UMC_FEATCODE_CT_MIN..UMC_FEATCODE_CT_MAX */
};

/* 1..64 printable ASCII characters without spaces (0x21..0x7e). */
bool umc_featcode_valid(const char *code);

/* A key ID: 1..64 of [A-Za-z0-9._-]. */
bool umc_featcode_key_id_valid(const char *key_id);

/*
 * Seal code for the package name/package_version under the feature key,
 * with a fresh random nonce. ret written only on success. 0, -EINVAL (a
 * NULL pointer, an invalid code or key ID, a name or version of 0 or
 * more than 255 bytes), -ENOMEM, -EIO.
 */
int umc_featcode_seal(const uint8_t key[UMC_FEATCODE_KEY_LEN], const char *key_id,
                      const char *name, const char *package_version, const char *code,
                      struct umc_featcode_sealed *ret);

/*
 * Open s for the package name/package_version. ret_code (65 bytes) gets
 * the code, NUL-padded to its full size, only on success. -EBADMSG when
 * it does not authenticate (another feature key, another package, a
 * changed key ID, nonce or ciphertext) or the plaintext is not a valid
 * code; -EINVAL for bad arguments; -ENOMEM, -EIO.
 */
int umc_featcode_open(const uint8_t key[UMC_FEATCODE_KEY_LEN], const char *name,
                      const char *package_version, const struct umc_featcode_sealed *s,
                      char ret_code[UMC_FEATCODE_MAX + 1]);

/*
 * True when code equals expected, in time that depends on neither: both
 * are copied into NUL-padded fixed buffers compared whole. A NULL or
 * overlong argument never matches.
 */
bool umc_featcode_equal(const char *code, const char *expected);
