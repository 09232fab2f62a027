/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>

#include "umc/acl.h"
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
                const char *why = "untouched";

                print_message("%s\n", rows[i].s);
                assert_int_equal(umc_canid_rule_parse(rows[i].s, 7.5, &r, &why), 0);
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
                const char *why = NULL;

                print_message("'%s'\n", rows[i].s);
                memset(&r, 0xAA, sizeof(r));
                before = r;
                assert_int_equal(umc_canid_rule_parse(rows[i].s, rows[i].tol, &r, &why), -EINVAL);
                assert_non_null(why);
                assert_string_equal(why, rows[i].why);
                assert_memory_equal(&r, &before, sizeof(r));
        }
        /* NULL input and NULL why are fine. */
        struct umc_canid_rule r;
        assert_int_equal(umc_canid_rule_parse(NULL, 10, &r, NULL), -EINVAL);
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

/* ---- Ethernet rules ---- */

static void test_eth_parse_fills_fields(void **state) {
        struct umc_eth_rule r;
        const char *why = NULL;
        uint8_t v6[16];

        assert_int_equal(umc_eth_rule_parse("allow", &r, &why), 0);
        assert_true(r.allow);
        assert_int_equal(r.proto, 0);
        assert_int_equal(r.family, 0);
        assert_int_equal(r.src_prefix, 0);
        assert_int_equal(r.dst_prefix, 0);
        assert_int_equal(r.sport_lo, 0);
        assert_int_equal(r.sport_hi, 65535);
        assert_int_equal(r.dport_lo, 0);
        assert_int_equal(r.dport_hi, 65535);
        assert_int_equal(r.vlan, UMC_VLAN_ANY);

        assert_int_equal(umc_eth_rule_parse("deny  proto=udp\tdport=5000-5010 src=10.1.0.0/16 "
                                            "vlan=none sport=53 dst=10.2.3.4",
                                            &r, &why),
                         0);
        assert_false(r.allow);
        assert_int_equal(r.proto, 17);
        assert_int_equal(r.family, AF_INET);
        assert_memory_equal(r.src, ((uint8_t[]){ 10, 1, 0, 0 }), 4);
        assert_int_equal(r.src_prefix, 16);
        assert_memory_equal(r.dst, ((uint8_t[]){ 10, 2, 3, 4 }), 4);
        assert_int_equal(r.dst_prefix, 32);
        assert_int_equal(r.sport_lo, 53);
        assert_int_equal(r.sport_hi, 53);
        assert_int_equal(r.dport_lo, 5000);
        assert_int_equal(r.dport_hi, 5010);
        assert_int_equal(r.vlan, UMC_VLAN_UNTAGGED);

        assert_int_equal(umc_eth_rule_parse("allow proto=tcp dst=fd00::1 src=any vlan=4094 dport=0", &r,
                                            &why),
                         0);
        assert_int_equal(r.family, AF_INET6);
        assert_int_equal(inet_pton(AF_INET6, "fd00::1", v6), 1);
        assert_memory_equal(r.dst, v6, 16);
        assert_int_equal(r.dst_prefix, 128);
        assert_int_equal(r.src_prefix, 0);
        assert_int_equal(r.vlan, 4094);
        assert_int_equal(r.dport_lo, 0);
        assert_int_equal(r.dport_hi, 0);

        assert_int_equal(umc_eth_rule_parse("allow src=0.0.0.0/0 dst=fd00::/8", &r, &why), -EINVAL);
        assert_int_equal(umc_eth_rule_parse("allow src=0.0.0.0/0", &r, &why), 0);
        assert_int_equal(r.family, AF_INET);
        assert_int_equal(r.src_prefix, 0);
}

struct eth_bad_row {
        const char *s;
        const char *why;
};

static void test_eth_parse_refuses_with_exact_reason(void **state) {
        static const char *const vlan = "vlan: must be an ID 1..4094, none or any";
        static const struct eth_bad_row rows[] = {
                { "", "empty rule" },
                { "   ", "empty rule" },
                { "permit", "rule must start with allow or deny" },
                { "Allow", "rule must start with allow or deny" },
                { "proto=tcp allow", "rule must start with allow or deny" },
                { "allow tcp", "'tcp' is not key=value" },
                { "allow prot=tcp", "unknown key 'prot'" },
                { "allow =tcp", "unknown key ''" },
                { "allow src=any dport=1 src=any", "key 'src' given twice" },
                { "allow vlan=1 vlan=1", "key 'vlan' given twice" },
                { "allow src=", "src: empty value" },
                { "allow proto=icmp", "proto: must be tcp, udp or any" },
                { "allow proto=TCP", "proto: must be tcp, udp or any" },
                { "allow src=10.0.0.1/24", "src: 10.0.0.1/24 has host bits set" },
                { "allow src=10.0.0.64/25", "src: 10.0.0.64/25 has host bits set" },
                { "allow src=10.0.0.127/25", "src: 10.0.0.127/25 has host bits set" },
                { "allow src=10.0.0.0/0", "src: 10.0.0.0/0 has host bits set" },
                { "allow dst=fd00::1/64", "dst: fd00::1/64 has host bits set" },
                { "allow src=10.0.0.0/33", "src: prefix above 32 for IPv4" },
                { "allow src=fd00::/129", "src: prefix above 128 for IPv6" },
                { "allow src=10.0.0.0/", "src: prefix length is not a number" },
                { "allow src=10.0.0.0/-1", "src: prefix length is not a number" },
                { "allow src=10.0.0.0/+8", "src: prefix length is not a number" },
                { "allow src=10.0.0.0/24/8", "src: prefix length is not a number" },
                { "allow src=10.0.0.256", "src: '10.0.0.256' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow src=10.0.0", "src: '10.0.0' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow dst=/24", "dst: '/24' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow dst=fd00:::1", "dst: 'fd00:::1' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow dst=fe80::1%eth0", "dst: 'fe80::1%eth0' is not an IPv4 or IPv6 address, CIDR or any" },
                { "allow src=10.0.0.0/24 dst=fd00::/64", "src and dst address families differ" },
                { "allow sport=65536", "sport: port above 65535" },
                { "allow dport=1-70000", "dport: port above 65535" },
                { "allow dport=90-80", "dport: range start above its end" },
                { "allow dport=80-", "dport: not a port, N-M range or any" },
                { "allow dport=-80", "dport: not a port, N-M range or any" },
                { "allow dport=+80", "dport: not a port, N-M range or any" },
                { "allow dport=1-2-3", "dport: not a port, N-M range or any" },
                { "allow dport=http", "dport: not a port, N-M range or any" },
                { "allow vlan=0", vlan },
                { "allow vlan=4095", vlan },
                { "allow vlan=-1", vlan },
                { "allow vlan=untagged", vlan },
        };

        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                struct umc_eth_rule r, before;
                const char *why = NULL;

                print_message("'%s'\n", rows[i].s);
                memset(&r, 0x5A, sizeof(r));
                before = r;
                assert_int_equal(umc_eth_rule_parse(rows[i].s, &r, &why), -EINVAL);
                assert_non_null(why);
                assert_string_equal(why, rows[i].why);
                assert_memory_equal(&r, &before, sizeof(r));
        }
}

static void test_eth_parse_quotes_unknown_key_safely(void **state) {
        struct umc_eth_rule r;
        const char *why = NULL;
        char rule[200] = "allow ";

        /* Long keys are cut, control characters shown as '?'. */
        memset(rule + 6, 'k', 100);
        strcpy(rule + 106, "=1");
        assert_int_equal(umc_eth_rule_parse(rule, &r, &why), -EINVAL);
        assert_string_equal(why, "unknown key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...'");
        assert_int_equal(umc_eth_rule_parse("allow a\x1b[2Jb=1", &r, &why), -EINVAL);
        assert_string_equal(why, "unknown key 'a?[2Jb'");
        assert_int_equal(umc_eth_rule_parse(NULL, &r, NULL), -EINVAL);
}

/* ---- Ethernet ACL matching ---- */

static struct umc_eth_rule rule_of(const char *s) {
        struct umc_eth_rule r;
        const char *why = NULL;

        if (umc_eth_rule_parse(s, &r, &why) < 0)
                fail_msg("'%s': %s", s, why);
        return r;
}

static struct umc_eth_tuple tuple_of(const char *proto, const char *src, uint16_t sport, const char *dst,
                                     uint16_t dport, int vlan) {
        struct umc_eth_tuple t = {
                .proto = strcmp(proto, "tcp") == 0 ? 6 : strcmp(proto, "udp") == 0 ? 17 : 1,
                .family = strchr(src, ':') ? AF_INET6 : AF_INET,
                .sport = sport,
                .dport = dport,
                .vlan = vlan,
        };

        assert_int_equal(inet_pton(t.family, src, t.src), 1);
        assert_int_equal(inet_pton(t.family, dst, t.dst), 1);
        return t;
}

struct match_row {
        const char *proto, *src;
        uint16_t sport;
        const char *dst;
        uint16_t dport;
        int vlan;
        enum umc_reason reason;
        size_t index;
};

static const char *const acl_rules[] = {
        /* 0 */ "deny proto=tcp src=10.0.0.66 dport=22",
        /* 1 */ "allow proto=tcp src=10.0.0.0/24 dport=22",
        /* 2 */ "allow proto=udp dst=10.1.0.0/16 dport=5000-5010 vlan=100",
        /* 3 */ "allow proto=tcp src=fd00::/64 dport=443 vlan=none",
        /* 4 */ "deny dst=fd00:1::/48",
        /* 5 */ "allow dst=fd00::/16 sport=1024-65535",
        /* 6 */ "allow proto=tcp dport=8080 vlan=any",
};

static void test_acl_allows_and_denies_v4_and_v6(void **state) {
        static const struct match_row rows[] = {
                /* v4 SSH from the subnet, except the denied host */
                { "tcp", "10.0.0.5", 40000, "10.9.9.9", 22, 0, UMC_REASON_OK, 1 },
                { "tcp", "10.0.0.66", 40000, "10.9.9.9", 22, 0, UMC_REASON_ETH_DENIED_BY_RULE, 0 },
                { "tcp", "10.0.1.5", 40000, "10.9.9.9", 22, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "10.0.0.5", 40000, "10.9.9.9", 22, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "tcp", "10.0.0.5", 40000, "10.9.9.9", 23, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* v4 port range 5000-5010 on VLAN 100 */
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5000, 100, UMC_REASON_OK, 2 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5010, 100, UMC_REASON_OK, 2 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 4999, 100, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5011, 100, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5005, 101, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "192.0.2.1", 1, "10.1.200.3", 5005, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "udp", "192.0.2.1", 1, "10.2.0.1", 5005, 100, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* v6 HTTPS from fd00::/64, untagged only */
                { "tcp", "fd00::abcd", 50000, "2001:db8::1", 443, 0, UMC_REASON_OK, 3 },
                { "tcp", "fd00::abcd", 50000, "2001:db8::1", 443, 7, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                { "tcp", "fd00:0:0:1::abcd", 50000, "2001:db8::1", 443, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* v6 deny of a /48 before a broader allow */
                { "udp", "2001:db8::1", 2000, "fd00:1:0:ff::1", 53, 0, UMC_REASON_ETH_DENIED_BY_RULE, 4 },
                { "udp", "2001:db8::1", 2000, "fd00:2::1", 53, 0, UMC_REASON_OK, 5 },
                { "udp", "2001:db8::1", 1023, "fd00:2::1", 53, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* port restriction on a protocol without ports never matches */
                { "icmp", "2001:db8::1", 2000, "fd00:2::1", 0, 0, UMC_REASON_ETH_DEFAULT_DENY, 7 },
                /* family-free rule matches both families, tagged or not */
                { "tcp", "192.0.2.1", 1, "192.0.2.2", 8080, 0, UMC_REASON_OK, 6 },
                { "tcp", "2001:db8::1", 1, "2001:db8::2", 8080, 4094, UMC_REASON_OK, 6 },
        };
        struct umc_eth_rule rules[UMC_ELEMENTSOF(acl_rules)];

        for (size_t i = 0; i < UMC_ELEMENTSOF(acl_rules); i++)
                rules[i] = rule_of(acl_rules[i]);
        for (size_t i = 0; i < UMC_ELEMENTSOF(rows); i++) {
                const struct match_row *w = &rows[i];
                struct umc_eth_tuple t = tuple_of(w->proto, w->src, w->sport, w->dst, w->dport, w->vlan);
                size_t index = 999;

                print_message("row %zu\n", i);
                assert_int_equal(umc_eth_acl_check(rules, UMC_ELEMENTSOF(rules), &t, &index), w->reason);
                assert_int_equal(index, w->index);
        }
}

static void test_acl_first_match_wins_so_order_matters(void **state) {
        struct umc_eth_rule deny_first[] = { rule_of("deny src=10.0.0.66"), rule_of("allow src=10.0.0.0/24") };
        struct umc_eth_rule allow_first[] = { rule_of("allow src=10.0.0.0/24"), rule_of("deny src=10.0.0.66") };
        struct umc_eth_tuple t = tuple_of("tcp", "10.0.0.66", 1, "10.0.0.1", 2, 0);
        size_t index;

        assert_int_equal(umc_eth_acl_check(deny_first, 2, &t, &index), UMC_REASON_ETH_DENIED_BY_RULE);
        assert_int_equal(index, 0);
        assert_int_equal(umc_eth_acl_check(allow_first, 2, &t, &index), UMC_REASON_OK);
        assert_int_equal(index, 0);
}

static void test_acl_without_match_is_default_deny(void **state) {
        struct umc_eth_rule rules[] = { rule_of("allow proto=udp") };
        struct umc_eth_tuple t = tuple_of("tcp", "10.0.0.1", 1, "10.0.0.2", 2, 0);
        size_t index = 999;

        assert_int_equal(umc_eth_acl_check(NULL, 0, &t, &index), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(index, 0);
        assert_int_equal(umc_eth_acl_check(rules, 1, &t, &index), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(index, 1);
        assert_int_equal(umc_eth_acl_check(rules, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
}

static void test_acl_vlan_any_none_and_id(void **state) {
        struct umc_eth_rule any[] = { rule_of("allow vlan=any") };
        struct umc_eth_rule none[] = { rule_of("allow vlan=none") };
        struct umc_eth_rule id[] = { rule_of("allow vlan=42") };
        struct umc_eth_tuple untagged = tuple_of("udp", "10.0.0.1", 1, "10.0.0.2", 2, UMC_VLAN_UNTAGGED);
        struct umc_eth_tuple tagged42 = tuple_of("udp", "10.0.0.1", 1, "10.0.0.2", 2, 42);
        struct umc_eth_tuple tagged43 = tuple_of("udp", "10.0.0.1", 1, "10.0.0.2", 2, 43);

        assert_int_equal(umc_eth_acl_check(any, 1, &untagged, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(any, 1, &tagged42, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(none, 1, &untagged, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(none, 1, &tagged42, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(id, 1, &tagged42, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(id, 1, &tagged43, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(id, 1, &untagged, NULL), UMC_REASON_ETH_DEFAULT_DENY);
}

static void test_acl_family_rule_needs_the_same_family(void **state) {
        struct umc_eth_rule v4[] = { rule_of("allow src=10.0.0.0/8") };
        struct umc_eth_rule v4_any[] = { rule_of("allow dst=0.0.0.0/0") };
        struct umc_eth_tuple t6 = tuple_of("tcp", "a00::", 1, "::1", 2, 0);
        struct umc_eth_tuple mapped = tuple_of("tcp", "::ffff:10.0.0.1", 1, "::ffff:10.0.0.2", 2, 0);
        struct umc_eth_tuple t4 = tuple_of("tcp", "10.0.0.1", 1, "10.0.0.2", 2, 0);

        /* The v6 source starts with byte 10, as 10/8 does: still no match. */
        assert_int_equal(t6.src[0], 10);
        assert_int_equal(umc_eth_acl_check(v4, 1, &t6, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(v4, 1, &mapped, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(v4_any, 1, &t6, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(v4, 1, &t4, NULL), UMC_REASON_OK);
        assert_int_equal(umc_eth_acl_check(v4_any, 1, &t4, NULL), UMC_REASON_OK);
}

static void test_acl_prefix_off_byte_boundary_matches_its_bits_only(void **state) {
        struct umc_eth_rule v4[] = { rule_of("allow src=10.0.0.128/25") };
        struct umc_eth_rule v6[] = { rule_of("allow dst=fd00:0:0:fffe::/63") };
        struct umc_eth_tuple t;

        t = tuple_of("udp", "10.0.0.200", 1, "10.0.0.2", 2, 0);
        assert_int_equal(umc_eth_acl_check(v4, 1, &t, NULL), UMC_REASON_OK);
        t = tuple_of("udp", "10.0.0.127", 1, "10.0.0.2", 2, 0);
        assert_int_equal(umc_eth_acl_check(v4, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        t = tuple_of("udp", "::1", 1, "fd00:0:0:ffff::9", 2, 0);
        assert_int_equal(umc_eth_acl_check(v6, 1, &t, NULL), UMC_REASON_OK);
        t = tuple_of("udp", "::1", 1, "fd00:0:0:fffd::9", 2, 0);
        assert_int_equal(umc_eth_acl_check(v6, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
}

static void test_acl_denies_malformed_tuple(void **state) {
        struct umc_eth_rule all[] = { rule_of("allow") };
        struct umc_eth_tuple t = tuple_of("tcp", "10.0.0.1", 1, "10.0.0.2", 2, 0);
        size_t index = 999;

        assert_int_equal(umc_eth_acl_check(all, 1, &t, &index), UMC_REASON_OK);
        t.vlan = 4095;
        assert_int_equal(umc_eth_acl_check(all, 1, &t, &index), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(index, 1);
        t.vlan = -1;
        assert_int_equal(umc_eth_acl_check(all, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        t.vlan = 0;
        t.family = AF_UNIX;
        assert_int_equal(umc_eth_acl_check(all, 1, &t, NULL), UMC_REASON_ETH_DEFAULT_DENY);
        assert_int_equal(umc_eth_acl_check(all, 1, NULL, NULL), UMC_REASON_ETH_DEFAULT_DENY);
}

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
                cmocka_unit_test(test_eth_parse_fills_fields),
                cmocka_unit_test(test_eth_parse_refuses_with_exact_reason),
                cmocka_unit_test(test_eth_parse_quotes_unknown_key_safely),
                cmocka_unit_test(test_acl_allows_and_denies_v4_and_v6),
                cmocka_unit_test(test_acl_first_match_wins_so_order_matters),
                cmocka_unit_test(test_acl_without_match_is_default_deny),
                cmocka_unit_test(test_acl_vlan_any_none_and_id),
                cmocka_unit_test(test_acl_family_rule_needs_the_same_family),
                cmocka_unit_test(test_acl_prefix_off_byte_boundary_matches_its_bits_only),
                cmocka_unit_test(test_acl_denies_malformed_tuple),
                cmocka_unit_test(test_ecu_known_with_matching_hw_id_passes),
                cmocka_unit_test(test_ecu_unknown_id_is_ecu_unknown),
                cmocka_unit_test(test_ecu_hw_id_of_same_length_differing_is_mismatch),
                cmocka_unit_test(test_ecu_hw_id_of_other_length_is_mismatch),
                cmocka_unit_test(test_ecu_with_empty_hw_id_never_matches),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
