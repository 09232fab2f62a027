/* SPDX-License-Identifier: MIT */
#include "umc/ossl.h"

/* Install fetched in c unless another thread was first; either way return the one kept. */
static void *publish(struct umc_ossl_cache *c, void *fetched, void (*release)(void *)) {
        void *expected = NULL;

        if (!fetched)
                return NULL;
        if (!atomic_compare_exchange_strong_explicit(&c->alg, &expected, fetched,
                                                     memory_order_acq_rel, memory_order_acquire)) {
                release(fetched);
                return expected;
        }
        return fetched;
}

static void *cached(struct umc_ossl_cache *c) {
        return atomic_load_explicit(&c->alg, memory_order_acquire);
}

static void md_release(void *p) {
        EVP_MD_free(p);
}

static void mac_release(void *p) {
        EVP_MAC_free(p);
}

static void kdf_release(void *p) {
        EVP_KDF_free(p);
}

static void cipher_release(void *p) {
        EVP_CIPHER_free(p);
}

EVP_MD *umc_ossl_md(struct umc_ossl_cache *c, const char *name) {
        void *p = cached(c);

        return p ? p : publish(c, EVP_MD_fetch(NULL, name, NULL), md_release);
}

EVP_MAC *umc_ossl_mac(struct umc_ossl_cache *c, const char *name) {
        void *p = cached(c);

        return p ? p : publish(c, EVP_MAC_fetch(NULL, name, NULL), mac_release);
}

EVP_KDF *umc_ossl_kdf(struct umc_ossl_cache *c, const char *name) {
        void *p = cached(c);

        return p ? p : publish(c, EVP_KDF_fetch(NULL, name, NULL), kdf_release);
}

EVP_CIPHER *umc_ossl_cipher(struct umc_ossl_cache *c, const char *name) {
        void *p = cached(c);

        return p ? p : publish(c, EVP_CIPHER_fetch(NULL, name, NULL), cipher_release);
}
