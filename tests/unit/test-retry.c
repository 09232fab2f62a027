/* SPDX-License-Identifier: MIT */
/* The retry decision of retry.c: a bounded budget, a doubling backoff, capped waits. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "umc/retry.h"
#include "umc/util.h"

#define MS USEC_PER_MSEC
#define S USEC_PER_SEC
#define T0 (1000 * S) /* an arbitrary monotonic start */

/* The defaults: 60 s budget, 250 ms first wait, 8 s at most. */
static void test_waits_double_up_to_the_maximum(void **state) {
        struct umc_retry r;
        uint64_t now = T0, at = 0;
        const uint64_t want[] = { 250 * MS, 500 * MS, 1 * S, 2 * S, 4 * S, 8 * S, 8 * S, 8 * S };

        umc_retry_start(&r, now, 60 * S, 250 * MS, 8 * S);
        assert_int_equal(r.attempt, 0);
        for (size_t i = 0; i < UMC_ELEMENTSOF(want); i++) {
                now += 1 * S; /* the attempt took a second to fail */
                assert_true(umc_retry_next(&r, now, &at));
                assert_int_equal(at - now, want[i]);
                now = at;
        }
}

/* The attempt whose wait would end at or past the budget is not made. */
static void test_budget_ends_the_retries(void **state) {
        struct umc_retry r;
        uint64_t now = T0, at = 0;
        unsigned attempts = 0;

        umc_retry_start(&r, now, 6 * S, 250 * MS, 1 * S);
        for (;;) {
                attempts++; /* an attempt begins: on CAN a challenge, the ECU silent for 1 s */
                r.attempt++;
                now += 1 * S;
                if (!umc_retry_next(&r, now, &at))
                        break;
                assert_true(at < T0 + 6 * S);
                now = at;
        }
        /* 0-1 s, 1.25-2.25, 2.75-3.75, 4.75-5.75; the next would begin at 6.75. */
        assert_int_equal(attempts, 4);
        assert_int_equal(r.attempt, 4);
        assert_true(now >= T0 + 5 * S && now <= T0 + 6 * S);
}

static void test_no_budget_never_retries(void **state) {
        struct umc_retry r;
        uint64_t at = 42;

        umc_retry_start(&r, T0, 0, 250 * MS, 8 * S);
        r.attempt++;
        assert_false(umc_retry_next(&r, T0 + 1, &at));
        assert_int_equal(at, 42); /* untouched */
        assert_int_equal(r.until, 0);
}

static void test_first_backoff_above_the_maximum_is_capped(void **state) {
        struct umc_retry r;
        uint64_t at = 0;

        umc_retry_start(&r, T0, 60 * S, 5 * S, 1 * S);
        assert_true(umc_retry_next(&r, T0, &at));
        assert_int_equal(at, T0 + 1 * S);
}

/* The first attempt waits its full time; a later one what the budget has left, but the floor. */
static void test_attempt_wait_is_capped_by_the_budget_left(void **state) {
        struct umc_retry r;

        umc_retry_start(&r, T0, 8 * S, 250 * MS, 8 * S);
        r.attempt = 1;
        assert_int_equal(umc_retry_attempt_wait(&r, T0, 10 * S, 100 * MS), 10 * S);
        r.attempt = 2;
        assert_int_equal(umc_retry_attempt_wait(&r, T0 + 1 * S, 10 * S, 100 * MS), 7 * S);
        assert_int_equal(umc_retry_attempt_wait(&r, T0 + 1 * S, 2 * S, 100 * MS), 2 * S);
        assert_int_equal(umc_retry_attempt_wait(&r, T0 + 7950 * MS, 10 * S, 100 * MS), 100 * MS);
        assert_int_equal(umc_retry_attempt_wait(&r, T0 + 9 * S, 10 * S, 1 * S), 1 * S);
        /* Without retries nothing is capped. */
        umc_retry_start(&r, T0, 0, 250 * MS, 8 * S);
        r.attempt = 3;
        assert_int_equal(umc_retry_attempt_wait(&r, T0 + 9 * S, 10 * S, 1 * S), 10 * S);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_waits_double_up_to_the_maximum),
                cmocka_unit_test(test_budget_ends_the_retries),
                cmocka_unit_test(test_no_budget_never_retries),
                cmocka_unit_test(test_first_backoff_above_the_maximum_is_capped),
                cmocka_unit_test(test_attempt_wait_is_capped_by_the_budget_left),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
