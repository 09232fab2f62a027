/* SPDX-License-Identifier: MIT */
/*
 * The sealed feature code of a signed package: a known answer computed
 * independently (Python's "cryptography" package: HKDF and AESGCM, the
 * construction of featcode.h), round trips with fresh nonces, and every
 * way a sealed code must fail to open: another feature key, another
 * package (lifted), a changed key ID, nonce or ciphertext, a cut tag.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "umc/featcode.h"
#include "umc/util.h"

#define NAME "demo 2026.12"
#define VERSION "2026.12.1"
/* 65 characters: one more than a code may have. */
#define LONG65 "0123456789012345678901234567890123456789012345678901234567890123" "4"

static uint8_t key[32], other_key[32];

static int setup(void **state) {
        for (int i = 0; i < 32; i++) {
                key[i] = (uint8_t)i;
                other_key[i] = (uint8_t)(0x80 + i);
        }
        return 0;
}

/*
 * key = 00..1f, key ID "x1-opt", nonce a0..ab, code "OPT-A7": derived key
 * 0776dcf0...a0bb, ciphertext || tag as below (cryptography 48.0.0).
 */
static struct umc_featcode_sealed known(void) {
        struct umc_featcode_sealed s = { .key_id = "x1-opt", .ct_len = 22 };

        for (int i = 0; i < 12; i++)
                s.nonce[i] = (uint8_t)(0xa0 + i);
        assert_int_equal(umc_hex_decode("96b548725d175af1212a843bf485e109ea23497f12c7", 44, s.ct,
                                        22), 0);
        return s;
}

static void test_known_answer_opens(void **state) {
        struct umc_featcode_sealed s = known();
        char code[UMC_FEATCODE_MAX + 1];

        memset(code, 'x', sizeof(code));
        assert_int_equal(umc_featcode_open(key, NAME, VERSION, &s, code), 0);
        assert_string_equal(code, "OPT-A7");
        /* NUL-padded to the full size: a fixed-size compare sees no stale bytes. */
        for (size_t i = strlen("OPT-A7"); i < sizeof(code); i++)
                assert_int_equal(code[i], 0);
}

static void test_seal_open_round_trip_with_fresh_nonces(void **state) {
        static const char *const codes[] = {
                "A", "OPT-A7+SUNROOF", "~!#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}",
                "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
        };
        struct umc_featcode_sealed a, b;
        char code[UMC_FEATCODE_MAX + 1];

        for (size_t i = 0; i < UMC_ELEMENTSOF(codes); i++) {
                assert_int_equal(umc_featcode_seal(key, "class-7", NAME, VERSION, codes[i], &a), 0);
                assert_int_equal(a.ct_len, strlen(codes[i]) + UMC_FEATCODE_TAG_LEN);
                assert_string_equal(a.key_id, "class-7");
                assert_int_equal(umc_featcode_open(key, NAME, VERSION, &a, code), 0);
                assert_string_equal(code, codes[i]);
        }
        /* Every seal draws a new nonce: two seals of one code differ. */
        assert_int_equal(umc_featcode_seal(key, "k", NAME, VERSION, "OPT", &a), 0);
        assert_int_equal(umc_featcode_seal(key, "k", NAME, VERSION, "OPT", &b), 0);
        assert_memory_not_equal(a.nonce, b.nonce, sizeof(a.nonce));
        assert_memory_not_equal(a.ct, b.ct, a.ct_len);
}

static void test_wrong_key_does_not_open(void **state) {
        struct umc_featcode_sealed s = known();
        char code[UMC_FEATCODE_MAX + 1] = "untouched";

        assert_int_equal(umc_featcode_open(other_key, NAME, VERSION, &s, code), -EBADMSG);
        assert_string_equal(code, "untouched");
}

static void test_lifted_into_another_package_does_not_open(void **state) {
        struct umc_featcode_sealed s = known();
        char code[UMC_FEATCODE_MAX + 1];

        assert_int_equal(umc_featcode_open(key, "demo 2026.11", VERSION, &s, code), -EBADMSG);
        assert_int_equal(umc_featcode_open(key, NAME, "2026.12.2", &s, code), -EBADMSG);
        /* The length prefixes keep "ab"+"c" apart from "a"+"bc". */
        assert_int_equal(umc_featcode_seal(key, "k", "ab", "c", "OPT", &s), 0);
        assert_int_equal(umc_featcode_open(key, "a", "bc", &s, code), -EBADMSG);
        assert_int_equal(umc_featcode_open(key, "ab", "c", &s, code), 0);
}

static void test_tampering_does_not_open(void **state) {
        char code[UMC_FEATCODE_MAX + 1];
        struct umc_featcode_sealed s;

        for (size_t i = 0; i < 22; i++) {
                s = known();
                s.ct[i] ^= 0x01;
                assert_int_equal(umc_featcode_open(key, NAME, VERSION, &s, code), -EBADMSG);
        }
        s = known();
        s.nonce[11] ^= 0x80;
        assert_int_equal(umc_featcode_open(key, NAME, VERSION, &s, code), -EBADMSG);
        s = known();
        memcpy(s.key_id, "x1-opu", 7); /* another derived key and AAD */
        assert_int_equal(umc_featcode_open(key, NAME, VERSION, &s, code), -EBADMSG);
        s = known();
        s.ct_len--; /* a cut tag */
        assert_int_equal(umc_featcode_open(key, NAME, VERSION, &s, code), -EBADMSG);
        s.ct_len = UMC_FEATCODE_TAG_LEN; /* no code at all */
        assert_int_equal(umc_featcode_open(key, NAME, VERSION, &s, code), -EINVAL);
}

static void test_bad_arguments(void **state) {
        struct umc_featcode_sealed s;
        char code[UMC_FEATCODE_MAX + 1];

        assert_int_equal(umc_featcode_seal(key, "k", NAME, VERSION, "", &s), -EINVAL);
        assert_int_equal(umc_featcode_seal(key, "k", NAME, VERSION, "OPT A", &s), -EINVAL);
        assert_int_equal(umc_featcode_seal(key, "k", NAME, VERSION, LONG65, &s), -EINVAL);
        assert_int_equal(umc_featcode_seal(key, "k/1", NAME, VERSION, "OPT", &s), -EINVAL);
        assert_int_equal(umc_featcode_seal(key, "", NAME, VERSION, "OPT", &s), -EINVAL);
        assert_int_equal(umc_featcode_seal(key, "k", "", VERSION, "OPT", &s), -EINVAL);
        assert_int_equal(umc_featcode_seal(NULL, "k", NAME, VERSION, "OPT", &s), -EINVAL);
        s = known();
        assert_int_equal(umc_featcode_open(key, NULL, VERSION, &s, code), -EINVAL);
        s.ct_len = UMC_FEATCODE_CT_MAX + 1;
        assert_int_equal(umc_featcode_open(key, NAME, VERSION, &s, code), -EINVAL);
}

static void test_equal_compares_whole_codes(void **state) {
        assert_true(umc_featcode_equal("OPT-A7", "OPT-A7"));
        assert_false(umc_featcode_equal("OPT-A7", "OPT-A"));
        assert_false(umc_featcode_equal("OPT-A", "OPT-A7"));
        assert_false(umc_featcode_equal("opt-a7", "OPT-A7"));
        assert_false(umc_featcode_equal("", ""));
        assert_false(umc_featcode_equal(NULL, "OPT"));
        assert_false(umc_featcode_equal("OPT", NULL));
        assert_false(umc_featcode_equal(LONG65, LONG65));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_answer_opens),
                cmocka_unit_test(test_seal_open_round_trip_with_fresh_nonces),
                cmocka_unit_test(test_wrong_key_does_not_open),
                cmocka_unit_test(test_lifted_into_another_package_does_not_open),
                cmocka_unit_test(test_tampering_does_not_open),
                cmocka_unit_test(test_bad_arguments),
                cmocka_unit_test(test_equal_compares_whole_codes),
        };
        return cmocka_run_group_tests(tests, setup, NULL);
}
