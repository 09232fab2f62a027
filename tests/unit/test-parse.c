/* SPDX-License-Identifier: MIT */
/* Strict number parsers: what they accept, what they refuse and with which errno. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "umc/parse.h"
#include "umc/util.h"

static int uint_of(const char *s, uint64_t max, uint64_t *ret) {
        return umc_parse_uint(s, strlen(s), max, ret);
}

static void test_uint_accepts_digits_up_to_max(void **state) {
        uint64_t v = 0;

        assert_int_equal(uint_of("0", 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(uint_of("007", 10, &v), 0);
        assert_int_equal(v, 7);
        assert_int_equal(uint_of("10", 10, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(uint_of("18446744073709551615", UINT64_MAX, &v), 0);
        assert_true(v == UINT64_MAX);
        /* Only the n characters count: a field inside a longer line. */
        assert_int_equal(umc_parse_uint("4095/x", 4, 4095, &v), 0);
        assert_int_equal(v, 4095);
}

static void test_uint_refuses_sign_space_junk_and_empty(void **state) {
        static const char *const bad[] = { "", "+1", "-1", " 1", "1 ", "1x", "0x10", "1.0", "١" };
        uint64_t v = 42;

        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++)
                assert_int_equal(uint_of(bad[i], UINT64_MAX, &v), -EINVAL);
        assert_int_equal(umc_parse_uint(NULL, 0, 1, &v), -EINVAL);
        assert_int_equal(v, 42); /* untouched on failure */
}

static void test_uint_above_max_is_erange_however_long(void **state) {
        uint64_t v = 42;

        assert_int_equal(uint_of("11", 10, &v), -ERANGE);
        assert_int_equal(uint_of("18446744073709551616", UINT64_MAX, &v), -ERANGE);
        assert_int_equal(uint_of("99999999999999999999999999999999", 1000, &v), -ERANGE);
        assert_int_equal(uint_of("1", 0, &v), -ERANGE);
        /* Junk after an overflow is still junk. */
        assert_int_equal(uint_of("99999999999999999999999x", 1000, &v), -EINVAL);
        assert_int_equal(v, 42);
}

static void test_uint_or_hex_reads_both_and_never_octal(void **state) {
        uint64_t v = 0;

        assert_int_equal(umc_parse_uint_or_hex("010", 3, UINT64_MAX, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(umc_parse_uint_or_hex("0x1f", 4, UINT64_MAX, &v), 0);
        assert_int_equal(v, 31);
        assert_int_equal(umc_parse_uint_or_hex("0XFFFFFFFF", 10, UINT32_MAX, &v), 0);
        assert_int_equal(v, UINT32_MAX);
        assert_int_equal(umc_parse_uint_or_hex("0x100000000", 11, UINT32_MAX, &v), -ERANGE);
        assert_int_equal(umc_parse_uint_or_hex("0x10000000000000000", 19, UINT64_MAX, &v),
                         -ERANGE);
        assert_int_equal(umc_parse_uint_or_hex("0x", 2, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(umc_parse_uint_or_hex("0xg", 3, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(umc_parse_uint_or_hex("0x-1", 4, UINT64_MAX, &v), -EINVAL);
        assert_int_equal(umc_parse_uint_or_hex("x1", 2, UINT64_MAX, &v), -EINVAL);
}

static void test_real_reads_digits_with_an_optional_fraction(void **state) {
        double v = -1;

        assert_int_equal(umc_parse_real("10", 2, &v), 0);
        assert_true(v == 10.0);
        assert_int_equal(umc_parse_real("0.1", 3, &v), 0);
        assert_true(v == 0.1); /* correctly rounded, as strtod() gives it */
        assert_int_equal(umc_parse_real("2.50", 4, &v), 0);
        assert_true(v == 2.5);
        assert_int_equal(umc_parse_real("123456789012345", 15, &v), 0);
        assert_true(v == 123456789012345.0);
}

static void test_real_refuses_what_is_not_digits_dot_digits(void **state) {
        static const char *const bad[] = { "", ".5", "5.", "1..2", "1.2.3", "-1", "+1", "1e3",
                                           " 1", "1 ", "0x1", "nan", "inf" };
        double v = -1;

        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++)
                assert_int_equal(umc_parse_real(bad[i], strlen(bad[i]), &v), -EINVAL);
        assert_int_equal(umc_parse_real("1234567890123456", 16, &v), -ERANGE);
        assert_int_equal(umc_parse_real("1.234567890123456", 17, &v), -ERANGE);
        assert_true(v == -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_uint_accepts_digits_up_to_max),
                cmocka_unit_test(test_uint_refuses_sign_space_junk_and_empty),
                cmocka_unit_test(test_uint_above_max_is_erange_however_long),
                cmocka_unit_test(test_uint_or_hex_reads_both_and_never_octal),
                cmocka_unit_test(test_real_reads_digits_with_an_optional_fraction),
                cmocka_unit_test(test_real_refuses_what_is_not_digits_dot_digits),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
