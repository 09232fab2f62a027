/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "umc/hash.h"
#include "umc/util.h"

static void unhex32(const char *hex, uint8_t out[UMC_HASH_LEN]) {
        assert_int_equal(umc_hex_decode(hex, strlen(hex), out, UMC_HASH_LEN), 0);
}

static void check_oneshot(enum umc_hash_alg alg, const void *data, size_t len, const char *hex) {
        uint8_t expect[UMC_HASH_LEN], got[UMC_HASH_LEN];

        unhex32(hex, expect);
        assert_int_equal(umc_hash_oneshot(alg, data, len, got), 0);
        assert_memory_equal(got, expect, UMC_HASH_LEN);
}

/* FIPS 180-2 Appendix B.1 and B.2, and the empty message. */
static void test_sha256_matches_fips_180_examples(void **state) {
        static const char two_block[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

        check_oneshot(UMC_HASH_SHA256, "abc", 3,
                      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        check_oneshot(UMC_HASH_SHA256, two_block, strlen(two_block),
                      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        check_oneshot(UMC_HASH_SHA256, NULL, 0,
                      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* GB/T 32905-2016 Appendix A: "abc" and "abcd" x 16. */
static void test_sm3_matches_gbt_32905_examples(void **state) {
        char abcd16[65] = "";

        for (int i = 0; i < 16; i++)
                strcat(abcd16, "abcd");
        check_oneshot(UMC_HASH_SM3, "abc", 3,
                      "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
        check_oneshot(UMC_HASH_SM3, abcd16, 64,
                      "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

/* FIPS 180-2 Appendix B.3: one million 'a', fed in uneven pieces through the streaming API. */
static void test_sha256_million_a_streamed_in_pieces(void **state) {
        struct umc_hash h = {};
        uint8_t expect[UMC_HASH_LEN], got[UMC_HASH_LEN];
        char a[997];
        size_t left = 1000000;

        memset(a, 'a', sizeof(a));
        unhex32("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", expect);
        assert_int_equal(umc_hash_init(&h, UMC_HASH_SHA256), 0);
        while (left > 0) {
                size_t n = left < sizeof(a) ? left : sizeof(a);

                assert_int_equal(umc_hash_update(&h, a, n), 0);
                left -= n;
        }
        assert_int_equal(umc_hash_final(&h, got), 0);
        assert_memory_equal(got, expect, UMC_HASH_LEN);
}

static void test_streaming_equals_oneshot_for_both_algorithms(void **state) {
        static const enum umc_hash_alg algs[] = { UMC_HASH_SHA256, UMC_HASH_SM3 };
        uint8_t msg[300];

        for (size_t i = 0; i < sizeof(msg); i++)
                msg[i] = (uint8_t)(i * 13 + 1);
        for (size_t a = 0; a < UMC_ELEMENTSOF(algs); a++) {
                uint8_t one[UMC_HASH_LEN], streamed[UMC_HASH_LEN];
                struct umc_hash h = {};

                assert_int_equal(umc_hash_oneshot(algs[a], msg, sizeof(msg), one), 0);
                assert_int_equal(umc_hash_init(&h, algs[a]), 0);
                assert_int_equal(h.alg, algs[a]);
                for (size_t i = 0; i < sizeof(msg); i++)
                        assert_int_equal(umc_hash_update(&h, msg + i, 1), 0);
                assert_int_equal(umc_hash_update(&h, NULL, 0), 0); /* empty update is a no-op */
                assert_int_equal(umc_hash_final(&h, streamed), 0);
                assert_memory_equal(one, streamed, UMC_HASH_LEN);
        }
}

static void test_sha256_and_sm3_differ(void **state) {
        uint8_t a[UMC_HASH_LEN], b[UMC_HASH_LEN];

        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, "abc", 3, a), 0);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SM3, "abc", 3, b), 0);
        assert_memory_not_equal(a, b, UMC_HASH_LEN);
}

static void test_final_frees_context_and_done_accepts_any_state(void **state) {
        struct umc_hash h = {};
        uint8_t out[UMC_HASH_LEN];

        umc_hash_done(&h); /* zeroed */
        umc_hash_done(NULL);
        assert_int_equal(umc_hash_init(&h, UMC_HASH_SM3), 0);
        assert_non_null(h.ctx);
        assert_int_equal(umc_hash_final(&h, out), 0);
        assert_null(h.ctx);
        umc_hash_done(&h); /* finished */
        /* A finished hash takes no more input. */
        assert_int_equal(umc_hash_update(&h, "x", 1), -EINVAL);
        assert_int_equal(umc_hash_final(&h, out), -EINVAL);

        /* Abandoned mid-way: done frees it (ASan would report a leak otherwise). */
        assert_int_equal(umc_hash_init(&h, UMC_HASH_SHA256), 0);
        assert_int_equal(umc_hash_update(&h, "abc", 3), 0);
        umc_hash_done(&h);
        assert_null(h.ctx);
}

static void test_unknown_algorithm_and_bad_arguments_are_einval(void **state) {
        struct umc_hash h;
        uint8_t out[UMC_HASH_LEN];

        memset(&h, 0xa5, sizeof(h)); /* garbage, as on an uninitialised stack */
        assert_int_equal(umc_hash_init(&h, (enum umc_hash_alg)0), -EINVAL);
        assert_null(h.ctx); /* safe for umc_hash_done() after a failed init */
        umc_hash_done(&h);
        assert_int_equal(umc_hash_init(&h, (enum umc_hash_alg)3), -EINVAL);
        assert_int_equal(umc_hash_init(NULL, UMC_HASH_SHA256), -EINVAL);
        assert_int_equal(umc_hash_oneshot((enum umc_hash_alg)99, "a", 1, out), -EINVAL);
        assert_int_equal(umc_hash_oneshot(UMC_HASH_SHA256, NULL, 1, out), -EINVAL);
        assert_int_equal(umc_hash_init(&h, UMC_HASH_SHA256), 0);
        assert_int_equal(umc_hash_update(&h, NULL, 5), -EINVAL);
        umc_hash_done(&h);
}

static void check_hmac(enum umc_hash_alg alg, const void *key, size_t key_len, const void *data,
                       size_t len, const char *hex) {
        const struct umc_iovec part = { data, len };
        uint8_t expect[UMC_HASH_LEN], got[UMC_HASH_LEN];

        unhex32(hex, expect);
        assert_int_equal(umc_hmac(alg, key, key_len, &part, 1, got), 0);
        assert_memory_equal(got, expect, UMC_HASH_LEN);
}

/* RFC 4231 §4.2, §4.3 and §4.7 (a key longer than the block is hashed first). */
static void test_hmac_sha256_matches_rfc4231(void **state) {
        static const char big_key_msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
        uint8_t key20[20], key131[131];

        memset(key20, 0x0b, sizeof(key20));
        memset(key131, 0xaa, sizeof(key131));
        check_hmac(UMC_HASH_SHA256, key20, sizeof(key20), "Hi There", 8,
                   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        check_hmac(UMC_HASH_SHA256, "Jefe", 4, "what do ya want for nothing?", 28,
                   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        check_hmac(UMC_HASH_SHA256, key131, sizeof(key131), big_key_msg, strlen(big_key_msg),
                   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/*
 * HMAC-SM3 has no RFC vector; this one was computed with the openssl
 * command line (OpenSSL 3.0):
 *   printf 'what do ya want for nothing?' | openssl dgst -sm3 -mac HMAC -macopt key:Jefe
 */
static void test_hmac_sm3_matches_openssl_cli_vector(void **state) {
        check_hmac(UMC_HASH_SM3, "Jefe", 4, "what do ya want for nothing?", 28,
                   "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882");
}

static void test_hmac_over_parts_equals_hmac_over_concatenation(void **state) {
        static const char whole[] = "what do ya want for nothing?";
        const struct umc_iovec parts[] = {
                { "what do", 7 }, { NULL, 0 }, { " ya want", 8 }, { "", 0 },
                { " for nothing?", 13 },
        };
        uint8_t a[UMC_HASH_LEN], b[UMC_HASH_LEN];
        const struct umc_iovec one = { whole, strlen(whole) };

        for (enum umc_hash_alg alg = UMC_HASH_SHA256; alg <= UMC_HASH_SM3; alg++) {
                assert_int_equal(umc_hmac(alg, (const uint8_t *)"Jefe", 4, parts,
                                          UMC_ELEMENTSOF(parts), a),
                                 0);
                assert_int_equal(umc_hmac(alg, (const uint8_t *)"Jefe", 4, &one, 1, b), 0);
                assert_memory_equal(a, b, UMC_HASH_LEN);
        }
}

static void test_hmac_key_matters_and_empty_key_works(void **state) {
        const struct umc_iovec part = { "message", 7 };
        uint8_t a[UMC_HASH_LEN], b[UMC_HASH_LEN], empty[UMC_HASH_LEN];

        assert_int_equal(umc_hmac(UMC_HASH_SHA256, (const uint8_t *)"k1", 2, &part, 1, a), 0);
        assert_int_equal(umc_hmac(UMC_HASH_SHA256, (const uint8_t *)"k2", 2, &part, 1, b), 0);
        assert_memory_not_equal(a, b, UMC_HASH_LEN);
        /* RFC 2104: an empty key is zero-padded to the block; valid, if unwise. */
        assert_int_equal(umc_hmac(UMC_HASH_SHA256, NULL, 0, &part, 1, empty), 0);
        assert_memory_not_equal(a, empty, UMC_HASH_LEN);
        /* No parts at all is the HMAC of the empty message, as is one empty part. */
        assert_int_equal(umc_hmac(UMC_HASH_SM3, (const uint8_t *)"k1", 2, NULL, 0, a), 0);
        assert_int_equal(umc_hmac(UMC_HASH_SM3, (const uint8_t *)"k1", 2, &(struct umc_iovec){ "", 0 },
                                  1, b),
                         0);
        assert_memory_equal(a, b, UMC_HASH_LEN);
}

static void test_hmac_rejects_bad_arguments(void **state) {
        const struct umc_iovec bad = { NULL, 4 };
        const struct umc_iovec ok = { "x", 1 };
        uint8_t out[UMC_HASH_LEN];

        assert_int_equal(umc_hmac((enum umc_hash_alg)0, (const uint8_t *)"k", 1, &ok, 1, out),
                         -EINVAL);
        assert_int_equal(umc_hmac(UMC_HASH_SHA256, NULL, 4, &ok, 1, out), -EINVAL);
        assert_int_equal(umc_hmac(UMC_HASH_SHA256, (const uint8_t *)"k", 1, &bad, 1, out), -EINVAL);
        assert_int_equal(umc_hmac(UMC_HASH_SHA256, (const uint8_t *)"k", 1, NULL, 2, out), -EINVAL);
        assert_int_equal(umc_hmac(UMC_HASH_SHA256, (const uint8_t *)"k", 1, &ok, 1, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256_matches_fips_180_examples),
                cmocka_unit_test(test_sm3_matches_gbt_32905_examples),
                cmocka_unit_test(test_sha256_million_a_streamed_in_pieces),
                cmocka_unit_test(test_streaming_equals_oneshot_for_both_algorithms),
                cmocka_unit_test(test_sha256_and_sm3_differ),
                cmocka_unit_test(test_final_frees_context_and_done_accepts_any_state),
                cmocka_unit_test(test_unknown_algorithm_and_bad_arguments_are_einval),
                cmocka_unit_test(test_hmac_sha256_matches_rfc4231),
                cmocka_unit_test(test_hmac_sm3_matches_openssl_cli_vector),
                cmocka_unit_test(test_hmac_over_parts_equals_hmac_over_concatenation),
                cmocka_unit_test(test_hmac_key_matters_and_empty_key_works),
                cmocka_unit_test(test_hmac_rejects_bad_arguments),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
