/* SPDX-License-Identifier: MIT */
/*
 * The cloud update's window math (update.c): the per-device offset is
 * stable, spread and bounded; the next check lands inside a window at
 * the offset, crosses midnight, starts at once when umcd starts inside an
 * open window, and is not repeated in a window that had its check.
 * Times are local: the tests run in UTC (TZ set below).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "umc/update.h"

static const uint8_t SECRET[UMC_MASTER_KEY_LEN] = { 1, 2, 3 };
static const time_t DAY0 = 1796083200; /* 2026-12-01T00:00:00Z */

static void test_offset_is_stable_bounded_and_spread(void **state) {
        uint8_t other[UMC_MASTER_KEY_LEN] = { 9 };
        uint64_t a = umc_update_offset_sec("dev-1", SECRET, 1800);
        size_t distinct = 0;
        uint64_t seen[64];

        assert_int_equal(a, umc_update_offset_sec("dev-1", SECRET, 1800));
        assert_true(a <= 1800);
        assert_int_equal(umc_update_offset_sec("dev-1", SECRET, 0), 0);
        /* The secret is part of it: another secret, another offset (for this pair). */
        assert_int_not_equal(a, umc_update_offset_sec("dev-1", other, UINT32_MAX));
        for (int i = 0; i < 64; i++) {
                char id[16];
                uint64_t v;
                bool dup = false;

                (void)snprintf(id, sizeof(id), "dev-%d", i);
                v = umc_update_offset_sec(id, SECRET, 3600);
                assert_true(v <= 3600);
                for (size_t k = 0; k < distinct; k++)
                        dup = dup || seen[k] == v;
                if (!dup)
                        seen[distinct++] = v;
        }
        assert_true(distinct > 50); /* 64 devices over 3601 seconds rarely collide */
}

static void test_next_check_lands_in_the_window_at_the_offset(void **state) {
        const struct umc_config_window w[] = { { 120, 240 } }; /* 02:00-04:00 */
        time_t t, end;

        /* At 01:00: today's window, 02:00 + 1234 s. */
        assert_int_equal(umc_update_next_window(w, 1, 1234, DAY0 + 3600, 0, &t, &end), 0);
        assert_int_equal(t, DAY0 + 7200 + 1234);
        assert_int_equal(end, DAY0 + 4 * 3600);
        /* The offset wraps at the window's length (7200 s). */
        assert_int_equal(umc_update_next_window(w, 1, 7200 + 5, DAY0 + 3600, 0, &t, &end), 0);
        assert_int_equal(t, DAY0 + 7200 + 5);
        /* At 05:00: tomorrow's. */
        assert_int_equal(umc_update_next_window(w, 1, 0, DAY0 + 5 * 3600, 0, &t, &end), 0);
        assert_int_equal(t, DAY0 + 86400 + 7200);
}

static void test_started_inside_an_open_window_checks_once(void **state) {
        const struct umc_config_window w[] = { { 120, 240 } };
        time_t now = DAY0 + 3 * 3600, t, end;

        /* The offset's time (02:10) passed, the window is open: due now. */
        assert_int_equal(umc_update_next_window(w, 1, 600, now, 0, &t, &end), 0);
        assert_int_equal(t, now + 1);
        /* After that check, this window is done: tomorrow's. */
        assert_int_equal(umc_update_next_window(w, 1, 600, now + 2, end, &t, &end), 0);
        assert_int_equal(t, DAY0 + 86400 + 7200 + 600);
}

static void test_windows_cross_midnight_and_the_earliest_wins(void **state) {
        const struct umc_config_window w[] = { { 22 * 60, 60 }, { 12 * 60, 12 * 60 + 30 } };
        time_t t, end;

        /* At 23:30 with offset 2 h: 22:00 + 2 h = 00:00 tomorrow, before noon's. */
        assert_int_equal(umc_update_next_window(w, 2, 7200, DAY0 + 23 * 3600 + 1800, 0, &t, &end),
                         0);
        assert_int_equal(t, DAY0 + 86400);
        assert_int_equal(end, DAY0 + 86400 + 3600);
        /* At 00:30 the window that began yesterday is still open, its time passed: now. */
        assert_int_equal(umc_update_next_window(w, 2, 60, DAY0 + 1800, 0, &t, &end), 0);
        assert_int_equal(t, DAY0 + 1801);
        /* At 10:00: noon's window (offset modulo 30 min). */
        assert_int_equal(umc_update_next_window(w, 2, 7200 + 60, DAY0 + 10 * 3600, 0, &t, &end), 0);
        assert_int_equal(t, DAY0 + 12 * 3600 + 60);
}

static void test_no_window_is_invalid(void **state) {
        const struct umc_config_window empty[] = { { 60, 60 } };
        time_t t, end;

        assert_int_equal(umc_update_next_window(NULL, 0, 0, DAY0, 0, &t, &end), -EINVAL);
        assert_int_equal(umc_update_next_window(empty, 1, 0, DAY0, 0, &t, &end), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_offset_is_stable_bounded_and_spread),
                cmocka_unit_test(test_next_check_lands_in_the_window_at_the_offset),
                cmocka_unit_test(test_started_inside_an_open_window_checks_once),
                cmocka_unit_test(test_windows_cross_midnight_and_the_earliest_wins),
                cmocka_unit_test(test_no_window_is_invalid),
        };

        setenv("TZ", "UTC", 1);
        tzset();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
