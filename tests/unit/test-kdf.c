/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "umc/kdf.h"
#include "umc/util.h"

static size_t unhex(const char *hex, uint8_t *out, size_t size) {
        size_t n = strlen(hex) / 2;

        assert_true(n <= size);
        assert_int_equal(umc_hex_decode(hex, strlen(hex), out, n), 0);
        return n;
}

static void seq_bytes(uint8_t *p, uint8_t first, uint8_t last) {
        for (unsigned v = first; v <= last; v++)
                *p++ = (uint8_t)v;
}

static void check_hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
                       const uint8_t *info, size_t info_len, const char *okm_hex) {
        uint8_t expect[128], got[128];
        size_t n = unhex(okm_hex, expect, sizeof(expect));

        assert_int_equal(umc_kdf_hkdf_sha256(ikm, ikm_len, salt, salt_len, info, info_len, got, n),
                         0);
        assert_memory_equal(got, expect, n);
}

/* RFC 5869 Appendix A.1: basic test case with SHA-256. */
static void test_hkdf_matches_rfc5869_test_case_1(void **state) {
        uint8_t ikm[22], salt[13], info[10];

        memset(ikm, 0x0b, sizeof(ikm));
        seq_bytes(salt, 0x00, 0x0c);
        seq_bytes(info, 0xf0, 0xf9);
        check_hkdf(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info),
                   "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                   "34007208d5b887185865");
}

/* RFC 5869 Appendix A.2: longer inputs and outputs. */
static void test_hkdf_matches_rfc5869_test_case_2(void **state) {
        uint8_t ikm[80], salt[80], info[80];

        seq_bytes(ikm, 0x00, 0x4f);
        seq_bytes(salt, 0x60, 0xaf);
        seq_bytes(info, 0xb0, 0xff);
        check_hkdf(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info),
                   "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
                   "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
                   "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

/* RFC 5869 Appendix A.3: zero-length salt and info. */
static void test_hkdf_matches_rfc5869_test_case_3(void **state) {
        uint8_t ikm[22];

        memset(ikm, 0x0b, sizeof(ikm));
        check_hkdf(ikm, sizeof(ikm), NULL, 0, NULL, 0,
                   "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                   "9d201395faa4b61a96c8");
}

static void test_hkdf_rejects_out_of_range_lengths(void **state) {
        uint8_t ikm[32] = { 1 }, info[UMC_KDF_INFO_MAX + 1] = {};
        uint8_t *out = malloc(255 * 32 + 1);

        assert_non_null(out);
        assert_int_equal(umc_kdf_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, 0, out, 0), -EINVAL);
        /* RFC 5869 §2.3: L <= 255 * HashLen. */
        assert_int_equal(umc_kdf_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, 0, out, 255 * 32 + 1),
                         -EINVAL);
        assert_int_equal(umc_kdf_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, 0, out, 255 * 32), 0);
        assert_int_equal(umc_kdf_hkdf_sha256(ikm, 0, NULL, 0, NULL, 0, out, 32), -EINVAL);
        assert_int_equal(umc_kdf_hkdf_sha256(NULL, 32, NULL, 0, NULL, 0, out, 32), -EINVAL);
        assert_int_equal(umc_kdf_hkdf_sha256(ikm, sizeof(ikm), NULL, 4, NULL, 0, out, 32), -EINVAL);
        assert_int_equal(umc_kdf_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, NULL, 4, out, 32), -EINVAL);
        assert_int_equal(umc_kdf_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, info, sizeof(info), out, 32),
                         -EINVAL);
        assert_int_equal(umc_kdf_hkdf_sha256(ikm, sizeof(ikm), NULL, 0, info, UMC_KDF_INFO_MAX, out,
                                             32),
                         0);
        free(out);
}

static uint8_t master[UMC_MASTER_KEY_LEN], salt[UMC_SALT_LEN];

static int setup_inputs(void **state) {
        seq_bytes(master, 0x00, 0x1f);
        seq_bytes(salt, 0xa0, 0xbf);
        return 0;
}

/*
 * Known answers computed independently with the openssl command line from
 * the info layout the header documents ("umc1 frame" || be64 session ||
 * be16 key ID || suite || dir || layer), e.g. for the first:
 *   openssl kdf -keylen 60 -kdfopt digest:SHA256 -kdfopt hexkey:000102...1f \
 *     -kdfopt hexsalt:a0a1...bf \
 *     -kdfopt hexinfo:756d6331206672616d6501020304050607080a0b040101 HKDF
 * The output is key (suite key_len bytes) then the 12-byte IV.
 */
static void test_frame_key_matches_openssl_cli_vectors(void **state) {
        uint8_t expect_key[UMC_KEY_MAX], expect_iv[UMC_NONCE_LEN], iv[UMC_NONCE_LEN];
        struct umc_key key;

        assert_int_equal(umc_kdf_frame_key(master, salt, UINT64_C(0x0102030405060708), 0x0a0b,
                                           UMC_SUITE_SM4_CTR_HMAC_SM3, UMC_DIR_ECU_TO_MASTER,
                                           UMC_LAYER_INNER, &key, iv),
                         0);
        assert_int_equal(key.suite, UMC_SUITE_SM4_CTR_HMAC_SM3);
        assert_int_equal(key.len, 48);
        unhex("b79dd669b0abddb3809b19c5b619f2a590976c2cc7484106888b04d7c76ba7de"
              "b4e4f1dbeeaa55eb18aebcac45004348",
              expect_key, sizeof(expect_key));
        unhex("e28ab9bcd781a4ad8bd26205", expect_iv, sizeof(expect_iv));
        assert_memory_equal(key.bytes, expect_key, 48);
        assert_memory_equal(iv, expect_iv, UMC_NONCE_LEN);

        /* hexinfo:756d6331206672616d6500000000000000010001010000, -keylen 28 */
        assert_int_equal(umc_kdf_frame_key(master, salt, 1, 1, UMC_SUITE_AES_128_GCM,
                                           UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER, &key, iv),
                         0);
        assert_int_equal(key.suite, UMC_SUITE_AES_128_GCM);
        assert_int_equal(key.len, 16);
        unhex("fb5456f641a8436f1c7395c8d60fe8b7", expect_key, sizeof(expect_key));
        unhex("4ae8513f7e38164427c77f44", expect_iv, sizeof(expect_iv));
        assert_memory_equal(key.bytes, expect_key, 16);
        assert_memory_equal(iv, expect_iv, UMC_NONCE_LEN);
        umc_key_clear(&key);
}

struct derived {
        struct umc_key key;
        uint8_t iv[UMC_NONCE_LEN];
};

static struct derived derive(const uint8_t *m, const uint8_t *s, uint64_t session, uint16_t key_id,
                             enum umc_suite_id suite, enum umc_direction dir,
                             enum umc_layer layer) {
        struct derived d;

        assert_int_equal(umc_kdf_frame_key(m, s, session, key_id, suite, dir, layer, &d.key, d.iv),
                         0);
        return d;
}

/* Keys and IVs differ in their first 16 bytes (the shortest key) and in the IV. */
static void assert_unrelated(const struct derived *a, const struct derived *b) {
        assert_memory_not_equal(a->key.bytes, b->key.bytes, 16);
        assert_memory_not_equal(a->iv, b->iv, UMC_NONCE_LEN);
}

static void test_every_frame_key_input_changes_key_and_iv(void **state) {
        const struct derived base = derive(master, salt, 7, 3, UMC_SUITE_AES_256_GCM,
                                           UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER);
        uint8_t m2[UMC_MASTER_KEY_LEN], s2[UMC_SALT_LEN];
        struct derived d;

        memcpy(m2, master, sizeof(m2));
        m2[31] ^= 1;
        memcpy(s2, salt, sizeof(s2));
        s2[0] ^= 1;

        d = derive(master, salt, 7, 4, UMC_SUITE_AES_256_GCM, UMC_DIR_MASTER_TO_ECU,
                   UMC_LAYER_OUTER);
        assert_unrelated(&base, &d); /* key ID */
        d = derive(master, salt, 7, 3, UMC_SUITE_AES_256_GCM, UMC_DIR_ECU_TO_MASTER,
                   UMC_LAYER_OUTER);
        assert_unrelated(&base, &d); /* direction */
        d = derive(master, salt, 7, 3, UMC_SUITE_AES_256_GCM, UMC_DIR_MASTER_TO_ECU,
                   UMC_LAYER_INNER);
        assert_unrelated(&base, &d); /* layer */
        d = derive(master, salt, 8, 3, UMC_SUITE_AES_256_GCM, UMC_DIR_MASTER_TO_ECU,
                   UMC_LAYER_OUTER);
        assert_unrelated(&base, &d); /* session */
        d = derive(master, salt, 7, 3, UMC_SUITE_CHACHA20_POLY1305, UMC_DIR_MASTER_TO_ECU,
                   UMC_LAYER_OUTER);
        assert_unrelated(&base, &d); /* suite, same key length */
        d = derive(master, salt, 7, 3, UMC_SUITE_AES_128_GCM, UMC_DIR_MASTER_TO_ECU,
                   UMC_LAYER_OUTER);
        assert_unrelated(&base, &d); /* suite, shorter key: not a prefix of the longer one */
        d = derive(m2, salt, 7, 3, UMC_SUITE_AES_256_GCM, UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER);
        assert_unrelated(&base, &d); /* master key */
        d = derive(master, s2, 7, 3, UMC_SUITE_AES_256_GCM, UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER);
        assert_unrelated(&base, &d); /* session salt */

        /* And the same inputs give the same key: both ends must agree. */
        d = derive(master, salt, 7, 3, UMC_SUITE_AES_256_GCM, UMC_DIR_MASTER_TO_ECU,
                   UMC_LAYER_OUTER);
        assert_memory_equal(d.key.bytes, base.key.bytes, 32);
        assert_memory_equal(d.iv, base.iv, UMC_NONCE_LEN);
}

static void test_all_suites_directions_and_layers_give_distinct_keys(void **state) {
        struct derived all[4 * 2 * 2];
        size_t n = 0;

        for (unsigned suite = UMC_SUITE_AES_128_GCM; suite < _UMC_SUITE_MAX; suite++)
                for (unsigned dir = 0; dir < 2; dir++)
                        for (unsigned layer = 0; layer < 2; layer++) {
                                all[n] = derive(master, salt, 1, 1, (enum umc_suite_id)suite,
                                                (enum umc_direction)dir, (enum umc_layer)layer);
                                assert_int_equal(all[n].key.len,
                                                 umc_suite_by_id(suite)->key_len);
                                n++;
                        }
        assert_int_equal(n, UMC_ELEMENTSOF(all));
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        assert_unrelated(&all[i], &all[j]);
}

static void test_frame_key_rejects_bad_inputs_without_writing(void **state) {
        struct umc_key key = { .suite = UMC_SUITE_AES_128_GCM, .len = 5, .bytes = { 0x99 } };
        uint8_t iv[UMC_NONCE_LEN] = { 0x42 };

        assert_int_equal(umc_kdf_frame_key(master, salt, 1, 1, UMC_SUITE_NONE,
                                           UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER, &key, iv),
                         -EINVAL);
        assert_int_equal(umc_kdf_frame_key(master, salt, 1, 1, _UMC_SUITE_MAX,
                                           UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER, &key, iv),
                         -EINVAL);
        assert_int_equal(umc_kdf_frame_key(master, salt, 1, 1, UMC_SUITE_AES_128_GCM,
                                           (enum umc_direction)2, UMC_LAYER_OUTER, &key, iv),
                         -EINVAL);
        assert_int_equal(umc_kdf_frame_key(master, salt, 1, 1, UMC_SUITE_AES_128_GCM,
                                           UMC_DIR_MASTER_TO_ECU, (enum umc_layer)2, &key, iv),
                         -EINVAL);
        assert_int_equal(umc_kdf_frame_key(NULL, salt, 1, 1, UMC_SUITE_AES_128_GCM,
                                           UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER, &key, iv),
                         -EINVAL);
        assert_int_equal(umc_kdf_frame_key(master, salt, 1, 1, UMC_SUITE_AES_128_GCM,
                                           UMC_DIR_MASTER_TO_ECU, UMC_LAYER_OUTER, NULL, iv),
                         -EINVAL);
        assert_int_equal(key.len, 5);
        assert_int_equal(key.bytes[0], 0x99);
        assert_int_equal(iv[0], 0x42);
}

static int cmp_nonce(const void *a, const void *b) {
        return memcmp(a, b, UMC_NONCE_LEN);
}

/* Sequence numbers: 0..65535, 2^16 - 1 more spread over the 32-bit range, and 2^32 - 1. */
#define SAMPLE (1u << 17)

static uint32_t sample_seq(uint32_t i) {
        if (i < (1u << 16))
                return i;
        if (i == SAMPLE - 1)
                return UINT32_MAX;
        return (1u << 16) + (i - (1u << 16)) * 65535u;
}

static void test_nonce_is_iv_xor_seq_and_unique_over_a_large_sample(void **state) {
        static const uint8_t iv[UMC_NONCE_LEN] = { 0x5a, 0x01, 0x02, 0x03, 0x04, 0x05,
                                                   0x06, 0x07, 0xf0, 0x0f, 0xaa, 0x55 };
        uint8_t (*nonces)[UMC_NONCE_LEN] = calloc(SAMPLE, UMC_NONCE_LEN);

        assert_non_null(nonces);
        for (uint32_t i = 0; i < SAMPLE; i++) {
                uint32_t seq = sample_seq(i);
                uint8_t *n = nonces[i];

                umc_kdf_nonce(iv, seq, n);
                /* RFC 8446 §5.3: the first 8 bytes are the IV's, the last 4 are IV ^ be32(seq). */
                assert_memory_equal(n, iv, 8);
                assert_int_equal(umc_get_be32(n + 8), umc_get_be32(iv + 8) ^ seq);
        }
        assert_int_equal(sample_seq(SAMPLE - 1), 0xffffffffu);

        qsort(nonces, SAMPLE, UMC_NONCE_LEN, cmp_nonce);
        for (uint32_t i = 1; i < SAMPLE; i++)
                assert_memory_not_equal(nonces[i - 1], nonces[i], UMC_NONCE_LEN);
        free(nonces);
}

static void test_nonce_for_seq_zero_is_the_iv_and_output_may_alias(void **state) {
        uint8_t iv[UMC_NONCE_LEN], n[UMC_NONCE_LEN];

        seq_bytes(iv, 0x10, 0x1b);
        umc_kdf_nonce(iv, 0, n);
        assert_memory_equal(n, iv, UMC_NONCE_LEN);
        umc_kdf_nonce(iv, 0x01020304, n);
        umc_kdf_nonce(iv, 0x01020304, iv); /* in place */
        assert_memory_equal(n, iv, UMC_NONCE_LEN);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hkdf_matches_rfc5869_test_case_1),
                cmocka_unit_test(test_hkdf_matches_rfc5869_test_case_2),
                cmocka_unit_test(test_hkdf_matches_rfc5869_test_case_3),
                cmocka_unit_test(test_hkdf_rejects_out_of_range_lengths),
                cmocka_unit_test(test_frame_key_matches_openssl_cli_vectors),
                cmocka_unit_test(test_every_frame_key_input_changes_key_and_iv),
                cmocka_unit_test(test_all_suites_directions_and_layers_give_distinct_keys),
                cmocka_unit_test(test_frame_key_rejects_bad_inputs_without_writing),
                cmocka_unit_test(test_nonce_is_iv_xor_seq_and_unique_over_a_large_sample),
                cmocka_unit_test(test_nonce_for_seq_zero_is_the_iv_and_output_may_alias),
        };

        return cmocka_run_group_tests(tests, setup_inputs, NULL);
}
