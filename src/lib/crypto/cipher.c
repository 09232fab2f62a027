/* SPDX-License-Identifier: MIT */
#include "umc/cipher.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <strings.h>

#include "umc/hash.h"
#include "umc/ossl.h"
#include "umc/util.h"

/* SM4-CTR + HMAC-SM3: 16-byte SM4 key (GB/T 32907) || 32-byte HMAC-SM3 key. */
#define SM4_KEY_LEN 16
#define SM3_MAC_KEY_LEN 32
#define SM4_BLOCK_LEN 16

_Static_assert(SM4_KEY_LEN + SM3_MAC_KEY_LEN <= UMC_KEY_MAX, "SM4 key material fits umc_key");
_Static_assert(UMC_HASH_LEN <= UMC_TAG_MAX, "HMAC-SM3 tag fits UMC_TAG_MAX");
/* Keeps every length an int for EVP and far below the GCM and 32-bit CTR counter limits. */
_Static_assert(UMC_CIPHER_LEN_MAX <= ((size_t)1 << 30), "lengths fit an int");

enum suite_kind {
        KIND_AEAD, /* one EVP AEAD cipher with a 96-bit IV and a 16-byte tag */
        KIND_ETM,  /* SM4-CTR, then HMAC-SM3 over nonce, aad and ciphertext */
};

struct suite_impl {
        struct umc_suite pub;
        const char *evp_name;
        enum suite_kind kind;
};

/* Indexed by enum umc_suite_id; slot 0 (NONE) is unused. */
static const struct suite_impl suites[_UMC_SUITE_MAX] = {
        [UMC_SUITE_AES_128_GCM] = {
                .pub = { UMC_SUITE_AES_128_GCM, "aes-128-gcm", 16, 16 },
                .evp_name = "AES-128-GCM",
                .kind = KIND_AEAD,
        },
        [UMC_SUITE_AES_256_GCM] = {
                .pub = { UMC_SUITE_AES_256_GCM, "aes-256-gcm", 32, 16 },
                .evp_name = "AES-256-GCM",
                .kind = KIND_AEAD,
        },
        [UMC_SUITE_CHACHA20_POLY1305] = {
                /* RFC 8439: 256-bit key, 96-bit nonce, 128-bit tag. */
                .pub = { UMC_SUITE_CHACHA20_POLY1305, "chacha20-poly1305", 32, 16 },
                .evp_name = "ChaCha20-Poly1305",
                .kind = KIND_AEAD,
        },
        [UMC_SUITE_SM4_CTR_HMAC_SM3] = {
                .pub = { UMC_SUITE_SM4_CTR_HMAC_SM3, "sm4-ctr-hmac-sm3",
                         SM4_KEY_LEN + SM3_MAC_KEY_LEN, UMC_HASH_LEN },
                .evp_name = "SM4-CTR",
                .kind = KIND_ETM,
        },
};

static struct umc_ossl_cache fetched[_UMC_SUITE_MAX];

static EVP_CIPHER *cipher_get(const struct suite_impl *s) {
        return umc_ossl_cipher(&fetched[s->pub.id], s->evp_name);
}

static void cipher_ctx_freep(EVP_CIPHER_CTX **p) {
        EVP_CIPHER_CTX_free(*p);
}
#define _cleanup_cipher_ctx_ _cleanup_(cipher_ctx_freep)

static const struct suite_impl *impl_by_id(unsigned id) {
        if (id == UMC_SUITE_NONE || id >= _UMC_SUITE_MAX)
                return NULL;
        return &suites[id];
}

const struct umc_suite *umc_suite_by_id(unsigned id) {
        const struct suite_impl *s = impl_by_id(id);

        return s ? &s->pub : NULL;
}

struct legacy {
        const char *name;
        bool prefix; /* match any name starting with this */
        const char *why;
};

static const char why_64bit[] =
        "DES/3DES/Blowfish are broken legacy ciphers (64-bit blocks, Sweet32); use an AEAD suite";
static const char why_rc4[] =
        "RC4 is a broken legacy cipher (biased keystream, prohibited by RFC 7465); use an AEAD suite";
static const char why_other64[] =
        "RC2/IDEA/CAST5 are legacy ciphers with 64-bit blocks (Sweet32); use an AEAD suite";

static const struct legacy legacy_names[] = {
        { "des", true, why_64bit }, /* des, des-cbc, des3, des-ede3, des-ede3-cbc, ... */
        { "bf-", true, why_64bit }, /* bf-cbc, bf-ecb, ... */
        { "3des", false, why_64bit },
        { "tdes", false, why_64bit },
        { "triple-des", false, why_64bit },
        { "blowfish", false, why_64bit },
        { "bf", false, why_64bit },
        { "rc4", true, why_rc4 }, /* rc4, rc4-40, rc4-hmac-md5 */
        { "rc2", true, why_other64 },
        { "idea", true, why_other64 },
        { "cast5", true, why_other64 },
};

static const char *legacy_why(const char *name) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(legacy_names); i++) {
                const struct legacy *l = &legacy_names[i];

                if (l->prefix ? strncasecmp(name, l->name, strlen(l->name)) == 0
                              : strcasecmp(name, l->name) == 0)
                        return l->why;
        }
        return NULL;
}

int umc_suite_from_name(const char *name, const struct umc_suite **ret, char *why,
                        size_t why_size) {
        const char *legacy;

        if (!name || !ret)
                return -EINVAL;
        if (strcasecmp(name, "sm4") == 0) {
                *ret = &suites[UMC_SUITE_SM4_CTR_HMAC_SM3].pub;
                return 0;
        }
        for (unsigned id = UMC_SUITE_NONE + 1; id < _UMC_SUITE_MAX; id++)
                if (strcasecmp(name, suites[id].pub.name) == 0) {
                        *ret = &suites[id].pub;
                        return 0;
                }
        legacy = legacy_why(name);
        if (legacy)
                return umc_why(why, why_size, -EPERM, "%s", legacy);
        return -ENOENT;
}

void umc_key_clear(struct umc_key *k) {
        if (!k)
                return;
        umc_memzero(k->bytes, sizeof(k->bytes));
        k->len = 0;
        k->suite = UMC_SUITE_NONE;
}

/* The suite of a well-formed key, or NULL. */
static const struct suite_impl *key_suite(const struct umc_key *key) {
        const struct suite_impl *s;

        if (!key)
                return NULL;
        s = impl_by_id(key->suite);
        if (!s || key->len != s->pub.key_len)
                return NULL;
        return s;
}

/* True when [a, a+alen) and [b, b+blen) share a byte. */
static bool overlaps(const void *a, size_t alen, const void *b, size_t blen) {
        uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

        if (alen == 0 || blen == 0)
                return false;
        return x < y + blen && y < x + alen;
}

/*
 * Common argument checks for seal and open: in/in_len is the whole input
 * (plaintext, or ciphertext with its tag), out/out_len what is written.
 * The input may be the output exactly, never partly; the AAD may not
 * overlap the output at all (SM4 MACs it after writing).
 */
static int check_args(const uint8_t *nonce, const uint8_t *aad, size_t aad_len, const uint8_t *in,
                      size_t in_len, const uint8_t *out, size_t out_len) {
        if (!nonce || !out || (aad_len > 0 && !aad) || (in_len > 0 && !in))
                return -EINVAL;
        if (in != out && overlaps(in, in_len, out, out_len))
                return -EINVAL;
        if (overlaps(aad, aad_len, out, out_len))
                return -EINVAL;
        return 0;
}

/* Run in_len bytes through an initialised context into out (exactly in_len bytes out). */
static int crypt_update(EVP_CIPHER_CTX *ctx, const uint8_t *in, size_t in_len, uint8_t *out) {
        int n = 0, fin = 0;

        if (in_len > 0 && (EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) != 1 ||
                           (size_t)n != in_len))
                return -EIO;
        /* GCM, ChaCha20-Poly1305 and CTR are stream modes: final adds nothing. */
        if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1)
                return -EBADMSG; /* only AEAD decryption fails here: the tag did not verify */
        return fin == 0 ? 0 : -EIO;
}

static int aead_seal(const struct suite_impl *s, const struct umc_key *key, const uint8_t *nonce,
                     const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                     uint8_t *out) {
        _cleanup_cipher_ctx_ EVP_CIPHER_CTX *ctx = NULL;
        uint8_t tag[UMC_TAG_MAX];
        OSSL_PARAM params[2];
        EVP_CIPHER *c;
        int n, r;

        c = cipher_get(s);
        if (!c)
                return -EIO;
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_EncryptInit_ex2(ctx, c, key->bytes, nonce, NULL) != 1 ||
            EVP_CIPHER_CTX_get_iv_length(ctx) != UMC_NONCE_LEN)
                return -EIO;
        if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
                return -EIO;
        r = crypt_update(ctx, pt, pt_len, out);
        if (r < 0)
                return -EIO;

        params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag,
                                                      s->pub.tag_len);
        params[1] = OSSL_PARAM_construct_end();
        if (EVP_CIPHER_CTX_get_params(ctx, params) != 1)
                return -EIO;
        memcpy(out + pt_len, tag, s->pub.tag_len);
        return 0;
}

static int aead_open(const struct suite_impl *s, const struct umc_key *key, const uint8_t *nonce,
                     const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                     uint8_t *out) {
        _cleanup_cipher_ctx_ EVP_CIPHER_CTX *ctx = NULL;
        size_t body = ct_len - s->pub.tag_len;
        uint8_t tag[UMC_TAG_MAX];
        OSSL_PARAM params[2];
        EVP_CIPHER *c;
        int n;

        c = cipher_get(s);
        if (!c)
                return -EIO;
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DecryptInit_ex2(ctx, c, key->bytes, nonce, NULL) != 1 ||
            EVP_CIPHER_CTX_get_iv_length(ctx) != UMC_NONCE_LEN)
                return -EIO;

        /* Copied: OSSL_PARAM wants a writable buffer and ct is the caller's const input. */
        memcpy(tag, ct + body, s->pub.tag_len);
        params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag,
                                                      s->pub.tag_len);
        params[1] = OSSL_PARAM_construct_end();
        if (EVP_CIPHER_CTX_set_params(ctx, params) != 1)
                return -EIO;
        if (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
                return -EIO;
        /* EVP compares the tag in constant time (CRYPTO_memcmp) in the final call. */
        return crypt_update(ctx, ct, body, out);
}

/*
 * HMAC-SM3(mac_key, nonce || aad || ct || be64(aad_len) || be64(ct_len)).
 * The lengths make the aad/ct split unambiguous. The nonce is MACed too, as
 * RFC 7518 §5.2.2.1 MACs the IV: without it one ciphertext would verify
 * under every nonce and decrypt to garbage instead of being rejected.
 */
static int etm_tag(const struct umc_key *key, const uint8_t *nonce, const uint8_t *aad,
                   size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t tag[UMC_HASH_LEN]) {
        uint8_t lens[16];

        umc_put_be64(lens, (uint64_t)aad_len);
        umc_put_be64(lens + 8, (uint64_t)ct_len);
        const struct umc_iovec parts[] = {
                { nonce, UMC_NONCE_LEN },
                { aad, aad_len },
                { ct, ct_len },
                { lens, sizeof(lens) },
        };
        return umc_hmac(UMC_HASH_SM3, key->bytes + SM4_KEY_LEN, SM3_MAC_KEY_LEN, parts,
                        UMC_ELEMENTSOF(parts), tag);
}

/* SM4-CTR over in_len bytes; counter block = nonce || be32(1), counting up per block. */
static int sm4_ctr(const struct suite_impl *s, const struct umc_key *key, const uint8_t *nonce,
                   const uint8_t *in, size_t in_len, uint8_t *out) {
        _cleanup_cipher_ctx_ EVP_CIPHER_CTX *ctx = NULL;
        uint8_t iv[SM4_BLOCK_LEN];
        EVP_CIPHER *c;

        c = cipher_get(s);
        if (!c)
                return -EIO;
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx)
                return -ENOMEM;
        memcpy(iv, nonce, UMC_NONCE_LEN);
        umc_put_be32(iv + UMC_NONCE_LEN, 1);
        /* Encryption and decryption are the same in CTR mode. */
        if (EVP_EncryptInit_ex2(ctx, c, key->bytes, iv, NULL) != 1 ||
            EVP_CIPHER_CTX_get_iv_length(ctx) != SM4_BLOCK_LEN)
                return -EIO;
        return crypt_update(ctx, in, in_len, out) < 0 ? -EIO : 0;
}

static int etm_seal(const struct suite_impl *s, const struct umc_key *key, const uint8_t *nonce,
                    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                    uint8_t *out) {
        uint8_t tag[UMC_HASH_LEN];
        int r;

        r = sm4_ctr(s, key, nonce, pt, pt_len, out);
        if (r < 0)
                return r;
        r = etm_tag(key, nonce, aad, aad_len, out, pt_len, tag);
        if (r < 0)
                return r;
        memcpy(out + pt_len, tag, sizeof(tag));
        return 0;
}

static int etm_open(const struct suite_impl *s, const struct umc_key *key, const uint8_t *nonce,
                    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                    uint8_t *out) {
        size_t body = ct_len - s->pub.tag_len;
        uint8_t tag[UMC_HASH_LEN];
        bool ok;
        int r;

        /* Encrypt-then-MAC: nothing is decrypted before the tag verifies. */
        r = etm_tag(key, nonce, aad, aad_len, ct, body, tag);
        if (r < 0)
                return r;
        ok = umc_memeq_ct(tag, ct + body, sizeof(tag));
        umc_memzero(tag, sizeof(tag));
        if (!ok)
                return -EBADMSG;
        return sm4_ctr(s, key, nonce, ct, body, out);
}

int umc_cipher_seal(const struct umc_key *key, const uint8_t nonce[UMC_NONCE_LEN],
                    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                    uint8_t *out) {
        const struct suite_impl *s = key_suite(key);
        int r;

        if (!s)
                return -EINVAL;
        if (aad_len > UMC_CIPHER_LEN_MAX || pt_len > UMC_CIPHER_LEN_MAX)
                return -EMSGSIZE;
        r = check_args(nonce, aad, aad_len, pt, pt_len, out, pt_len + s->pub.tag_len);
        if (r < 0)
                return r;
        if (s->kind == KIND_ETM)
                r = etm_seal(s, key, nonce, aad, aad_len, pt, pt_len, out);
        else
                r = aead_seal(s, key, nonce, aad, aad_len, pt, pt_len, out);
        if (r < 0)
                /* Never hand out half a ciphertext, nor a half-overwritten plaintext. */
                umc_memzero(out, pt_len + s->pub.tag_len);
        return r;
}

int umc_cipher_open(const struct umc_key *key, const uint8_t nonce[UMC_NONCE_LEN],
                    const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                    uint8_t *out) {
        const struct suite_impl *s = key_suite(key);
        size_t body;
        int r;

        if (!s)
                return -EINVAL;
        if (ct_len < s->pub.tag_len)
                return -EMSGSIZE;
        body = ct_len - s->pub.tag_len;
        if (aad_len > UMC_CIPHER_LEN_MAX || body > UMC_CIPHER_LEN_MAX)
                return -EMSGSIZE;
        r = check_args(nonce, aad, aad_len, ct, ct_len, out, body);
        if (r < 0)
                return r;
        if (s->kind == KIND_ETM)
                r = etm_open(s, key, nonce, aad, aad_len, ct, ct_len, out);
        else
                r = aead_open(s, key, nonce, aad, aad_len, ct, ct_len, out);
        if (r < 0)
                /* GCM and ChaCha20 have written unauthenticated plaintext by now: wipe it. */
                umc_memzero(out, body);
        return r;
}
