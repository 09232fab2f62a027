/* SPDX-License-Identifier: MIT */
#include "umc/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "umc/ossl.h"
#include "umc/util.h"

/* OpenSSL names, indexed by enum umc_hash_alg. */
static const char *const md_names[] = {
        [UMC_HASH_SHA256] = "SHA256",
        [UMC_HASH_SM3] = "SM3", /* GB/T 32905, 256-bit output */
};

static const char *md_name(enum umc_hash_alg alg) {
        if ((unsigned)alg >= UMC_ELEMENTSOF(md_names))
                return NULL;
        return md_names[alg];
}

static struct umc_ossl_cache md_cache[UMC_ELEMENTSOF(md_names)];
static struct umc_ossl_cache hmac_cache;

static EVP_MD *md_get(enum umc_hash_alg alg) {
        return umc_ossl_md(&md_cache[alg], md_names[alg]);
}

static EVP_MAC *hmac_get(void) {
        return umc_ossl_mac(&hmac_cache, "HMAC");
}

static void mac_ctx_freep(EVP_MAC_CTX **p) {
        EVP_MAC_CTX_free(*p);
}
#define _cleanup_mac_ctx_ _cleanup_(mac_ctx_freep)

int umc_hash_init(struct umc_hash *h, enum umc_hash_alg alg) {
        EVP_MD_CTX *ctx;
        EVP_MD *md;

        if (!h)
                return -EINVAL;
        /* Whatever happens next, h is safe to pass to umc_hash_done(). */
        h->ctx = NULL;
        if (!md_name(alg))
                return -EINVAL;
        md = md_get(alg);
        if (!md)
                return -EIO;
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestInit_ex2(ctx, md, NULL) != 1) {
                EVP_MD_CTX_free(ctx);
                return -EIO;
        }
        h->ctx = ctx;
        h->alg = alg;
        return 0;
}

int umc_hash_update(struct umc_hash *h, const void *data, size_t len) {
        if (!h || !h->ctx || (len > 0 && !data))
                return -EINVAL;
        if (len == 0)
                return 0;
        return EVP_DigestUpdate(h->ctx, data, len) == 1 ? 0 : -EIO;
}

int umc_hash_final(struct umc_hash *h, uint8_t out[UMC_HASH_LEN]) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        int ok;

        if (!h || !h->ctx || !out)
                return -EINVAL;
        ok = EVP_DigestFinal_ex(h->ctx, md, &n) == 1 && n == UMC_HASH_LEN;
        umc_hash_done(h);
        if (!ok)
                return -EIO;
        memcpy(out, md, UMC_HASH_LEN);
        return 0;
}

void umc_hash_done(struct umc_hash *h) {
        if (!h || !h->ctx)
                return;
        /* EVP_MD_CTX_free cleanses the digest state. */
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
}

int umc_hash_oneshot(enum umc_hash_alg alg, const void *data, size_t len,
                     uint8_t out[UMC_HASH_LEN]) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        EVP_MD *evp;

        if (!md_name(alg) || !out || (len > 0 && !data))
                return -EINVAL;
        evp = md_get(alg);
        if (!evp)
                return -EIO;
        if (EVP_Digest(len > 0 ? data : "", len, md, &n, evp, NULL) != 1 || n != UMC_HASH_LEN)
                return -EIO;
        memcpy(out, md, UMC_HASH_LEN);
        return 0;
}

int umc_hmac(enum umc_hash_alg alg, const uint8_t *key, size_t key_len,
             const struct umc_iovec *parts, size_t n, uint8_t out[UMC_HASH_LEN]) {
        /* EVP_MAC_init() with a NULL key means "keep the old key": pass a real empty one. */
        static const uint8_t empty_key[1];
        _cleanup_mac_ctx_ EVP_MAC_CTX *ctx = NULL;
        uint8_t mac[EVP_MAX_MD_SIZE];
        OSSL_PARAM params[2];
        size_t mac_len = 0;
        EVP_MAC *hmac;

        if (!md_name(alg) || !out || (key_len > 0 && !key) || (n > 0 && !parts))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (parts[i].len > 0 && !parts[i].base)
                        return -EINVAL;

        hmac = hmac_get();
        if (!hmac)
                return -EIO;
        ctx = EVP_MAC_CTX_new(hmac);
        if (!ctx)
                return -ENOMEM;
        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *)md_name(alg), 0);
        params[1] = OSSL_PARAM_construct_end();
        if (EVP_MAC_init(ctx, key_len > 0 ? key : empty_key, key_len, params) != 1)
                return -EIO;
        for (size_t i = 0; i < n; i++)
                if (parts[i].len > 0 && EVP_MAC_update(ctx, parts[i].base, parts[i].len) != 1)
                        return -EIO;
        if (EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) != 1 || mac_len != UMC_HASH_LEN)
                return -EIO;
        memcpy(out, mac, UMC_HASH_LEN);
        umc_memzero(mac, sizeof(mac));
        return 0;
}
