/* SPDX-License-Identifier: MIT */
/*
 * Cipher suites: stable numeric IDs, names, and one-shot AEAD seal/open over
 * OpenSSL 3 EVP. Every suite is an AEAD: AES-128-GCM, AES-256-GCM,
 * ChaCha20-Poly1305, and SM4-CTR with HMAC-SM3 in encrypt-then-MAC
 * composition (OpenSSL 3.0 has no SM4-GCM).
 *
 * Keys are struct umc_key values owned by the caller; umc_key_clear()
 * cleanses them. Nothing here allocates memory the caller must free.
 * Every function is thread-safe: the EVP_CIPHER of a suite is fetched once,
 * lazily, and kept until exit.
 *
 * SM4-CTR-HMAC-SM3 (wire ID 4): key material = SM4 key(16) || MAC key(32).
 * CTR counter block = nonce(12) || be32 block counter starting at 1.
 * tag = HMAC-SM3(MAC key, nonce || aad || ct || be64(aad_len) || be64(ct_len)),
 * all 32 bytes, checked in constant time before anything is decrypted.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Wire IDs: stable, never renumbered. 0 means "no suite" (AUTH frames). */
enum umc_suite_id {
        UMC_SUITE_NONE = 0,
        UMC_SUITE_AES_128_GCM = 1,
        UMC_SUITE_AES_256_GCM = 2,
        UMC_SUITE_CHACHA20_POLY1305 = 3,
        UMC_SUITE_SM4_CTR_HMAC_SM3 = 4,
        _UMC_SUITE_MAX,
};

#define UMC_KEY_MAX 64   /* SM4: 16-byte cipher key + 32-byte MAC key */
#define UMC_NONCE_LEN 12 /* every suite uses a 96-bit nonce (SM4-CTR: 96-bit nonce + 32-bit counter) */
#define UMC_TAG_MAX 32
/* Longest AAD and plaintext seal/open take (keeps EVP's int lengths safe). */
#define UMC_CIPHER_LEN_MAX ((size_t)1 << 30)

struct umc_suite {
        enum umc_suite_id id;
        const char *name;   /* config name, e.g. "aes-128-gcm" */
        size_t key_len;     /* total key material the suite takes */
        size_t tag_len;     /* bytes appended to the ciphertext */
};

struct umc_key {
        enum umc_suite_id suite;
        uint8_t bytes[UMC_KEY_MAX];
        size_t len;
};

/* NULL for NONE or unknown IDs. */
const struct umc_suite *umc_suite_by_id(unsigned id);

/*
 * Look a suite up by its config name (case-insensitive): "aes-128-gcm",
 * "aes-256-gcm", "chacha20-poly1305", "sm4-ctr-hmac-sm3" (alias "sm4").
 * Returns 0 and the suite (static, never freed), -ENOENT for an unknown
 * name, -EINVAL for a NULL name or ret, -EPERM for a legacy cipher (des*,
 * 3des, tdes, triple-des, blowfish, bf, bf-*, rc2*, rc4*, idea*, cast5*):
 * why (see umc_why(); may be NULL) then says why it is refused.
 */
int umc_suite_from_name(const char *name, const struct umc_suite **ret, char *why,
                        size_t why_size);

/* Cleanse the key bytes. Accepts NULL. */
void umc_key_clear(struct umc_key *k);

/*
 * Encrypt pt (pt_len bytes, may be 0) with key and the 12-byte nonce,
 * authenticating aad as well. Writes pt_len + tag_len bytes to out, which
 * may not overlap pt except exactly (out == pt is allowed) and may not
 * overlap aad. Returns 0, -EINVAL on a key/suite mismatch (key->len must be
 * the suite's key_len), a NULL pointer or overlapping buffers, -EMSGSIZE
 * when aad_len or pt_len exceeds UMC_CIPHER_LEN_MAX, -ENOMEM, -EIO on an
 * OpenSSL failure (out is then zeroed).
 */
int umc_cipher_seal(const struct umc_key *key, const uint8_t nonce[UMC_NONCE_LEN],
                    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                    uint8_t *out);

/*
 * Verify and decrypt ct (ct_len bytes including the tag). Writes
 * ct_len - tag_len bytes to out only when the tag verifies (constant-time
 * comparison); otherwise out is left zeroed. out == ct is allowed, other
 * overlaps (and out overlapping aad) are -EINVAL. Returns 0, -EBADMSG on a
 * tag mismatch, -EMSGSIZE when ct_len < tag_len or a length exceeds
 * UMC_CIPHER_LEN_MAX, -EINVAL, -ENOMEM, -EIO. The argument errors (-EINVAL,
 * -EMSGSIZE) leave out untouched; -EBADMSG, -ENOMEM and -EIO zero it.
 */
int umc_cipher_open(const struct umc_key *key, const uint8_t nonce[UMC_NONCE_LEN],
                    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                    uint8_t *out);
