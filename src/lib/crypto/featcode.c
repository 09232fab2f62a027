/* SPDX-License-Identifier: MIT */
#include "umc/featcode.h"

#include <errno.h>
#include <string.h>

#include <openssl/rand.h>

#include "umc/util.h"

#define KEY_LABEL "umc1 feature key"
#define AAD_LABEL "umc1 feature"
/* Label, three length-prefixed strings of at most 255 bytes each. */
#define AAD_MAX (sizeof(AAD_LABEL) - 1 + 3 * 256)

bool umc_featcode_valid(const char *code) {
        size_t n = code ? strlen(code) : 0;

        if (n == 0 || n > UMC_FEATCODE_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)code[i] < 0x21 || (unsigned char)code[i] > 0x7e)
                        return false;
        return true;
}

bool umc_featcode_key_id_valid(const char *key_id) {
        size_t n = key_id ? strlen(key_id) : 0;

        return n > 0 && n <= UMC_FEATCODE_KEY_ID_MAX &&
               strspn(key_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                              "0123456789._-") == n;
}

/* Append u8(len(s)) || s; -EINVAL for an empty or overlong s. */
static int put_lv(uint8_t *buf, size_t *pos, const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 255)
                return -EINVAL;
        buf[(*pos)++] = (uint8_t)n;
        memcpy(buf + *pos, s, n);
        *pos += n;
        return 0;
}

static int derive(const uint8_t key[UMC_FEATCODE_KEY_LEN], const char *key_id,
                  struct umc_key *ret) {
        uint8_t info[sizeof(KEY_LABEL) - 1 + 1 + UMC_FEATCODE_KEY_ID_MAX];
        size_t n = sizeof(KEY_LABEL) - 1;
        struct umc_key k = { .suite = UMC_SUITE_AES_256_GCM, .len = 32 };
        int r;

        if (!umc_featcode_key_id_valid(key_id))
                return -EINVAL;
        memcpy(info, KEY_LABEL, n);
        (void)put_lv(info, &n, key_id);
        r = umc_kdf_hkdf_sha256(key, UMC_FEATCODE_KEY_LEN, NULL, 0, info, n, k.bytes, k.len);
        if (r < 0) {
                umc_key_clear(&k);
                return r;
        }
        *ret = k;
        umc_key_clear(&k);
        return 0;
}

static int build_aad(const char *name, const char *version, const char *key_id, uint8_t *aad,
                     size_t *ret_len) {
        size_t n = sizeof(AAD_LABEL) - 1;
        int r;

        memcpy(aad, AAD_LABEL, n);
        if ((r = put_lv(aad, &n, name)) < 0 || (r = put_lv(aad, &n, version)) < 0 ||
            (r = put_lv(aad, &n, key_id)) < 0)
                return r;
        *ret_len = n;
        return 0;
}

int umc_featcode_seal(const uint8_t key[UMC_FEATCODE_KEY_LEN], const char *key_id,
                      const char *name, const char *package_version, const char *code,
                      struct umc_featcode_sealed *ret) {
        struct umc_featcode_sealed s = {};
        struct umc_key k = {};
        uint8_t aad[AAD_MAX];
        size_t aad_len, n;
        int r;

        if (!key || !name || !package_version || !ret || !umc_featcode_valid(code) ||
            !umc_featcode_key_id_valid(key_id))
                return -EINVAL;
        r = build_aad(name, package_version, key_id, aad, &aad_len);
        if (r < 0)
                return r;
        if (RAND_bytes(s.nonce, sizeof(s.nonce)) != 1)
                return -EIO;
        n = strlen(code);
        r = derive(key, key_id, &k);
        if (r >= 0)
                r = umc_cipher_seal(&k, s.nonce, aad, aad_len, (const uint8_t *)code, n, s.ct);
        umc_key_clear(&k);
        if (r < 0)
                return r;
        memcpy(s.key_id, key_id, strlen(key_id) + 1);
        s.ct_len = n + UMC_FEATCODE_TAG_LEN;
        *ret = s;
        return 0;
}

int umc_featcode_open(const uint8_t key[UMC_FEATCODE_KEY_LEN], const char *name,
                      const char *package_version, const struct umc_featcode_sealed *s,
                      char ret_code[UMC_FEATCODE_MAX + 1]) {
        uint8_t aad[AAD_MAX], pt[UMC_FEATCODE_CT_MAX] = {};
        char code[UMC_FEATCODE_MAX + 1] = {};
        struct umc_key k = {};
        size_t aad_len;
        int r;

        if (!key || !name || !package_version || !s || !ret_code ||
            s->ct_len < UMC_FEATCODE_CT_MIN || s->ct_len > UMC_FEATCODE_CT_MAX)
                return -EINVAL;
        r = build_aad(name, package_version, s->key_id, aad, &aad_len);
        if (r >= 0)
                r = derive(key, s->key_id, &k);
        if (r >= 0)
                r = umc_cipher_open(&k, s->nonce, aad, aad_len, s->ct, s->ct_len, pt);
        umc_key_clear(&k);
        if (r >= 0) {
                memcpy(code, pt, s->ct_len - UMC_FEATCODE_TAG_LEN);
                /* Authentic but not a code (a NUL inside, a control byte): the backend's error. */
                if (!umc_featcode_valid(code) || strlen(code) != s->ct_len - UMC_FEATCODE_TAG_LEN)
                        r = -EBADMSG;
        }
        if (r >= 0)
                memcpy(ret_code, code, sizeof(code));
        umc_memzero(pt, sizeof(pt));
        umc_memzero(code, sizeof(code));
        return r;
}

bool umc_featcode_equal(const char *code, const char *expected) {
        char a[UMC_FEATCODE_MAX + 1] = {}, b[UMC_FEATCODE_MAX + 1] = {};
        bool ok;

        if (!code || !expected || strlen(code) > UMC_FEATCODE_MAX ||
            strlen(expected) > UMC_FEATCODE_MAX)
                return false;
        memcpy(a, code, strlen(code));
        memcpy(b, expected, strlen(expected));
        /* Neither is empty: an unset code must not match an empty plaintext. */
        ok = umc_memeq_ct(a, b, sizeof(a)) && a[0] != '\0';
        umc_memzero(a, sizeof(a));
        umc_memzero(b, sizeof(b));
        return ok;
}
