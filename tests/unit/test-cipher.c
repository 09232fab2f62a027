/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "umc/cipher.h"
#include "umc/util.h"

#define BUF_MAX 512

/* Decode a hex literal from a standard's test vector into out; returns its length. */
static size_t unhex(const char *hex, uint8_t *out, size_t size) {
        size_t n = strlen(hex) / 2;

        assert_true(n <= size);
        assert_int_equal(umc_hex_decode(hex, strlen(hex), out, n), 0);
        return n;
}

static struct umc_key make_key(enum umc_suite_id id, const char *hex) {
        struct umc_key k = { .suite = id };

        k.len = unhex(hex, k.bytes, sizeof(k.bytes));
        return k;
}

/* A key of the right length for a suite, bytes 0x40 + i (plus a per-test twist). */
static struct umc_key pattern_key(enum umc_suite_id id, uint8_t twist) {
        const struct umc_suite *s = umc_suite_by_id(id);
        struct umc_key k = { .suite = id };

        assert_non_null(s);
        k.len = s->key_len;
        for (size_t i = 0; i < k.len; i++)
                k.bytes[i] = (uint8_t)(0x40 + i) ^ twist;
        return k;
}

static const uint8_t test_nonce[UMC_NONCE_LEN] = { 0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce,
                                                   0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88 };
static const uint8_t test_aad[] = "frame header: type, suite, key id, seq";

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/* Seal vector pt, compare with ct || tag, then open it back. */
static void check_known_answer(const struct umc_key *key, const char *nonce_hex,
                               const char *aad_hex, const uint8_t *pt, size_t pt_len,
                               const char *ct_tag_hex) {
        uint8_t nonce[UMC_NONCE_LEN], aad[64], expect[BUF_MAX], out[BUF_MAX], back[BUF_MAX];
        size_t aad_len, expect_len;

        assert_int_equal(unhex(nonce_hex, nonce, sizeof(nonce)), UMC_NONCE_LEN);
        aad_len = unhex(aad_hex, aad, sizeof(aad));
        expect_len = unhex(ct_tag_hex, expect, sizeof(expect));
        assert_int_equal(expect_len, pt_len + umc_suite_by_id(key->suite)->tag_len);

        assert_int_equal(umc_cipher_seal(key, nonce, aad, aad_len, pt, pt_len, out), 0);
        assert_memory_equal(out, expect, expect_len);
        assert_int_equal(umc_cipher_open(key, nonce, aad, aad_len, expect, expect_len, back), 0);
        assert_memory_equal(back, pt, pt_len);
}

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4 (AES-128, 96-bit IV, AAD). */
static void test_aes_128_gcm_matches_gcm_spec_test_case_4(void **state) {
        struct umc_key k = make_key(UMC_SUITE_AES_128_GCM, "feffe9928665731c6d6a8f9467308308");
        uint8_t pt[64];
        size_t n = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                         "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                         pt, sizeof(pt));

        check_known_answer(&k, "cafebabefacedbaddecaf888",
                           "feedfacedeadbeeffeedfacedeadbeefabaddad2", pt, n,
                           "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                           "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
                           "5bc94fbc3221a5db94fae95ae7121a47");
}

/* Same document, test case 16 (AES-256, 96-bit IV, AAD). */
static void test_aes_256_gcm_matches_gcm_spec_test_case_16(void **state) {
        struct umc_key k = make_key(UMC_SUITE_AES_256_GCM,
                                    "feffe9928665731c6d6a8f9467308308"
                                    "feffe9928665731c6d6a8f9467308308");
        uint8_t pt[64];
        size_t n = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                         "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
                         pt, sizeof(pt));

        check_known_answer(&k, "cafebabefacedbaddecaf888",
                           "feedfacedeadbeeffeedfacedeadbeefabaddad2", pt, n,
                           "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                           "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
                           "76fc6ece0f4e1768cddf8853bb2d551b");
}

/* RFC 8439 §2.8.2: AEAD_CHACHA20_POLY1305 test vector. */
static void test_chacha20_poly1305_matches_rfc8439_2_8_2(void **state) {
        static const char sunscreen[] =
                "Ladies and Gentlemen of the class of '99: If I could offer you only one "
                "tip for the future, sunscreen would be it.";
        struct umc_key k = make_key(UMC_SUITE_CHACHA20_POLY1305,
                                    "808182838485868788898a8b8c8d8e8f"
                                    "909192939495969798999a9b9c9d9e9f");

        assert_int_equal(strlen(sunscreen), 114);
        check_known_answer(&k, "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
                           (const uint8_t *)sunscreen, strlen(sunscreen),
                           "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                           "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                           "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                           "3ff4def08e4b7a9de576d26586cec64b6116"
                           "1ae10b594f09e26a7e902ecbd0600691");
}

/* GB/T 32907-2016 Appendix A.1: one SM4 block, key = plaintext. */
static void test_sm4_block_matches_gbt_32907_example(void **state) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        EVP_CIPHER *ecb = EVP_CIPHER_fetch(NULL, "SM4-ECB", NULL);
        uint8_t key[16], ct[32], expect[16];
        int n = 0, fin = 0;

        assert_non_null(ctx);
        assert_non_null(ecb);
        unhex("0123456789abcdeffedcba9876543210", key, sizeof(key));
        unhex("681edf34d206965e86b3e94f536e4246", expect, sizeof(expect));
        assert_int_equal(EVP_EncryptInit_ex2(ctx, ecb, key, NULL, NULL), 1);
        assert_int_equal(EVP_CIPHER_CTX_set_padding(ctx, 0), 1);
        assert_int_equal(EVP_EncryptUpdate(ctx, ct, &n, key, sizeof(key)), 1);
        assert_int_equal(EVP_EncryptFinal_ex(ctx, ct + n, &fin), 1);
        assert_int_equal(n + fin, 16);
        assert_memory_equal(ct, expect, sizeof(expect));
        EVP_CIPHER_CTX_free(ctx);
        EVP_CIPHER_free(ecb);
}

/*
 * Our SM4-CTR + HMAC-SM3 composition. No standard vector exists; this one
 * was computed independently with the openssl command line (OpenSSL 3.0):
 *   K=0123456789abcdeffedcba9876543210  (SM4 key)
 *   M=000102...1f                        (HMAC-SM3 key, 32 bytes)
 *   N=a0a1a2a3a4a5a6a7a8a9aaab           (nonce)
 *   printf 'The quick brown fox jumps over the lazy dog' |
 *     openssl enc -sm4-ctr -K $K -iv ${N}00000001 > ct
 *   { printf $N | xxd -r -p; printf 'umc header'; cat ct;
 *     printf '%016x%016x' 10 43 | xxd -r -p; } |
 *     openssl dgst -sm3 -mac HMAC -macopt hexkey:$M
 * (tag input: nonce || aad || ct || be64(aad_len) || be64(ct_len)), and for
 * the empty plaintext the same with no ct and lengths 10 and 0.
 */
#define SM4_TEST_KEY                                                                               \
        "0123456789abcdeffedcba9876543210"                                                         \
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static void test_sm4_ctr_hmac_sm3_matches_openssl_cli_vector(void **state) {
        static const char fox[] = "The quick brown fox jumps over the lazy dog";
        struct umc_key k = make_key(UMC_SUITE_SM4_CTR_HMAC_SM3, SM4_TEST_KEY);

        check_known_answer(&k, "a0a1a2a3a4a5a6a7a8a9aaab", "756d6320686561646572",
                           (const uint8_t *)fox, strlen(fox),
                           "36cc34d5cc45c5a2453d1030c039dcc98ddc2ad8ccefa233c5ff139c56304beb"
                           "eec28ffa97cb3be20a7b8d"
                           "064cac3842151685b971b688872cab60e42520c2be92cf67fa1f9e97f4e77d20");
}

static void test_sm4_ctr_hmac_sm3_empty_plaintext_matches_openssl_cli_vector(void **state) {
        struct umc_key k = make_key(UMC_SUITE_SM4_CTR_HMAC_SM3, SM4_TEST_KEY);

        check_known_answer(&k, "a0a1a2a3a4a5a6a7a8a9aaab", "756d6320686561646572",
                           (const uint8_t *)"", 0,
                           "ffbedef0e3e9d4020ef8fcc7bf23737edd4bd28348f69e10b60abf97acb30b1c");
}

static const enum umc_suite_id all_suites[] = {
        UMC_SUITE_AES_128_GCM,
        UMC_SUITE_AES_256_GCM,
        UMC_SUITE_CHACHA20_POLY1305,
        UMC_SUITE_SM4_CTR_HMAC_SM3,
};

static void fill(uint8_t *p, size_t n, uint8_t seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t)(seed + 7 * i);
}

static void test_every_suite_round_trips_many_lengths(void **state) {
        static const size_t lens[] = { 1, 15, 16, 17, 63, 64, 65, 255, 300 };

        for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                struct umc_key k = pattern_key(all_suites[i], 0);
                size_t tag = umc_suite_by_id(all_suites[i])->tag_len;

                for (size_t j = 0; j < UMC_ELEMENTSOF(lens); j++) {
                        uint8_t pt[BUF_MAX], ct[BUF_MAX], back[BUF_MAX];

                        fill(pt, lens[j], (uint8_t)j);
                        assert_int_equal(umc_cipher_seal(&k, test_nonce, test_aad,
                                                         sizeof(test_aad), pt, lens[j], ct),
                                         0);
                        /* A cipher that copied its input would pass the round trip: it must not. */
                        assert_memory_not_equal(ct, pt, lens[j]);
                        assert_int_equal(umc_cipher_open(&k, test_nonce, test_aad,
                                                         sizeof(test_aad), ct, lens[j] + tag,
                                                         back),
                                         0);
                        assert_memory_equal(back, pt, lens[j]);
                }
        }
}

static void test_every_suite_handles_empty_plaintext_and_aad(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                struct umc_key k = pattern_key(all_suites[i], 0);
                size_t tag = umc_suite_by_id(all_suites[i])->tag_len;
                uint8_t ct[UMC_TAG_MAX + 1], out[1] = { 0x55 };

                ct[tag] = 0xee; /* sentinel: nothing past the tag is written */
                assert_int_equal(umc_cipher_seal(&k, test_nonce, NULL, 0, NULL, 0, ct), 0);
                assert_int_equal(ct[tag], 0xee);
                assert_false(all_zero(ct, tag));
                assert_int_equal(umc_cipher_open(&k, test_nonce, NULL, 0, ct, tag, out), 0);
                assert_int_equal(out[0], 0x55);
                /* The empty message is still authenticated: a changed tag fails. */
                ct[0] ^= 1;
                assert_int_equal(umc_cipher_open(&k, test_nonce, NULL, 0, ct, tag, out), -EBADMSG);
        }
}

/* Seal a 100-byte message for one suite; returns the sealed length. */
static size_t seal_sample(const struct umc_key *k, uint8_t *pt, uint8_t *ct) {
        fill(pt, 100, 3);
        assert_int_equal(umc_cipher_seal(k, test_nonce, test_aad, sizeof(test_aad), pt, 100, ct), 0);
        return 100 + umc_suite_by_id(k->suite)->tag_len;
}

/* Open must fail with -EBADMSG and leave all 100 output bytes zero. */
static void expect_rejected(const struct umc_key *k, const uint8_t *nonce, const uint8_t *aad,
                            size_t aad_len, const uint8_t *ct, size_t ct_len) {
        uint8_t out[BUF_MAX];

        memset(out, 0xa5, sizeof(out));
        assert_int_equal(umc_cipher_open(k, nonce, aad, aad_len, ct, ct_len, out), -EBADMSG);
        assert_true(all_zero(out, ct_len - umc_suite_by_id(k->suite)->tag_len));
}

static void test_tampered_ciphertext_is_rejected_and_output_zeroed(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                struct umc_key k = pattern_key(all_suites[i], 0);
                uint8_t pt[BUF_MAX], ct[BUF_MAX];
                size_t n = seal_sample(&k, pt, ct);

                for (size_t pos = 0; pos < 100; pos += 33) {
                        ct[pos] ^= 0x80;
                        expect_rejected(&k, test_nonce, test_aad, sizeof(test_aad), ct, n);
                        ct[pos] ^= 0x80;
                }
        }
}

static void test_tampered_tag_is_rejected_and_output_zeroed(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                struct umc_key k = pattern_key(all_suites[i], 0);
                uint8_t pt[BUF_MAX], ct[BUF_MAX];
                size_t n = seal_sample(&k, pt, ct);

                /* First and last tag byte: a short comparison would miss the last. */
                ct[100] ^= 1;
                expect_rejected(&k, test_nonce, test_aad, sizeof(test_aad), ct, n);
                ct[100] ^= 1;
                ct[n - 1] ^= 1;
                expect_rejected(&k, test_nonce, test_aad, sizeof(test_aad), ct, n);
        }
}

static void test_tampered_aad_is_rejected(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                struct umc_key k = pattern_key(all_suites[i], 0);
                uint8_t pt[BUF_MAX], ct[BUF_MAX], aad[sizeof(test_aad)];
                size_t n = seal_sample(&k, pt, ct);

                memcpy(aad, test_aad, sizeof(aad));
                aad[5] ^= 4;
                expect_rejected(&k, test_nonce, aad, sizeof(aad), ct, n);
                /* Moving bytes between AAD and ciphertext must not verify either. */
                expect_rejected(&k, test_nonce, test_aad, sizeof(test_aad) - 1, ct, n);
                expect_rejected(&k, test_nonce, NULL, 0, ct, n);
        }
}

static void test_wrong_key_or_nonce_is_rejected(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                struct umc_key k = pattern_key(all_suites[i], 0);
                struct umc_key other = pattern_key(all_suites[i], 0x01);
                uint8_t pt[BUF_MAX], ct[BUF_MAX], nonce[UMC_NONCE_LEN];
                size_t n = seal_sample(&k, pt, ct);

                expect_rejected(&other, test_nonce, test_aad, sizeof(test_aad), ct, n);
                memcpy(nonce, test_nonce, sizeof(nonce));
                nonce[UMC_NONCE_LEN - 1] ^= 1;
                expect_rejected(&k, nonce, test_aad, sizeof(test_aad), ct, n);
        }
}

/*
 * SM4: the two key halves have separate jobs. The MAC half authenticates
 * (a wrong one is rejected); the SM4 half encrypts (a different one gives a
 * different ciphertext under the same MAC key).
 */
static void test_sm4_key_halves_each_take_effect(void **state) {
        struct umc_key k = pattern_key(UMC_SUITE_SM4_CTR_HMAC_SM3, 0);
        uint8_t pt[BUF_MAX], ct[BUF_MAX], ct2[BUF_MAX];
        size_t n = seal_sample(&k, pt, ct);

        k.bytes[47] ^= 1; /* last byte of the HMAC-SM3 key */
        expect_rejected(&k, test_nonce, test_aad, sizeof(test_aad), ct, n);
        k.bytes[47] ^= 1;
        k.bytes[16] ^= 1; /* first byte of the HMAC-SM3 key */
        expect_rejected(&k, test_nonce, test_aad, sizeof(test_aad), ct, n);
        k.bytes[16] ^= 1;
        k.bytes[15] ^= 1; /* last byte of the SM4 key */
        (void)seal_sample(&k, pt, ct2);
        assert_memory_not_equal(ct, ct2, 100);
}

static void test_ciphertext_shorter_than_tag_is_emsgsize(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                struct umc_key k = pattern_key(all_suites[i], 0);
                size_t tag = umc_suite_by_id(all_suites[i])->tag_len;
                uint8_t ct[UMC_TAG_MAX] = {}, out[1] = { 0x77 };

                assert_int_equal(umc_cipher_open(&k, test_nonce, NULL, 0, ct, tag - 1, out),
                                 -EMSGSIZE);
                assert_int_equal(umc_cipher_open(&k, test_nonce, NULL, 0, ct, 0, out), -EMSGSIZE);
                assert_int_equal(out[0], 0x77);
        }
}

static void test_in_place_seal_and_open_work(void **state) {
        for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                struct umc_key k = pattern_key(all_suites[i], 0);
                uint8_t pt[BUF_MAX], buf[BUF_MAX], ref[BUF_MAX];
                size_t n = seal_sample(&k, pt, ref);

                memcpy(buf, pt, 100);
                assert_int_equal(umc_cipher_seal(&k, test_nonce, test_aad, sizeof(test_aad), buf,
                                                 100, buf),
                                 0);
                assert_memory_equal(buf, ref, n);
                assert_int_equal(umc_cipher_open(&k, test_nonce, test_aad, sizeof(test_aad), buf,
                                                 n, buf),
                                 0);
                assert_memory_equal(buf, pt, 100);

                /* A failed in-place open leaves zeros, not plaintext. */
                memcpy(buf, ref, n);
                buf[n - 1] ^= 1;
                assert_int_equal(umc_cipher_open(&k, test_nonce, test_aad, sizeof(test_aad), buf,
                                                 n, buf),
                                 -EBADMSG);
                assert_true(all_zero(buf, 100));
        }
}

static void test_key_that_does_not_fit_its_suite_is_einval(void **state) {
        struct umc_key k = pattern_key(UMC_SUITE_AES_256_GCM, 0);
        uint8_t pt[16] = {}, ct[BUF_MAX];

        k.len = 16; /* an AES-128 length under the AES-256 suite */
        assert_int_equal(umc_cipher_seal(&k, test_nonce, NULL, 0, pt, sizeof(pt), ct), -EINVAL);
        k = pattern_key(UMC_SUITE_AES_128_GCM, 0);
        k.suite = UMC_SUITE_NONE;
        assert_int_equal(umc_cipher_seal(&k, test_nonce, NULL, 0, pt, sizeof(pt), ct), -EINVAL);
        k.suite = _UMC_SUITE_MAX;
        assert_int_equal(umc_cipher_open(&k, test_nonce, NULL, 0, ct, 32, pt), -EINVAL);
        assert_int_equal(umc_cipher_seal(NULL, test_nonce, NULL, 0, pt, sizeof(pt), ct), -EINVAL);
}

static void test_partial_overlap_and_null_buffers_are_einval(void **state) {
        struct umc_key k = pattern_key(UMC_SUITE_CHACHA20_POLY1305, 0);
        uint8_t buf[BUF_MAX] = {}, out[BUF_MAX];

        assert_int_equal(umc_cipher_seal(&k, test_nonce, NULL, 0, buf, 64, buf + 1), -EINVAL);
        assert_int_equal(umc_cipher_seal(&k, test_nonce, buf + 70, 8, buf, 64, buf), -EINVAL);
        assert_int_equal(umc_cipher_seal(&k, NULL, NULL, 0, buf, 64, out), -EINVAL);
        assert_int_equal(umc_cipher_seal(&k, test_nonce, NULL, 4, buf, 64, out), -EINVAL);
        assert_int_equal(umc_cipher_seal(&k, test_nonce, NULL, 0, NULL, 64, out), -EINVAL);
        assert_int_equal(umc_cipher_seal(&k, test_nonce, NULL, 0, buf, 64, NULL), -EINVAL);
        assert_int_equal(umc_cipher_open(&k, test_nonce, NULL, 0, buf, 80, buf + 8), -EINVAL);
        /* AAD before the output, as a frame header before its payload, is fine. */
        assert_int_equal(umc_cipher_seal(&k, test_nonce, buf, 16, buf + 16, 64, buf + 16), 0);
        assert_int_equal(umc_cipher_open(&k, test_nonce, buf, 16, buf + 16, 80, buf + 16), 0);
}

static void test_oversized_lengths_are_emsgsize(void **state) {
        struct umc_key k = pattern_key(UMC_SUITE_AES_128_GCM, 0);
        uint8_t buf[64] = {}, out[64];

        /* Rejected before any byte is read, so the short buffers are never touched. */
        assert_int_equal(umc_cipher_seal(&k, test_nonce, buf, UMC_CIPHER_LEN_MAX + 1, buf, 16,
                                         out),
                         -EMSGSIZE);
        assert_int_equal(umc_cipher_seal(&k, test_nonce, NULL, 0, buf, UMC_CIPHER_LEN_MAX + 1,
                                         out),
                         -EMSGSIZE);
        assert_int_equal(umc_cipher_open(&k, test_nonce, NULL, 0, buf,
                                         UMC_CIPHER_LEN_MAX + 17, out),
                         -EMSGSIZE);
}

static void test_suite_table_matches_the_algorithms(void **state) {
        static const struct {
                enum umc_suite_id id;
                const char *name;
                size_t key_len, tag_len;
        } expect[] = {
                { UMC_SUITE_AES_128_GCM, "aes-128-gcm", 16, 16 },
                { UMC_SUITE_AES_256_GCM, "aes-256-gcm", 32, 16 },
                { UMC_SUITE_CHACHA20_POLY1305, "chacha20-poly1305", 32, 16 },
                { UMC_SUITE_SM4_CTR_HMAC_SM3, "sm4-ctr-hmac-sm3", 48, 32 },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(expect); i++) {
                const struct umc_suite *s = umc_suite_by_id(expect[i].id);

                assert_non_null(s);
                assert_int_equal(s->id, expect[i].id);
                assert_string_equal(s->name, expect[i].name);
                assert_int_equal(s->key_len, expect[i].key_len);
                assert_int_equal(s->tag_len, expect[i].tag_len);
                assert_true(s->key_len <= UMC_KEY_MAX && s->tag_len <= UMC_TAG_MAX);
        }
        assert_null(umc_suite_by_id(UMC_SUITE_NONE));
        assert_null(umc_suite_by_id(_UMC_SUITE_MAX));
        assert_null(umc_suite_by_id(255));
}

static void test_suite_names_resolve_case_insensitively(void **state) {
        static const struct {
                const char *name;
                enum umc_suite_id id;
        } names[] = {
                { "aes-128-gcm", UMC_SUITE_AES_128_GCM },
                { "AES-128-GCM", UMC_SUITE_AES_128_GCM },
                { "Aes-256-Gcm", UMC_SUITE_AES_256_GCM },
                { "chacha20-poly1305", UMC_SUITE_CHACHA20_POLY1305 },
                { "ChaCha20-Poly1305", UMC_SUITE_CHACHA20_POLY1305 },
                { "sm4-ctr-hmac-sm3", UMC_SUITE_SM4_CTR_HMAC_SM3 },
                { "sm4", UMC_SUITE_SM4_CTR_HMAC_SM3 },
                { "SM4", UMC_SUITE_SM4_CTR_HMAC_SM3 },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(names); i++) {
                const struct umc_suite *s = NULL;
                char why[UMC_WHY_MAX] = "";

                assert_int_equal(umc_suite_from_name(names[i].name, &s, why, sizeof(why)), 0);
                assert_non_null(s);
                assert_int_equal(s->id, names[i].id);
                assert_string_equal(why, "");
        }
}

static void test_legacy_names_are_refused_with_a_reason(void **state) {
        static const char *const legacy[] = {
                "des", "DES", "des-cbc", "3des", "des3", "des-ede3", "des-ede3-cbc", "tdes",
                "triple-des", "blowfish", "bf", "bf-cbc", "BF-ECB", "rc2", "rc4", "idea",
                "cast5", "des-anything", "rc4-hmac-md5",
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(legacy); i++) {
                const struct umc_suite *s = NULL;
                char why[UMC_WHY_MAX] = "";

                assert_int_equal(umc_suite_from_name(legacy[i], &s, why, sizeof(why)), -EPERM);
                assert_null(s);
                assert_true(why[0] != '\0');
                assert_non_null(strstr(why, "use an AEAD suite"));
        }
        char why[UMC_WHY_MAX] = "";
        const struct umc_suite *s;
        assert_int_equal(umc_suite_from_name("3des", &s, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, "Sweet32"));
        /* The reason is optional. */
        assert_int_equal(umc_suite_from_name("des", &s, NULL, 0), -EPERM);
}

static void test_unknown_names_are_enoent(void **state) {
        static const char *const unknown[] = {
                "", "aes", "aes-128-cbc", "aes-128-gcm ", " aes-128-gcm", "sm4-gcm", "none",
                "sm", "chacha20", "aes-192-gcm",
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(unknown); i++) {
                const struct umc_suite *s = NULL;
                char why[UMC_WHY_MAX] = "";

                assert_int_equal(umc_suite_from_name(unknown[i], &s, why, sizeof(why)), -ENOENT);
                assert_null(s);
                assert_string_equal(why, "");
        }
        assert_int_equal(umc_suite_from_name(NULL, &(const struct umc_suite *){ NULL }, NULL, 0),
                         -EINVAL);
}

static void test_key_clear_wipes_bytes_and_accepts_null(void **state) {
        struct umc_key k = pattern_key(UMC_SUITE_SM4_CTR_HMAC_SM3, 0);

        umc_key_clear(&k);
        assert_true(all_zero(k.bytes, sizeof(k.bytes)));
        assert_int_equal(k.len, 0);
        assert_int_equal(k.suite, UMC_SUITE_NONE);
        umc_key_clear(NULL);
}

/* Threads racing on the first use of every suite (lazy EVP fetch) all get correct results. */
#define N_THREADS 8

/* No cmocka assertion in here: they longjmp, which only works on the main thread. */
static void *seal_open_worker(void *arg) {
        uintptr_t ok = 1;

        for (int round = 0; round < 50; round++)
                for (size_t i = 0; i < UMC_ELEMENTSOF(all_suites); i++) {
                        const struct umc_suite *s = umc_suite_by_id(all_suites[i]);
                        struct umc_key k = { .suite = all_suites[i], .len = s->key_len };
                        size_t tag = s->tag_len;
                        uint8_t pt[64], ct[64 + UMC_TAG_MAX], back[64];

                        memset(k.bytes, (int)(uintptr_t)arg, k.len);
                        fill(pt, sizeof(pt), (uint8_t)round);
                        if (umc_cipher_seal(&k, test_nonce, NULL, 0, pt, sizeof(pt), ct) < 0 ||
                            umc_cipher_open(&k, test_nonce, NULL, 0, ct, sizeof(pt) + tag, back) < 0 ||
                            memcmp(back, pt, sizeof(pt)) != 0)
                                ok = 0;
                }
        return (void *)ok;
}

static void test_concurrent_first_use_is_safe(void **state) {
        pthread_t t[N_THREADS];

        for (uintptr_t i = 0; i < N_THREADS; i++)
                assert_int_equal(pthread_create(&t[i], NULL, seal_open_worker, (void *)i), 0);
        for (size_t i = 0; i < N_THREADS; i++) {
                void *ok = NULL;

                assert_int_equal(pthread_join(t[i], &ok), 0);
                assert_true((uintptr_t)ok == 1);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                /* First: it must see the lazy fetch cache still empty. */
                cmocka_unit_test(test_concurrent_first_use_is_safe),
                cmocka_unit_test(test_aes_128_gcm_matches_gcm_spec_test_case_4),
                cmocka_unit_test(test_aes_256_gcm_matches_gcm_spec_test_case_16),
                cmocka_unit_test(test_chacha20_poly1305_matches_rfc8439_2_8_2),
                cmocka_unit_test(test_sm4_block_matches_gbt_32907_example),
                cmocka_unit_test(test_sm4_ctr_hmac_sm3_matches_openssl_cli_vector),
                cmocka_unit_test(test_sm4_ctr_hmac_sm3_empty_plaintext_matches_openssl_cli_vector),
                cmocka_unit_test(test_every_suite_round_trips_many_lengths),
                cmocka_unit_test(test_every_suite_handles_empty_plaintext_and_aad),
                cmocka_unit_test(test_tampered_ciphertext_is_rejected_and_output_zeroed),
                cmocka_unit_test(test_tampered_tag_is_rejected_and_output_zeroed),
                cmocka_unit_test(test_tampered_aad_is_rejected),
                cmocka_unit_test(test_wrong_key_or_nonce_is_rejected),
                cmocka_unit_test(test_sm4_key_halves_each_take_effect),
                cmocka_unit_test(test_ciphertext_shorter_than_tag_is_emsgsize),
                cmocka_unit_test(test_in_place_seal_and_open_work),
                cmocka_unit_test(test_key_that_does_not_fit_its_suite_is_einval),
                cmocka_unit_test(test_partial_overlap_and_null_buffers_are_einval),
                cmocka_unit_test(test_oversized_lengths_are_emsgsize),
                cmocka_unit_test(test_suite_table_matches_the_algorithms),
                cmocka_unit_test(test_suite_names_resolve_case_insensitively),
                cmocka_unit_test(test_legacy_names_are_refused_with_a_reason),
                cmocka_unit_test(test_unknown_names_are_enoent),
                cmocka_unit_test(test_key_clear_wipes_bytes_and_accepts_null),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
