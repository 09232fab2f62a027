/* SPDX-License-Identifier: MIT */
/* ECU identities: lookup and the constant-time hardware ID check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "umc/ecu.h"
#include "umc/util.h"

/* ---- ECU identities ---- */

#define HWID_64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct umc_ecu ecus[] = {
        { .ecu_id = 0x10, .name = "engine", .hw_id = "ECU-ENG-0001" },
        { .ecu_id = 0x20, .name = "gateway", .hw_id = HWID_64 },
        { .ecu_id = 0x30, .name = "unprovisioned", .hw_id = "" },
};

static void test_ecu_known_with_matching_hw_id_passes(void **state) {
        const struct umc_ecu *e = NULL;

        assert_ptr_equal(umc_ecu_find(ecus, 3, 0x20), &ecus[1]);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, "ECU-ENG-0001", &e), UMC_REASON_OK);
        assert_ptr_equal(e, &ecus[0]);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x20, HWID_64, &e), UMC_REASON_OK);
        assert_ptr_equal(e, &ecus[1]);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, "ECU-ENG-0001", NULL), UMC_REASON_OK);
}

static void test_ecu_unknown_id_is_ecu_unknown(void **state) {
        const struct umc_ecu *e = NULL;

        assert_null(umc_ecu_find(ecus, 3, 0x11));
        assert_int_equal(umc_ecu_check(ecus, 3, 0x11, "ECU-ENG-0001", &e), UMC_REASON_ECU_UNKNOWN);
        assert_null(e);
        assert_int_equal(umc_ecu_check(NULL, 0, 0x10, "ECU-ENG-0001", &e), UMC_REASON_ECU_UNKNOWN);
}

static void test_ecu_hw_id_of_same_length_differing_is_mismatch(void **state) {
        const struct umc_ecu *e = NULL;

        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, "ECU-ENG-0002", &e), UMC_REASON_ECU_HW_MISMATCH);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, "XCU-ENG-0001", &e), UMC_REASON_ECU_HW_MISMATCH);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, "ecu-eng-0001", &e), UMC_REASON_ECU_HW_MISMATCH);
        assert_null(e);
}

static void test_ecu_hw_id_of_other_length_is_mismatch(void **state) {
        const struct umc_ecu *e = NULL;

        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, "ECU-ENG-000", &e), UMC_REASON_ECU_HW_MISMATCH);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, "ECU-ENG-00010", &e), UMC_REASON_ECU_HW_MISMATCH);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, "", &e), UMC_REASON_ECU_HW_MISMATCH);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x10, NULL, &e), UMC_REASON_ECU_HW_MISMATCH);
        /* Same first 64 characters, one more: longer than any hw_id can be. */
        assert_int_equal(umc_ecu_check(ecus, 3, 0x20, HWID_64 "0", &e), UMC_REASON_ECU_HW_MISMATCH);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x20, HWID_64 HWID_64, &e), UMC_REASON_ECU_HW_MISMATCH);
        assert_null(e);
}

static void test_ecu_with_empty_hw_id_never_matches(void **state) {
        assert_int_equal(umc_ecu_check(ecus, 3, 0x30, "", NULL), UMC_REASON_ECU_HW_MISMATCH);
        assert_int_equal(umc_ecu_check(ecus, 3, 0x30, "anything", NULL), UMC_REASON_ECU_HW_MISMATCH);
}


int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ecu_known_with_matching_hw_id_passes),
                cmocka_unit_test(test_ecu_unknown_id_is_ecu_unknown),
                cmocka_unit_test(test_ecu_hw_id_of_same_length_differing_is_mismatch),
                cmocka_unit_test(test_ecu_hw_id_of_other_length_is_mismatch),
                cmocka_unit_test(test_ecu_with_empty_hw_id_never_matches),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
