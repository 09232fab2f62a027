/* SPDX-License-Identifier: MIT */
/*
 * OpenSSL algorithms fetched once. EVP_*_fetch() searches the providers on
 * every call (OpenSSL 3 "Performance" notes in crypto(7): explicit fetching
 * once and reusing the object is the fast path), so each user keeps one
 * struct umc_ossl_cache per algorithm in zero-initialised static storage
 * and asks through it. The first call fetches from the default library
 * context and publishes the object atomically; a thread that loses the
 * race frees its copy and uses the winner's. The object lives until exit:
 * it is borrowed, never freed by the caller. A NULL answer means the
 * provider lacks the algorithm; the next call tries again.
 */
#pragma once

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdatomic.h>

struct umc_ossl_cache {
        _Atomic(void *) alg;
};

EVP_MD *umc_ossl_md(struct umc_ossl_cache *c, const char *name);
EVP_MAC *umc_ossl_mac(struct umc_ossl_cache *c, const char *name);
EVP_KDF *umc_ossl_kdf(struct umc_ossl_cache *c, const char *name);
EVP_CIPHER *umc_ossl_cipher(struct umc_ossl_cache *c, const char *name);
