/* SPDX-License-Identifier: MIT */
/* The load classifier on hand-made sample series (busload.c feeds it real windows). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "umc/loadclass.h"
#include "umc/util.h"

/* Default cfg with a 3-window mutation window. */
static struct umc_load_cfg cfg3(void) {
        struct umc_load_cfg c;

        umc_load_cfg_default(&c);
        c.mutation_window_usec = 3 * c.window_usec;
        assert_int_equal(umc_load_cfg_validate(&c), 0);
        return c;
}

static void test_first_sample_is_normal_unless_above_abnormal(void **state) {
        struct umc_load_cfg c = cfg3();
        struct umc_load_history h = {};

        assert_int_equal(umc_load_classify(&c, &h, 79.9), UMC_LOAD_NORMAL);
        assert_int_equal(umc_load_classify(&c, &h, 80.0), UMC_LOAD_NORMAL); /* "above" */
        assert_int_equal(umc_load_classify(&c, &h, 80.1), UMC_LOAD_ABNORMAL);
}

static void test_doubling_against_the_lowest_recent_sample_is_mutation(void **state) {
        struct umc_load_cfg c = cfg3();
        struct umc_load_history h = {};

        umc_load_history_push(&h, 10.0);
        umc_load_history_push(&h, 30.0);
        umc_load_history_push(&h, 30.0);
        assert_int_equal(umc_load_classify(&c, &h, 20.0), UMC_LOAD_MUTATION);
        assert_int_equal(umc_load_classify(&c, &h, 19.9), UMC_LOAD_NORMAL);
        /* 10 % falls out of the 3-sample window: the lowest is now 30 %. */
        umc_load_history_push(&h, 30.0);
        assert_int_equal(umc_load_classify(&c, &h, 59.9), UMC_LOAD_NORMAL);
        assert_int_equal(umc_load_classify(&c, &h, 60.0), UMC_LOAD_MUTATION);
        assert_int_equal(h.n, 4); /* classify never adds */
}

static void test_small_absolute_change_is_not_mutation(void **state) {
        struct umc_load_cfg c = cfg3();
        struct umc_load_history h = {};

        umc_load_history_push(&h, 0.5);
        assert_int_equal(umc_load_classify(&c, &h, 1.0), UMC_LOAD_NORMAL); /* 0.5 points < 5 */
        assert_int_equal(umc_load_classify(&c, &h, 5.5), UMC_LOAD_MUTATION);
}

static void test_history_keeps_the_last_samples_in_a_ring(void **state) {
        struct umc_load_history h = {};

        for (unsigned i = 0; i < UMC_LOAD_HISTORY_MAX + 5; i++)
                umc_load_history_push(&h, (double)i);
        assert_int_equal(h.n, UMC_LOAD_HISTORY_MAX);
        assert_int_equal(h.head, 5);
        assert_true(h.v[4] == (double)(UMC_LOAD_HISTORY_MAX + 4)); /* newest */
        assert_true(h.v[5] == 5.0);                                /* oldest */
}

static void test_class_names(void **state) {
        assert_string_equal(umc_load_class_to_string(UMC_LOAD_MUTATION), "mutation");
        assert_null(umc_load_class_to_string((enum umc_load_class)3));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_first_sample_is_normal_unless_above_abnormal),
                cmocka_unit_test(test_doubling_against_the_lowest_recent_sample_is_mutation),
                cmocka_unit_test(test_small_absolute_change_is_not_mutation),
                cmocka_unit_test(test_history_keeps_the_last_samples_in_a_ring),
                cmocka_unit_test(test_class_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
