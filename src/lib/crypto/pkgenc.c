/* SPDX-License-Identifier: MIT */
#include "umc/pkgenc.h"

#include "umc/fs.h"
#include "umc/util.h"

#define INFO_LABEL "umc1 image"
#define SEALED_SEGMENT (UMC_PKGENC_SEGMENT + UMC_PKGENC_TAG)

int umc_pkgenc_derive(const uint8_t pkg_key[UMC_PKGENC_KEY_LEN],
                      const uint8_t salt[UMC_PKGENC_SALT_LEN], uint32_t ecu_id,
                      const char *target, struct umc_key *ret) {
        uint8_t info[sizeof(INFO_LABEL) - 1 + 4 + 1 + 255];
        size_t tlen, n = sizeof(INFO_LABEL) - 1;
        struct umc_key k = { .suite = UMC_SUITE_AES_256_GCM, .len = 32 };
        int r;

        if (!pkg_key || !salt || !target || !ret)
                return -EINVAL;
        tlen = strlen(target);
        if (tlen == 0 || tlen > 255)
                return -EINVAL;
        memcpy(info, INFO_LABEL, n);
        umc_put_be32(info + n, ecu_id);
        info[n + 4] = (uint8_t)tlen;
        memcpy(info + n + 5, target, tlen);
        r = umc_kdf_hkdf_sha256(pkg_key, UMC_PKGENC_KEY_LEN, salt, UMC_PKGENC_SALT_LEN, info,
                                n + 5 + tlen, k.bytes, k.len);
        if (r < 0) {
                umc_key_clear(&k);
                return r;
        }
        *ret = k;
        umc_key_clear(&k);
        return 0;
}

void umc_pkgenc_nonce(uint64_t index, bool last, uint8_t out[UMC_NONCE_LEN]) {
        umc_put_be64(out, index);
        out[8] = out[9] = out[10] = 0;
        out[11] = last ? 1 : 0;
}

int umc_pkgenc_sealed_size(uint64_t plain, uint64_t *ret) {
        uint64_t segs;

        if (plain == 0 || !ret)
                return -EINVAL;
        segs = plain / UMC_PKGENC_SEGMENT + (plain % UMC_PKGENC_SEGMENT != 0);
        if (plain > UINT64_MAX - segs * UMC_PKGENC_TAG)
                return -EOVERFLOW;
        *ret = plain + segs * UMC_PKGENC_TAG;
        return 0;
}

int umc_pkgenc_plain_size(uint64_t sealed, uint64_t *ret) {
        uint64_t full = sealed / SEALED_SEGMENT, rest = sealed % SEALED_SEGMENT;

        if (!ret)
                return -EINVAL;
        /* A last segment carries 1..65536 plaintext bytes and its tag. */
        if (rest == 0 && full == 0)
                return -EINVAL;
        if (rest != 0 && rest <= UMC_PKGENC_TAG)
                return -EINVAL;
        *ret = full * UMC_PKGENC_SEGMENT + (rest ? rest - UMC_PKGENC_TAG : 0);
        return 0;
}

struct sealer {
        const struct umc_key *key;
        int out_fd;
        struct umc_hash plain, sealed;
        uint64_t index, plain_size, sealed_size;
        uint8_t *in, *ahead, *out;
};

static int seal_one(struct sealer *s, size_t len, bool last) {
        uint8_t nonce[UMC_NONCE_LEN];
        int r;

        umc_pkgenc_nonce(s->index, last, nonce);
        r = umc_hash_update(&s->plain, s->in, len);
        if (r >= 0)
                r = umc_cipher_seal(s->key, nonce, NULL, 0, s->in, len, s->out);
        if (r >= 0)
                r = umc_hash_update(&s->sealed, s->out, len + UMC_PKGENC_TAG);
        if (r >= 0)
                r = umc_fs_write_all(s->out_fd, s->out, len + UMC_PKGENC_TAG);
        if (r < 0)
                return r;
        s->index++;
        s->plain_size += len;
        s->sealed_size += len + UMC_PKGENC_TAG;
        return 0;
}

/*
 * Read one segment ahead so the last one is known when it is sealed: the
 * flag must be set on exactly the final segment, also when the image is
 * a multiple of the segment size.
 */
static int seal_loop(struct sealer *s, int in_fd, uint64_t max_plain) {
        size_t cur, next;
        uint8_t *tmp;
        int r;

        r = umc_fs_read_all(in_fd, s->in, UMC_PKGENC_SEGMENT, &cur);
        if (r < 0)
                return r;
        if (cur == 0)
                return -EINVAL;
        for (;;) {
                if (cur > max_plain - s->plain_size)
                        return -EFBIG;
                r = umc_fs_read_all(in_fd, s->ahead, UMC_PKGENC_SEGMENT, &next);
                if (r < 0)
                        return r;
                r = seal_one(s, cur, next == 0);
                if (r < 0 || next == 0)
                        return r;
                tmp = s->in;
                s->in = s->ahead;
                s->ahead = tmp;
                cur = next;
        }
}

static void sealer_done(struct sealer *s) {
        umc_hash_done(&s->plain);
        umc_hash_done(&s->sealed);
        if (s->in)
                umc_memzero(s->in, UMC_PKGENC_SEGMENT);
        if (s->ahead)
                umc_memzero(s->ahead, UMC_PKGENC_SEGMENT);
        free(s->in);
        free(s->ahead);
        free(s->out);
}

int umc_pkgenc_seal_fd(const struct umc_key *key, int in_fd, int out_fd, uint64_t max_plain,
                       uint64_t *ret_plain_size, uint8_t ret_plain_sha256[UMC_HASH_LEN],
                       uint64_t *ret_sealed_size, uint8_t ret_sealed_sha256[UMC_HASH_LEN]) {
        struct sealer s = { .key = key, .out_fd = out_fd };
        uint8_t ph[UMC_HASH_LEN], sh[UMC_HASH_LEN];
        int r;

        if (!key || key->suite != UMC_SUITE_AES_256_GCM || key->len != 32 || in_fd < 0 ||
            out_fd < 0)
                return -EINVAL;
        s.in = malloc(UMC_PKGENC_SEGMENT);
        s.ahead = malloc(UMC_PKGENC_SEGMENT);
        s.out = malloc(SEALED_SEGMENT);
        if (!s.in || !s.ahead || !s.out)
                r = -ENOMEM;
        else
                r = umc_hash_init(&s.plain, UMC_HASH_SHA256);
        if (r >= 0)
                r = umc_hash_init(&s.sealed, UMC_HASH_SHA256);
        if (r >= 0)
                r = seal_loop(&s, in_fd, max_plain);
        if (r >= 0)
                r = umc_hash_final(&s.plain, ph);
        if (r >= 0)
                r = umc_hash_final(&s.sealed, sh);
        sealer_done(&s);
        if (r < 0)
                return r;
        if (ret_plain_size)
                *ret_plain_size = s.plain_size;
        if (ret_sealed_size)
                *ret_sealed_size = s.sealed_size;
        if (ret_plain_sha256)
                memcpy(ret_plain_sha256, ph, UMC_HASH_LEN);
        if (ret_sealed_sha256)
                memcpy(ret_sealed_sha256, sh, UMC_HASH_LEN);
        return 0;
}

struct opener {
        const struct umc_key *key;
        int in_fd, out_fd;
        struct umc_hash plain;
        uint8_t *in, *out;
};

/* Open segment index of len sealed bytes (tag included). */
static int open_one(struct opener *o, uint64_t index, size_t len, bool last) {
        uint8_t nonce[UMC_NONCE_LEN];
        size_t got;
        int r;

        r = umc_fs_read_all(o->in_fd, o->in, len, &got);
        if (r < 0)
                return r;
        if (got != len)
                return -EBADMSG;
        umc_pkgenc_nonce(index, last, nonce);
        r = umc_cipher_open(o->key, nonce, NULL, 0, o->in, len, o->out);
        if (r < 0)
                return r;
        r = umc_hash_update(&o->plain, o->out, len - UMC_PKGENC_TAG);
        if (r >= 0 && o->out_fd >= 0)
                r = umc_fs_write_all(o->out_fd, o->out, len - UMC_PKGENC_TAG);
        return r;
}

static int open_loop(struct opener *o, uint64_t sealed_size) {
        uint64_t done = 0, index = 0;
        size_t got;
        int r;

        while (done < sealed_size) {
                uint64_t left = sealed_size - done;
                size_t len = left > SEALED_SEGMENT ? SEALED_SEGMENT : (size_t)left;

                r = open_one(o, index++, len, len == left);
                if (r < 0)
                        return r;
                done += len;
        }
        /* Bytes past the announced size are not ours to ignore. */
        r = umc_fs_read_all(o->in_fd, o->in, 1, &got);
        if (r < 0)
                return r;
        return got ? -EBADMSG : 0;
}

int umc_pkgenc_open_fd(const struct umc_key *key, int in_fd, uint64_t sealed_size, int out_fd,
                       uint64_t *ret_plain_size, uint8_t ret_plain_sha256[UMC_HASH_LEN]) {
        struct opener o = { .key = key, .in_fd = in_fd, .out_fd = out_fd };
        uint8_t ph[UMC_HASH_LEN];
        uint64_t plain;
        int r;

        if (!key || key->suite != UMC_SUITE_AES_256_GCM || key->len != 32 || in_fd < 0)
                return -EINVAL;
        if (umc_pkgenc_plain_size(sealed_size, &plain) < 0)
                return -EBADMSG;
        o.in = malloc(SEALED_SEGMENT);
        o.out = malloc(SEALED_SEGMENT);
        if (!o.in || !o.out)
                r = -ENOMEM;
        else
                r = umc_hash_init(&o.plain, UMC_HASH_SHA256);
        if (r >= 0)
                r = open_loop(&o, sealed_size);
        if (r >= 0)
                r = umc_hash_final(&o.plain, ph);
        umc_hash_done(&o.plain);
        if (o.out)
                umc_memzero(o.out, SEALED_SEGMENT);
        free(o.in);
        free(o.out);
        if (r < 0)
                return r;
        if (ret_plain_size)
                *ret_plain_size = plain;
        if (ret_plain_sha256)
                memcpy(ret_plain_sha256, ph, UMC_HASH_LEN);
        return 0;
}
