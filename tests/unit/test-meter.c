/* SPDX-License-Identifier: MIT */
/* The rate, percent and ETA umcctl shows (meter.c): early, steady, never backwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "umc/meter.h"

#define MS 1000ULL
#define S 1000000ULL
#define MIB (1024ULL * 1024ULL)

/*
 * The case that was reported: 8 MiB in 4 s, checkpoints acknowledged every
 * 64 KiB. The daemon's per-window rate stayed 0 for 2 s; the meter must give
 * a rate within a second of the first acknowledged bytes.
 */
static void test_rate_and_eta_show_from_the_first_checkpoint(void **state) {
        struct umc_meter m = {};
        uint64_t t0 = 5 * S, chunk = 64 * 1024, rate = 2 * MIB; /* bytes/s */
        uint64_t at = t0 + chunk * S / rate;                    /* first ack: 31 ms later */

        umc_meter_start(&m, 0);
        assert_int_equal(umc_meter_rate(&m), 0);
        assert_int_equal(umc_meter_eta(&m, t0, 8 * MIB, umc_meter_rate(&m)), UMC_METER_ETA_UNKNOWN);
        umc_meter_add(&m, at, chunk);
        /* 31 ms is too short to trust; 200 ms after the first ack there is a rate. */
        for (uint64_t b = 2 * chunk; b * S / rate <= 200 * MS; b += chunk)
                umc_meter_add(&m, t0 + b * S / rate, b);
        assert_in_range(umc_meter_rate(&m), rate * 95 / 100, rate * 105 / 100);
        assert_in_range(umc_meter_eta(&m, t0 + 200 * MS, 8 * MIB - 7 * chunk, umc_meter_rate(&m)), 3, 4);
}

static void test_rate_follows_the_last_window(void **state) {
        struct umc_meter m = {};
        uint64_t b = 0, t = 0;

        umc_meter_start(&m, 0);
        for (int i = 0; i < 50; i++) /* 10 s at 1 MiB/s */
                umc_meter_add(&m, t += 200 * MS, b += MIB / 5);
        assert_in_range(umc_meter_rate(&m), MIB * 99 / 100, MIB * 101 / 100);
        for (int i = 0; i < 25; i++) /* then 5 s at 4 MiB/s */
                umc_meter_add(&m, t += 200 * MS, b += 4 * MIB / 5);
        assert_in_range(umc_meter_rate(&m), 4 * MIB * 95 / 100, 4 * MIB * 105 / 100);
}

static void test_percent_never_goes_backwards(void **state) {
        struct umc_meter m = {};

        assert_int_equal(umc_meter_percent(&m, 50, 100, 0), 50);
        /* A resume from an earlier checkpoint, or a total learnt late. */
        assert_int_equal(umc_meter_percent(&m, 40, 100, 0), 50);
        assert_int_equal(umc_meter_percent(&m, 10, 0, 30), 50);
        assert_int_equal(umc_meter_percent(&m, 200, 100, 0), 100);
}

static void test_a_lower_count_restarts_the_rate_not_the_percent(void **state) {
        struct umc_meter m = {};

        umc_meter_start(&m, 0);
        umc_meter_add(&m, 1 * S, 1000);
        umc_meter_add(&m, 2 * S, 2000);
        assert_int_equal(umc_meter_rate(&m), 1000);
        (void)umc_meter_percent(&m, 2000, 4000, 0);
        umc_meter_add(&m, 3 * S, 500); /* resumed from the checkpoint at 500 */
        assert_int_equal(umc_meter_rate(&m), 0);
        umc_meter_add(&m, 4 * S, 1500);
        assert_int_equal(umc_meter_rate(&m), 0);
        umc_meter_add(&m, 5 * S, 2500);
        assert_int_equal(umc_meter_rate(&m), 1000);
        assert_int_equal(umc_meter_percent(&m, 500, 4000, 0), 50);
}

/* Connecting and the handshake are latency, not throughput: the rate starts at the first ack. */
static void test_the_wait_for_the_first_checkpoint_does_not_lower_the_rate(void **state) {
        struct umc_meter m = {};

        umc_meter_start(&m, 0);
        umc_meter_add(&m, 0, 0);
        umc_meter_add(&m, 1100 * MS, 0);        /* still nothing acknowledged */
        umc_meter_add(&m, 1200 * MS, 64 * 1024); /* first checkpoint */
        umc_meter_add(&m, 1300 * MS, 128 * 1024);
        umc_meter_add(&m, 1400 * MS, 192 * 1024);
        assert_int_equal(umc_meter_rate(&m), 640 * 1024);
}

static void test_eta_counts_down_without_flicker(void **state) {
        struct umc_meter m = {};
        uint64_t t = 0, b = 0, total = 100 * MIB, last = UMC_METER_ETA_UNKNOWN;
        unsigned ups = 0, changes = 0;

        umc_meter_start(&m, 0);
        /* 1 MiB/s with jitter of +-15 % per sample: the shown ETA counts down, no flicker. */
        for (int i = 0; i < 200; i++) {
                uint64_t eta;

                b += (i % 2 ? 115 : 85) * MIB / 1000;
                t += 100 * MS;
                umc_meter_add(&m, t, b);
                eta = umc_meter_eta(&m, t, total - b, umc_meter_rate(&m));
                if (last != UMC_METER_ETA_UNKNOWN && eta != last) {
                        changes++;
                        ups += eta > last;
                }
                if (eta != UMC_METER_ETA_UNKNOWN)
                        last = eta;
        }
        /* At most one correction upwards (the first estimates), about one change a second. */
        assert_true(ups <= 1);
        assert_true(changes <= 25);
        /* 20 MiB done of 100 after 20 s: about 80 s left. */
        assert_in_range(last, 77, 83);
}

static void test_eta_follows_a_real_slowdown(void **state) {
        struct umc_meter m = {};
        uint64_t t = 0, b = 0;

        umc_meter_start(&m, 0);
        for (int i = 0; i < 30; i++)
                umc_meter_add(&m, t += 100 * MS, b += MIB / 10);
        assert_in_range(umc_meter_eta(&m, t, 30 * MIB, umc_meter_rate(&m)), 29, 31);
        for (int i = 0; i < 40; i++) /* a quarter of the speed */
                umc_meter_add(&m, t += 100 * MS, b += MIB / 40);
        assert_in_range(umc_meter_eta(&m, t, 30 * MIB, umc_meter_rate(&m)), 110, 130);
        assert_int_equal(umc_meter_eta(&m, t, 0, umc_meter_rate(&m)), 0);
}

/* Between two targets there is no rate for a moment: the ETA keeps counting down. */
static void test_eta_counts_down_without_a_rate(void **state) {
        struct umc_meter m = {};

        assert_int_equal(umc_meter_eta(&m, 0, 1000, 0), UMC_METER_ETA_UNKNOWN);
        assert_int_equal(umc_meter_eta(&m, 0, 1000, 100), 10);
        assert_int_equal(umc_meter_eta(&m, 3 * S, 700, 0), 7);
        assert_int_equal(umc_meter_eta(&m, 20 * S, 700, 0), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rate_and_eta_show_from_the_first_checkpoint),
                cmocka_unit_test(test_rate_follows_the_last_window),
                cmocka_unit_test(test_percent_never_goes_backwards),
                cmocka_unit_test(test_a_lower_count_restarts_the_rate_not_the_percent),
                cmocka_unit_test(test_the_wait_for_the_first_checkpoint_does_not_lower_the_rate),
                cmocka_unit_test(test_eta_counts_down_without_flicker),
                cmocka_unit_test(test_eta_follows_a_real_slowdown),
                cmocka_unit_test(test_eta_counts_down_without_a_rate),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
