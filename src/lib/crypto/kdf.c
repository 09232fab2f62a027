/* SPDX-License-Identifier: MIT */
#include "umc/kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "umc/ossl.h"
#include "umc/util.h"

/* RFC 5869 §2.3: L <= 255 * HashLen. */
#define HKDF_SHA256_OUT_MAX (255 * 32)

#define FRAME_LABEL "umc1 frame"
#define FRAME_LABEL_LEN (sizeof(FRAME_LABEL) - 1)
/* label || session_id(8) || key_id(2) || suite(1) || dir(1) || layer(1) */
#define FRAME_INFO_LEN (FRAME_LABEL_LEN + 8 + 2 + 1 + 1 + 1)

static struct umc_ossl_cache hkdf_cache;

static EVP_KDF *hkdf_get(void) {
        return umc_ossl_kdf(&hkdf_cache, "HKDF");
}

static void kdf_ctx_freep(EVP_KDF_CTX **p) {
        EVP_KDF_CTX_free(*p);
}
#define _cleanup_kdf_ctx_ _cleanup_(kdf_ctx_freep)

int umc_kdf_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                        const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len) {
        _cleanup_kdf_ctx_ EVP_KDF_CTX *ctx = NULL;
        OSSL_PARAM params[5], *p = params;
        EVP_KDF *kdf;

        if (!ikm || ikm_len == 0 || (salt_len > 0 && !salt) || (info_len > 0 && !info) || !out)
                return -EINVAL;
        if (out_len == 0 || out_len > HKDF_SHA256_OUT_MAX || info_len > UMC_KDF_INFO_MAX)
                return -EINVAL;

        kdf = hkdf_get();
        if (!kdf)
                return -EIO;
        ctx = EVP_KDF_CTX_new(kdf);
        if (!ctx)
                return -ENOMEM;

        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
        /* RFC 5869 §2.2: an absent salt is HashLen zero bytes, which OpenSSL supplies. */
        if (salt_len > 0)
                *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                                         salt_len);
        if (info_len > 0)
                *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
                                                         info_len);
        *p = OSSL_PARAM_construct_end();

        /* EVP_KDF_CTX_free cleanses the PRK and the copied key. */
        if (EVP_KDF_derive(ctx, out, out_len, params) != 1) {
                umc_memzero(out, out_len);
                return -EIO;
        }
        return 0;
}

static void frame_info(uint8_t info[FRAME_INFO_LEN], uint64_t session_id, uint16_t key_id,
                       enum umc_suite_id suite, enum umc_direction dir, enum umc_layer layer) {
        uint8_t *p = info;

        memcpy(p, FRAME_LABEL, FRAME_LABEL_LEN);
        p += FRAME_LABEL_LEN;
        umc_put_be64(p, session_id);
        p += 8;
        umc_put_be16(p, key_id);
        p += 2;
        *p++ = (uint8_t)suite;
        *p++ = (uint8_t)dir;
        *p = (uint8_t)layer;
}

int umc_kdf_frame_key(const uint8_t master[UMC_MASTER_KEY_LEN], const uint8_t salt[UMC_SALT_LEN],
                      uint64_t session_id, uint16_t key_id, enum umc_suite_id suite,
                      enum umc_direction dir, enum umc_layer layer, struct umc_key *ret_key,
                      uint8_t ret_iv[UMC_NONCE_LEN]) {
        uint8_t info[FRAME_INFO_LEN], okm[UMC_KEY_MAX + UMC_NONCE_LEN];
        const struct umc_suite *s = umc_suite_by_id(suite);
        struct umc_key key = {};
        int r;

        if (!master || !salt || !s || !ret_key || !ret_iv)
                return -EINVAL;
        if ((dir != UMC_DIR_MASTER_TO_ECU && dir != UMC_DIR_ECU_TO_MASTER) ||
            (layer != UMC_LAYER_OUTER && layer != UMC_LAYER_INNER))
                return -EINVAL;

        frame_info(info, session_id, key_id, suite, dir, layer);
        /* One expand, key first, then the base IV. */
        r = umc_kdf_hkdf_sha256(master, UMC_MASTER_KEY_LEN, salt, UMC_SALT_LEN, info,
                                sizeof(info), okm, s->key_len + UMC_NONCE_LEN);
        if (r < 0)
                return r;

        key.suite = suite;
        key.len = s->key_len;
        memcpy(key.bytes, okm, s->key_len);
        *ret_key = key;
        memcpy(ret_iv, okm + s->key_len, UMC_NONCE_LEN);

        umc_key_clear(&key);
        umc_memzero(okm, sizeof(okm));
        return 0;
}

void umc_kdf_nonce(const uint8_t iv[UMC_NONCE_LEN], uint32_t seq, uint8_t out[UMC_NONCE_LEN]) {
        uint8_t s[4];

        /* RFC 8446 §5.3: the sequence number, big-endian and left-padded, XORed into the IV. */
        umc_put_be32(s, seq);
        memmove(out, iv, UMC_NONCE_LEN);
        for (size_t i = 0; i < sizeof(s); i++)
                out[UMC_NONCE_LEN - sizeof(s) + i] ^= s[i];
}
