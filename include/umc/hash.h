/* SPDX-License-Identifier: MIT */
/*
 * Streaming digests (SHA-256, SM3; both 32 bytes) and HMAC over them.
 * A struct umc_hash owns an EVP_MD_CTX: umc_hash_done() frees it and
 * accepts a zeroed or already-finished object. Thread-safe: the EVP_MD and
 * EVP_MAC objects are fetched once, lazily, and kept until exit.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define UMC_HASH_LEN 32

/* Wire IDs (TRANSPORT frames carry one), stable. */
enum umc_hash_alg {
        UMC_HASH_SHA256 = 1,
        UMC_HASH_SM3 = 2,
};

struct umc_hash {
        void *ctx; /* EVP_MD_CTX *, private */
        enum umc_hash_alg alg;
};

/*
 * 0, -EINVAL for an unknown alg or NULL h, -ENOMEM, -EIO. Even on failure
 * h is left safe to pass to umc_hash_done() (no context).
 */
int umc_hash_init(struct umc_hash *h, enum umc_hash_alg alg);
/* 0, -EINVAL (no context, or NULL data with len > 0), -EIO. len 0 is a no-op. */
int umc_hash_update(struct umc_hash *h, const void *data, size_t len);
/*
 * Writes 32 bytes (only on success) and frees the context, on failure too.
 * 0, -EINVAL (no context), -EIO.
 */
int umc_hash_final(struct umc_hash *h, uint8_t out[UMC_HASH_LEN]);
void umc_hash_done(struct umc_hash *h);

/* Digest of len bytes (data may be NULL when len is 0). 0, -EINVAL, -EIO. */
int umc_hash_oneshot(enum umc_hash_alg alg, const void *data, size_t len, uint8_t out[UMC_HASH_LEN]);

/* One (ptr,len) part of a message. */
struct umc_iovec {
        const void *base;
        size_t len;
};
/*
 * HMAC-<alg> (RFC 2104) with key (key_len may be 0) of the concatenation of
 * n (ptr,len) parts; a part with len 0 may have a NULL base. Writes 32 bytes
 * only on success. 0, -EINVAL, -ENOMEM, -EIO.
 */
int umc_hmac(enum umc_hash_alg alg, const uint8_t *key, size_t key_len,
             const struct umc_iovec *parts, size_t n, uint8_t out[UMC_HASH_LEN]);
