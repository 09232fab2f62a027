/* SPDX-License-Identifier: MIT */
/* The CAN ID whitelist parser and the frequency monitor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "umc/canid.h"
#include "umc/util.h"

#define MS UINT64_C(1000) /* microseconds */

/* ---- umc_canid_rule_parse ---- */

struct canid_ok_row {
        const char *s;
        uint32_t id;
        bool eff;
        uint64_t period_usec;
};

static void test_canid_parse_accepts_3_and_8_digit_ids_with_periods(void **state) {
        static const struct canid_ok_row rows[] = {
                { "7E0", 0x7E0, false, 0 },
                { "7e0", 0x7E0, false, 0 },
                { "000", 0x000, false, 0 },
                { "7FF", 0x7FF, false, 0 },
                { "7E0:0", 0x7E0, false, 0 },
                { "7E0:100", 0x7E0, false, 100 * MS },
                { "123:0100", 0x123, false, 100 * MS },
                { "18DAF110:100", 0x18DAF110, true, 100 * MS },
                { "00000123", 0x123, true, 0 },
                { "1FFFFFFF:3600000", 0x1FFFFFFF, true, UINT64_C(3600000) * MS },
                { "1fffffff:1", 0x1FFFFFFF, true, 1 * MS },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                struct umc_canid_rule r;
                char why[UMC_WHY_MAX] = "untouched";

                print_message("%s\n", rows[i].s);
                assert_int_equal(umc_canid_rule_parse(rows[i].s, 7.5, &r, why, sizeof(why)), 0);
                assert_string_equal(why, "untouched");
                assert_int_equal(r.id, rows[i].id);
                assert_int_equal(r.eff, rows[i].eff);
                assert_int_equal(r.period_usec, rows[i].period_usec);
                assert_true(r.tolerance_pct == 7.5);
        }
}

struct canid_bad_row {
        const char *s;
        double tol;
        const char *why;
};

static void test_canid_parse_refuses_with_exact_reason(void **state) {
        static const char *const digits = "ID must be 3 (11-bit) or 8 (29-bit) hex digits";
        static const char *const not_ms = "period is not a number of milliseconds";
        const struct canid_bad_row rows[] = {
                { "", 10, "empty CAN ID" },
                { "7E", 10, digits },
                { "7E00", 10, digits },
                { "1234567", 10, digits },
                { "123456789", 10, digits },
                { ":100", 10, digits },
                { "0x7E0", 10, "ID is not hexadecimal" },
                { "G00", 10, "ID is not hexadecimal" },
                { " 7E0", 10, "ID is not hexadecimal" },
                { "7E0 ", 10, "ID is not hexadecimal" },
                { "-7E0", 10, "ID is not hexadecimal" },
                { "800", 10, "11-bit ID above 7FF" },
                { "FFF", 10, "11-bit ID above 7FF" },
                { "20000000", 10, "29-bit ID above 1FFFFFFF" },
                { "FFFFFFFF:100", 10, "29-bit ID above 1FFFFFFF" },
                { "7E0:", 10, "period is empty" },
                { "7E0:-1", 10, not_ms },
                { "7E0:+100", 10, not_ms },
                { "7E0: 100", 10, not_ms },
                { "7E0:100 ", 10, not_ms },
                { "7E0:100ms", 10, not_ms },
                { "7E0:1.5", 10, not_ms },
                { "7E0:100:5", 10, not_ms },
                { "7E0:0x10", 10, not_ms },
                { "7E0:3600001", 10, "period above 3600000 ms" },
                { "7E0:99999999999999999999999999", 10, "period above 3600000 ms" },
                { "7E0:100", -0.1, "tolerance must be 0..100 percent" },
                { "7E0:100", 100.5, "tolerance must be 0..100 percent" },
                { "7E0:100", NAN, "tolerance must be 0..100 percent" },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                struct umc_canid_rule r, before;
                char why[UMC_WHY_MAX] = "";

                print_message("'%s'\n", rows[i].s);
                memset(&r, 0xAA, sizeof(r));
                before = r;
                assert_int_equal(umc_canid_rule_parse(rows[i].s, rows[i].tol, &r, why, sizeof(why)), -EINVAL);
                assert_true(why[0] != '\0');
                assert_string_equal(why, rows[i].why);
                assert_memory_equal(&r, &before, sizeof(r));
        }
        /* NULL input and NULL why are fine. */
        struct umc_canid_rule r;
        assert_int_equal(umc_canid_rule_parse(NULL, 10, &r, NULL, 0), -EINVAL);
}

static void test_canid_find_tells_11_bit_from_29_bit(void **state) {
        const struct umc_canid_rule rules[] = {
                { .id = 0x123, .eff = false },
                { .id = 0x123, .eff = true },
                { .id = 0x7E0, .eff = false },
        };

        assert_ptr_equal(umc_canid_find(rules, 3, 0x123, false), &rules[0]);
        assert_ptr_equal(umc_canid_find(rules, 3, 0x123, true), &rules[1]);
        assert_null(umc_canid_find(rules, 3, 0x7E0, true));
        assert_null(umc_canid_find(NULL, 0, 0x7E0, false));
}

/* ---- frequency monitor ---- */

static const struct umc_canid_rule rules_100ms[] = {
        { .id = 0x100, .period_usec = 100 * MS, .tolerance_pct = 10 },
};

/* n frames of (id, eff), each interval from intervals[] in turn, from *t on. */
static void feed(struct umc_canmon *m, uint32_t id, bool eff, uint64_t *t, const uint64_t *intervals,
                 size_t n_intervals, size_t n) {
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(umc_canmon_frame(m, id, eff, *t), UMC_REASON_OK);
                *t += intervals[i % n_intervals];
        }
}

static void feed_every(struct umc_canmon *m, uint32_t id, uint64_t *t, uint64_t interval, size_t n) {
        feed(m, id, false, t, &interval, 1, n);
}

/* 11 frames (10 intervals, the default minimum) at one interval, then evaluate. */
static struct umc_canid_verdict judge_interval(uint64_t interval_usec) {
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 5000;

        assert_int_equal(umc_canmon_init(&m, rules_100ms, 1, UMC_CANMON_MIN_PERIODS_DEFAULT), 0);
        feed_every(&m, 0x100, &t, interval_usec, UMC_CANMON_MIN_PERIODS_DEFAULT + 1);
        umc_canmon_evaluate(&m, &v);
        umc_canmon_done(&m);
        return v;
}

struct rate_row {
        uint64_t interval_usec;
        enum umc_reason reason;
};

static void test_rate_within_10_percent_passes_and_outside_fails(void **state) {
        static const struct rate_row rows[] = {
                { 100000, UMC_REASON_OK },
                { 109900, UMC_REASON_OK },
                { 90100, UMC_REASON_OK },
                { 111000, UMC_REASON_CAN_RATE_LOW },
                { 89000, UMC_REASON_CAN_RATE_HIGH },
                { 200000, UMC_REASON_CAN_RATE_LOW },
                { 10000, UMC_REASON_CAN_RATE_HIGH },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                struct umc_canid_verdict v = judge_interval(rows[i].interval_usec);

                print_message("%" PRIu64 " us\n", rows[i].interval_usec);
                assert_int_equal(v.reason, rows[i].reason);
                if (rows[i].reason != UMC_REASON_OK) {
                        assert_int_equal(v.id, 0x100);
                        assert_false(v.eff);
                        assert_int_equal(v.nominal_usec, 100 * MS);
                        assert_int_equal(v.observed_usec, rows[i].interval_usec);
                }
        }
}

static void test_rate_exactly_at_tolerance_passes_and_1us_beyond_fails(void **state) {
        assert_int_equal(judge_interval(110000).reason, UMC_REASON_OK);
        assert_int_equal(judge_interval(90000).reason, UMC_REASON_OK);
        assert_int_equal(judge_interval(110001).reason, UMC_REASON_CAN_RATE_LOW);
        assert_int_equal(judge_interval(89999).reason, UMC_REASON_CAN_RATE_HIGH);
}

static void test_jitter_with_correct_mean_passes_though_intervals_deviate_30_percent(void **state) {
        static const uint64_t jitter[] = { 130 * MS, 70 * MS, 125 * MS, 75 * MS };
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 0;

        assert_int_equal(umc_canmon_init(&m, rules_100ms, 1, 10), 0);
        feed(&m, 0x100, false, &t, jitter, UMC_ELEMENTSOF(jitter), 21);
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_OK);
        umc_canmon_done(&m);
}

static void test_injected_copy_at_twice_the_rate_is_rate_high(void **state) {
        struct umc_canmon m;
        struct umc_canid_verdict v;

        assert_int_equal(umc_canmon_init(&m, rules_100ms, 1, 10), 0);
        /* The real ECU every 100 ms and an attacker's copy in between. */
        for (uint64_t k = 0; k < 12; k++) {
                assert_int_equal(umc_canmon_frame(&m, 0x100, false, k * 100 * MS), UMC_REASON_OK);
                assert_int_equal(umc_canmon_frame(&m, 0x100, false, k * 100 * MS + 50 * MS),
                                 UMC_REASON_OK);
        }
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_CAN_RATE_HIGH);
        assert_int_equal(v.observed_usec, 50 * MS);
        assert_int_equal(v.nominal_usec, 100 * MS);
        umc_canmon_done(&m);
}

static void test_unknown_id_is_immediate_and_reported_before_rates(void **state) {
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 0;

        assert_int_equal(umc_canmon_init(&m, rules_100ms, 1, 10), 0);
        assert_int_equal(umc_canmon_frame(&m, 0x101, false, 1), UMC_REASON_CAN_ID_UNKNOWN);
        /* Same number, other format: still unknown. */
        assert_int_equal(umc_canmon_frame(&m, 0x100, true, 2), UMC_REASON_CAN_ID_UNKNOWN);
        assert_int_equal(m.n_unknown, 2);
        assert_int_equal(m.last_unknown_id, 0x100);
        assert_true(m.last_unknown_eff);

        /* A rate violation in the same window loses to the unknown ID. */
        feed_every(&m, 0x100, &t, 50 * MS, 11);
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_CAN_ID_UNKNOWN);
        assert_int_equal(v.id, 0x100);
        assert_true(v.eff);
        assert_int_equal(v.nominal_usec, 0);
        assert_int_equal(v.observed_usec, 0);

        /* The window is over: no unknown frame since, the total is kept. */
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_OK);
        assert_int_equal(m.n_unknown, 2);
        umc_canmon_done(&m);
}

static void test_too_few_periods_are_not_judged_then_judged_in_a_later_window(void **state) {
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 0;

        assert_int_equal(umc_canmon_init(&m, rules_100ms, 1, 10), 0);
        feed_every(&m, 0x100, &t, 80 * MS, 6); /* 5 intervals, 20% too fast */
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_OK);
        assert_int_equal(m.stats[0].count, 6); /* kept for the next window */

        feed_every(&m, 0x100, &t, 80 * MS, 4); /* 9 intervals: still short by one */
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_OK);

        feed_every(&m, 0x100, &t, 80 * MS, 1); /* the 10th interval */
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_CAN_RATE_HIGH);
        assert_int_equal(v.observed_usec, 80 * MS);
        assert_int_equal(m.stats[0].count, 0); /* judged: a new window */
        umc_canmon_done(&m);
}

static void test_judged_id_starts_a_new_window(void **state) {
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 0;

        assert_int_equal(umc_canmon_init(&m, rules_100ms, 1, 10), 0);
        feed_every(&m, 0x100, &t, 150 * MS, 11);
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_CAN_RATE_LOW);
        /* Back to nominal: the slow window does not leak into this one. */
        feed_every(&m, 0x100, &t, 100 * MS, 11);
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_OK);
        umc_canmon_done(&m);
}

static void test_aperiodic_id_is_never_judged_on_rate(void **state) {
        static const uint64_t erratic[] = { 1, 5 * MS, 2000 * MS, 3, 700 * MS };
        const struct umc_canid_rule rules[] = { { .id = 0x7DF, .tolerance_pct = 10 } };
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 0;

        assert_int_equal(umc_canmon_init(&m, rules, 1, 1), 0);
        for (int w = 0; w < 3; w++) {
                feed(&m, 0x7DF, false, &t, erratic, UMC_ELEMENTSOF(erratic), 50);
                umc_canmon_evaluate(&m, &v);
                assert_int_equal(v.reason, UMC_REASON_OK);
        }
        umc_canmon_done(&m);
}

static void test_silent_id_is_not_judged(void **state) {
        const struct umc_canid_rule rules[] = {
                { .id = 0x100, .period_usec = 100 * MS, .tolerance_pct = 10 },
                { .id = 0x200, .period_usec = 10 * MS, .tolerance_pct = 10 },
        };
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 0;

        assert_int_equal(umc_canmon_init(&m, rules, 2, 10), 0);
        feed_every(&m, 0x100, &t, 100 * MS, 11);
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_OK);
        umc_canmon_done(&m);
}

static void test_backwards_timestamp_is_not_counted(void **state) {
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 1000 * MS;

        assert_int_equal(umc_canmon_init(&m, rules_100ms, 1, 10), 0);
        feed_every(&m, 0x100, &t, 100 * MS, 6);
        /* Would make the mean far too short if it counted. */
        assert_int_equal(umc_canmon_frame(&m, 0x100, false, 1), UMC_REASON_OK);
        assert_int_equal(m.stats[0].count, 6);
        feed_every(&m, 0x100, &t, 100 * MS, 5);
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_OK);
        assert_int_equal(m.stats[0].count, 0);
        /* Also across the window boundary. */
        assert_int_equal(umc_canmon_frame(&m, 0x100, false, 0), UMC_REASON_OK);
        assert_int_equal(m.stats[0].count, 0);
        /* Unknown IDs are unknown whatever their timestamp. */
        assert_int_equal(umc_canmon_frame(&m, 0x555, false, 0), UMC_REASON_CAN_ID_UNKNOWN);
        umc_canmon_done(&m);
}

static void test_first_violating_rule_in_table_order_is_reported(void **state) {
        const struct umc_canid_rule rules[] = {
                { .id = 0x300, .period_usec = 100 * MS, .tolerance_pct = 10 },
                { .id = 0x100, .period_usec = 100 * MS, .tolerance_pct = 10 },
                { .id = 0x200, .period_usec = 100 * MS, .tolerance_pct = 10 },
        };
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t1 = 0, t2 = 0, t3 = 0;

        assert_int_equal(umc_canmon_init(&m, rules, 3, 10), 0);
        feed_every(&m, 0x100, &t1, 100 * MS, 11); /* fine */
        feed_every(&m, 0x200, &t2, 50 * MS, 11);  /* fast */
        feed_every(&m, 0x300, &t3, 200 * MS, 11); /* slow, and first in the table */
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_CAN_RATE_LOW);
        assert_int_equal(v.id, 0x300);
        /* Every judged window restarted, reported or not. */
        for (size_t i = 0; i < 3; i++)
                assert_int_equal(m.stats[i].count, 0);
        umc_canmon_done(&m);
}

static void test_per_rule_tolerance_and_min_periods_apply(void **state) {
        const struct umc_canid_rule rules[] = {
                { .id = 0x100, .period_usec = 100 * MS, .tolerance_pct = 25 },
        };
        struct umc_canmon m;
        struct umc_canid_verdict v;
        uint64_t t = 0;

        assert_int_equal(umc_canmon_init(&m, rules, 1, 3), 0);
        feed_every(&m, 0x100, &t, 120 * MS, 4); /* 3 intervals, 20% < 25% */
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_OK);
        assert_int_equal(m.stats[0].count, 0);
        feed_every(&m, 0x100, &t, 130 * MS, 4);
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_CAN_RATE_LOW);
        umc_canmon_done(&m);
}

static void test_canmon_init_refuses_bad_arguments_and_rules(void **state) {
        const struct umc_canid_rule dup[] = {
                { .id = 0x100, .period_usec = 100 * MS, .tolerance_pct = 10 },
                { .id = 0x200 },
                { .id = 0x100 },
        };
        const struct umc_canid_rule same_number[] = { { .id = 0x100 }, { .id = 0x100, .eff = true } };
        const struct umc_canid_rule sff_too_big[] = { { .id = 0x800 } };
        const struct umc_canid_rule eff_too_big[] = { { .id = 0x20000000, .eff = true } };
        const struct umc_canid_rule slow[] = { { .id = 0x100, .period_usec = 3600 * USEC_PER_SEC + 1 } };
        const struct umc_canid_rule bad_tol[] = { { .id = 0x100, .tolerance_pct = NAN } };
        struct umc_canmon m;

        assert_int_equal(umc_canmon_init(&m, rules_100ms, 1, 0), -EINVAL);
        assert_int_equal(umc_canmon_init(&m, NULL, 1, 10), -EINVAL);
        assert_int_equal(umc_canmon_init(NULL, rules_100ms, 1, 10), -EINVAL);
        assert_int_equal(umc_canmon_init(&m, dup, 3, 10), -EINVAL);
        assert_int_equal(umc_canmon_init(&m, sff_too_big, 1, 10), -EINVAL);
        assert_int_equal(umc_canmon_init(&m, eff_too_big, 1, 10), -EINVAL);
        assert_int_equal(umc_canmon_init(&m, slow, 1, 10), -EINVAL);
        assert_int_equal(umc_canmon_init(&m, bad_tol, 1, 10), -EINVAL);

        assert_int_equal(umc_canmon_init(&m, same_number, 2, 10), 0);
        assert_int_equal(umc_canmon_frame(&m, 0x100, true, 0), UMC_REASON_OK);
        assert_int_equal(m.stats[1].count, 1);
        assert_int_equal(m.stats[0].count, 0);
        umc_canmon_done(&m);
        assert_null(m.stats);
        umc_canmon_done(&m); /* twice is fine */
        umc_canmon_done(NULL);
}

static void test_empty_whitelist_makes_every_id_unknown(void **state) {
        struct umc_canmon m;
        struct umc_canid_verdict v;

        assert_int_equal(umc_canmon_init(&m, NULL, 0, 10), 0);
        assert_int_equal(umc_canmon_frame(&m, 0x000, false, 0), UMC_REASON_CAN_ID_UNKNOWN);
        umc_canmon_evaluate(&m, &v);
        assert_int_equal(v.reason, UMC_REASON_CAN_ID_UNKNOWN);
        umc_canmon_done(&m);
}

static void test_lookup_finds_every_rule_of_a_large_table(void **state) {
        enum { N = 600 };
        struct umc_canid_rule rules[N];
        struct umc_canmon m;

        /* Not sorted in the table: mixed formats, descending IDs. */
        for (size_t i = 0; i < N; i++)
                rules[i] = (struct umc_canid_rule){
                        .id = (uint32_t)((N - i) * 3),
                        .eff = i % 2,
                        .period_usec = 10 * MS,
                        .tolerance_pct = 10,
                };
        assert_int_equal(umc_canmon_init(&m, rules, N, 10), 0);
        for (size_t i = 0; i < N; i++) {
                assert_int_equal(umc_canmon_frame(&m, rules[i].id, rules[i].eff, i), UMC_REASON_OK);
                assert_int_equal(m.stats[i].count, 1);
                assert_int_equal(umc_canmon_frame(&m, rules[i].id + 1, rules[i].eff, i),
                                 UMC_REASON_CAN_ID_UNKNOWN);
        }
        umc_canmon_done(&m);
}


int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_canid_parse_accepts_3_and_8_digit_ids_with_periods),
                cmocka_unit_test(test_canid_parse_refuses_with_exact_reason),
                cmocka_unit_test(test_canid_find_tells_11_bit_from_29_bit),
                cmocka_unit_test(test_rate_within_10_percent_passes_and_outside_fails),
                cmocka_unit_test(test_rate_exactly_at_tolerance_passes_and_1us_beyond_fails),
                cmocka_unit_test(test_jitter_with_correct_mean_passes_though_intervals_deviate_30_percent),
                cmocka_unit_test(test_injected_copy_at_twice_the_rate_is_rate_high),
                cmocka_unit_test(test_unknown_id_is_immediate_and_reported_before_rates),
                cmocka_unit_test(test_too_few_periods_are_not_judged_then_judged_in_a_later_window),
                cmocka_unit_test(test_judged_id_starts_a_new_window),
                cmocka_unit_test(test_aperiodic_id_is_never_judged_on_rate),
                cmocka_unit_test(test_silent_id_is_not_judged),
                cmocka_unit_test(test_backwards_timestamp_is_not_counted),
                cmocka_unit_test(test_first_violating_rule_in_table_order_is_reported),
                cmocka_unit_test(test_per_rule_tolerance_and_min_periods_apply),
                cmocka_unit_test(test_canmon_init_refuses_bad_arguments_and_rules),
                cmocka_unit_test(test_empty_whitelist_makes_every_id_unknown),
                cmocka_unit_test(test_lookup_finds_every_rule_of_a_large_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
