/* SPDX-License-Identifier: MIT */
/*
 * The live CAN monitor without a socket: frames are fed by hand and the
 * window figures checked against bits counted by hand (can-utils canframelen.c's
 * model and docs/busload.md). umc_canbus_open() is checked on an interface that
 * does not exist (-EAFNOSUPPORT where the kernel has no CAN, as on our
 * build machines, else -ENODEV); the socket path runs in the guest
 * (tests/integration/test-canload.sh). The rtnetlink query is tested
 * against the loopback interface and crafted kernel answers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <unistd.h>

#include <linux/can/error.h>
#include <linux/can/netlink.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <math.h>
#include <string.h>

#include "umc/canbus.h"
#include "umc/util.h"

#define SEC USEC_PER_SEC
#define MSEC USEC_PER_MSEC
#define T0 (UINT64_C(1700000000) * SEC) /* a CLOCK_REALTIME-like start */

static void assert_percent(double got, double want) {
        if (fabs(got - want) > 1e-9)
                fail_msg("load %.12f %%, expected %.12f %%", got, want);
}

static struct umc_canbus_params params(enum umc_stuffing mode) {
        struct umc_canbus_params p = {
                .ifname = "vcan0",
                .stuffing = mode,
                .model = UMC_BITMODEL_CANBUSLOAD,
                .nominal_bitrate = 500000,
                .nominal_data_bitrate = 2000000,
                .min_periods = UMC_CANMON_MIN_PERIODS_DEFAULT,
        };

        umc_load_cfg_default(&p.load);
        return p;
}

static struct umc_canbus *new_bus(const struct umc_canbus_params *p) {
        struct umc_canbus *b = NULL;

        assert_int_equal(umc_canbus_new(p, T0, &b), 0);
        assert_non_null(b);
        return b;
}

static struct canfd_frame classic(uint32_t can_id, uint8_t len) {
        struct canfd_frame f = { .can_id = can_id, .len = len };

        memset(f.data, 0, sizeof(f.data));
        return f;
}

/* n frames of f, one every period from start. */
static void feed_n(struct umc_canbus *b, const struct canfd_frame *f, bool fd, unsigned n,
                   uint64_t start, uint64_t period) {
        for (unsigned i = 0; i < n; i++)
                assert_int_equal(umc_canbus_feed(b, f, fd, start + i * period), 0);
}

static struct umc_canbus_window tick_one(struct umc_canbus *b, uint64_t now) {
        struct umc_canbus_window w;

        assert_int_equal(umc_canbus_tick(b, now, &w), 1);
        return w;
}

/* ---- load figures ---- */

static void test_classic_11_bit_frames_by_hand(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame f = classic(0x123, 8);
        struct umc_canbus_window w;

        /* 100 frames of 47 + 8 * 8 = 111 bits in 1 s at 500 kbit/s: 2.22 %. */
        feed_n(b, &f, false, 100, T0, 10 * MSEC);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.bits, 11100);
        assert_int_equal(w.frames, 100);
        assert_int_equal(w.start_usec, T0);
        assert_percent(w.percent, 2.22);
        assert_int_equal(w.own_bits, 0);
        assert_int_equal(w.verdict.reason, UMC_REASON_OK);
}

static void test_classic_29_bit_frames_worst_case_by_hand(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_WORST);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame f = classic(0x18DAF110 | CAN_EFF_FLAG, 8), g = classic(0x123, 8);
        struct umc_canbus_window w;

        /* 50 x (80 + 10 * 8 = 160) + 50 x (55 + 10 * 8 = 135) = 14750 bits: 2.95 %. */
        feed_n(b, &f, false, 50, T0, 20 * MSEC);
        feed_n(b, &g, false, 50, T0 + 10 * MSEC, 20 * MSEC);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.bits, 14750);
        assert_int_equal(w.frames, 100);
        assert_percent(w.percent, 2.95);
}

static void test_fd_brs_frames_count_data_phase_at_data_bitrate(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame f = classic(0x123, 64);
        struct umc_canbus_window w;

        /*
         * canbusload's model, 64 bytes with BRS: 562 bits of which 539 in
         * the data phase. 10 frames: 230 bits at 500 kbit/s, 5390 at
         * 2 Mbit/s = 0.046 % + 0.2695 %.
         */
        f.flags = CANFD_BRS;
        feed_n(b, &f, true, 10, T0, 50 * MSEC);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.bits, 5620);
        assert_percent(w.percent, 0.3155);

        /* Without BRS the whole frame runs at the nominal bitrate. */
        f.flags = 0;
        feed_n(b, &f, true, 10, T0 + SEC, 50 * MSEC);
        w = tick_one(b, T0 + 2 * SEC);
        assert_percent(w.percent, 5620 * 100.0 / 500000);
}

static void test_classic_frame_ignores_the_flags_byte(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame f = classic(0x123, 8);
        struct umc_canbus_window w;

        /* struct can_frame has padding where canfd_frame has flags: no BRS for classic frames. */
        f.flags = CANFD_BRS;
        assert_int_equal(umc_canbus_feed(b, &f, false, T0), 0);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.bits, 111);
        assert_percent(w.percent, 111 * 100.0 / 500000);
}

static void test_remote_frame_counts_dlc_as_canbusload(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = NULL;
        struct canfd_frame f = classic(0x123 | CAN_RTR_FLAG, 8);
        struct umc_canbus_window w;

        b = new_bus(&p);
        assert_int_equal(umc_canbus_feed(b, &f, false, T0), 0);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.bits, 111);
        umc_canbus_free(TAKE_PTR(b));

        /* The ISO model sends no data for a remote frame: 47 bits. */
        p.model = UMC_BITMODEL_ISO;
        b = new_bus(&p);
        assert_int_equal(umc_canbus_feed(b, &f, false, T0), 0);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.bits, 47);
}

static void test_exact_mode_counts_content(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_EXACT);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame zero = classic(0x000, 8), alt = classic(0x555, 8);
        struct umc_canbus_window w;

        /* docs/busload.md: ID 000 with 8 x 00 is 127 bits, ID 555 with 8 x 55 is 112. */
        memset(alt.data, 0x55, 8);
        assert_int_equal(umc_canbus_feed(b, &zero, false, T0), 0);
        assert_int_equal(umc_canbus_feed(b, &alt, false, T0 + 1), 0);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.bits, 127 + 112);
}

static void test_own_channel_bits_are_summed_apart(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame tx = classic(0x7E0, 8), rx = classic(0x7E8, 3), other = classic(0x100, 8),
                           eff = classic(0x7E0 | CAN_EFF_FLAG, 8);
        struct umc_canbus_window w;

        assert_int_equal(umc_canbus_add_channel(b, 0x7E0, 0x7E8, false), 0);
        feed_n(b, &tx, false, 10, T0, 10 * MSEC);          /* 10 x 111 */
        feed_n(b, &rx, false, 10, T0 + 1, 10 * MSEC);      /* 10 x (47 + 24) = 710 */
        feed_n(b, &other, false, 5, T0 + 2, 10 * MSEC);    /* 5 x 111, not ours */
        feed_n(b, &eff, false, 2, T0 + 3, 10 * MSEC);      /* same number, 29-bit: not ours */
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.own_bits, 1110 + 710);
        assert_int_equal(w.own_frames, 20);
        assert_int_equal(w.frames, 27);
        assert_int_equal(w.bits, 1110 + 710 + 555 + 2 * 131);
        assert_percent(w.own_percent, 1820 * 100.0 / 500000);

        /* Once the transfer ends its frames are other traffic again. */
        umc_canbus_clear_channels(b);
        feed_n(b, &tx, false, 10, T0 + SEC, 10 * MSEC);
        w = tick_one(b, T0 + 2 * SEC);
        assert_int_equal(w.own_bits, 0);
        assert_int_equal(w.bits, 1110);
}

static void test_own_fd_channel_splits_by_bitrate(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_WORST);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame f = classic(0x18DA10F1 | CAN_EFF_FLAG, 64);
        struct umc_canbus_window w;

        /* canbusload worst case, 29-bit, 64 bytes, BRS: 725 bits, 673 in the data phase. */
        f.flags = CANFD_BRS;
        assert_int_equal(umc_canbus_add_channel(b, 0x18DA10F1, 0x18DAF110, true), 0);
        feed_n(b, &f, true, 4, T0, 100 * MSEC);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.own_bits, 4 * 725);
        assert_percent(w.own_percent, 4 * 52 * 100.0 / 500000 + 4 * 673 * 100.0 / 2000000);
        assert_percent(w.own_percent, w.percent);
}

static void test_error_frames_are_not_load(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_WORST);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame err = classic(CAN_ERR_FLAG | CAN_ERR_BUSOFF, CAN_ERR_DLC), f = classic(0x123, 8);
        struct umc_canbus_status st;
        struct umc_canbus_window w;

        feed_n(b, &err, false, 3, T0, MSEC);
        feed_n(b, &f, false, 1, T0 + 10 * MSEC, MSEC);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.error_frames, 3);
        assert_int_equal(w.frames, 1);
        assert_int_equal(w.bits, 135);
        assert_int_equal(umc_canbus_status(b, &st), 0);
        assert_int_equal(st.error_frames, 3);
        assert_int_equal(st.frames, 1);
        assert_int_equal(st.unknown_ids, 0);
}

/* ---- windows ---- */

static void test_windows_close_on_tick(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame f = classic(0x123, 8);
        struct umc_canbus_window w = { .bits = 4242 };

        feed_n(b, &f, false, 10, T0, 10 * MSEC);
        /* Not yet: the window is [T0, T0 + 1 s). */
        assert_int_equal(umc_canbus_tick(b, T0 + SEC - 1, &w), 0);
        assert_int_equal(w.bits, 4242);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.bits, 1110);
        /* Reported once. */
        assert_int_equal(umc_canbus_tick(b, T0 + SEC, &w), 0);

        /* 2.5 windows later: two closed, the last one idle. */
        feed_n(b, &f, false, 10, T0 + SEC, 10 * MSEC);
        assert_int_equal(umc_canbus_tick(b, T0 + 3 * SEC + SEC / 2, &w), 2);
        assert_int_equal(w.start_usec, T0 + 2 * SEC);
        assert_int_equal(w.bits, 0);
        assert_percent(w.percent, 0);
}

static void test_frame_past_window_end_closes_it_for_next_tick(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame f = classic(0x123, 8);
        struct umc_canbus_status st;
        struct umc_canbus_window w;

        feed_n(b, &f, false, 10, T0, 10 * MSEC);
        /* The socket is read before the timer fires: this frame belongs to the second window. */
        feed_n(b, &f, false, 1, T0 + SEC + 5, 1);
        assert_int_equal(umc_canbus_status(b, &st), 0);
        assert_int_equal(st.windows, 1);
        w = tick_one(b, T0 + SEC + 10);
        assert_int_equal(w.bits, 1110);
        assert_int_equal(w.frames, 10);
        w = tick_one(b, T0 + 2 * SEC);
        assert_int_equal(w.bits, 111);
}

static void test_status_reports_nominal_bitrates_and_last_load(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);
        struct canfd_frame f = classic(0x123, 8);
        struct umc_canbus_status st;

        feed_n(b, &f, false, 100, T0, 10 * MSEC);
        (void)tick_one(b, T0 + SEC);
        assert_int_equal(umc_canbus_status(b, &st), 0);
        assert_string_equal(st.ifname, "vcan0");
        assert_false(st.open);
        assert_true(st.nominal);
        assert_int_equal(st.bitrate, 500000);
        assert_int_equal(st.data_bitrate, 2000000);
        assert_false(st.have_state);
        assert_int_equal(st.frames, 100);
        assert_int_equal(st.windows, 1);
        assert_percent(st.percent, 2.22);
        assert_int_equal(st.cls, UMC_LOAD_NORMAL);
        assert_string_equal(umc_canbus_state_to_string(CAN_STATE_BUS_OFF), "bus-off");
        assert_string_equal(umc_canbus_state_to_string(CAN_STATE_ERROR_ACTIVE), "error-active");
        assert_string_equal(umc_canbus_state_to_string(99), "unknown");
        assert_string_equal(umc_canbus_state_to_string(-1), "unknown");
}

/* ---- ID checks ---- */

static const struct umc_canid_rule rules[] = {
        { .id = 0x100, .period_usec = 10 * MSEC, .tolerance_pct = 10 },
        { .id = 0x7E0, .period_usec = 0, .tolerance_pct = 10 },
        { .id = 0x18DAF110, .eff = true, .period_usec = 20 * MSEC, .tolerance_pct = 10 },
};

static struct umc_canbus *checked_bus(void) {
        struct umc_canbus_params p = params(UMC_STUFF_WORST);

        p.rules = rules;
        p.n_rules = UMC_ELEMENTSOF(rules);
        return new_bus(&p);
}

static void test_listed_ids_at_nominal_rate_pass(void **state) {
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = checked_bus();
        struct canfd_frame f = classic(0x100, 8), g = classic(0x18DAF110 | CAN_EFF_FLAG, 8),
                           h = classic(0x7E0, 8);
        struct umc_canbus_window w;

        feed_n(b, &f, false, 100, T0, 10 * MSEC);
        feed_n(b, &g, false, 50, T0 + 1, 20 * MSEC);
        feed_n(b, &h, false, 3, T0 + 2, 1);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.verdict.reason, UMC_REASON_OK);
}

static void test_unlisted_id_is_reported_at_window_close(void **state) {
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = checked_bus();
        struct canfd_frame f = classic(0x100, 8), x = classic(0x555, 2);
        struct umc_canbus_status st;
        struct umc_canbus_window w;

        feed_n(b, &f, false, 100, T0, 10 * MSEC);
        feed_n(b, &x, false, 1, T0 + 500 * MSEC, 1);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.verdict.reason, UMC_REASON_CAN_ID_UNKNOWN);
        assert_int_equal(w.verdict.id, 0x555);
        assert_false(w.verdict.eff);
        /* The unknown frame still used the bus. */
        assert_int_equal(w.frames, 101);
        assert_int_equal(umc_canbus_status(b, &st), 0);
        assert_int_equal(st.unknown_ids, 1);
        /* The next window is clean again. */
        feed_n(b, &f, false, 100, T0 + SEC, 10 * MSEC);
        w = tick_one(b, T0 + 2 * SEC);
        assert_int_equal(w.verdict.reason, UMC_REASON_OK);
}

static void test_double_rate_is_rate_high(void **state) {
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = checked_bus();
        struct canfd_frame f = classic(0x100, 8);
        struct umc_canbus_window w;

        /* An injected copy of the ID: twice the nominal rate. */
        feed_n(b, &f, false, 200, T0, 5 * MSEC);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.verdict.reason, UMC_REASON_CAN_RATE_HIGH);
        assert_int_equal(w.verdict.id, 0x100);
        assert_int_equal(w.verdict.nominal_usec, 10 * MSEC);
        assert_int_equal(w.verdict.observed_usec, 5 * MSEC);
}

static void test_violation_survives_a_batch_of_windows(void **state) {
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = checked_bus();
        struct canfd_frame g = classic(0x18DAF110 | CAN_EFF_FLAG, 8);
        struct umc_canbus_window w;

        /* Half the rate in the first window, a clean second window, both closed by one tick. */
        feed_n(b, &g, false, 25, T0, 40 * MSEC);
        feed_n(b, &g, false, 50, T0 + SEC, 20 * MSEC);
        assert_int_equal(umc_canbus_tick(b, T0 + 2 * SEC, &w), 2);
        assert_int_equal(w.verdict.reason, UMC_REASON_CAN_RATE_LOW);
        assert_int_equal(w.verdict.id, 0x18DAF110);
        assert_true(w.verdict.eff);
        assert_int_equal(w.frames, 50);
}

static void test_empty_rule_table_makes_every_id_unknown(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_WORST);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = NULL;
        struct canfd_frame f = classic(0x100, 8);
        struct umc_canbus_window w;

        p.rules = rules;
        p.n_rules = 0;
        b = new_bus(&p);
        feed_n(b, &f, false, 1, T0, 1);
        w = tick_one(b, T0 + SEC);
        assert_int_equal(w.verdict.reason, UMC_REASON_CAN_ID_UNKNOWN);
}

/* ---- arguments ---- */

static void test_invalid_params_are_refused(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        struct umc_canbus *b = (struct umc_canbus *)&p;   /* must stay untouched */

        assert_int_equal(umc_canbus_new(NULL, T0, &b), -EINVAL);
        assert_int_equal(umc_canbus_new(&p, T0, NULL), -EINVAL);
        p.ifname = NULL;
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        p.ifname = "";
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        p.ifname = "a-name-longer-than-15";
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        p = params(UMC_STUFF_IGNORE);
        p.nominal_bitrate = 0;
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        p.nominal_bitrate = 1000001;
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        p = params(3);
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        p = params(UMC_STUFF_IGNORE);
        p.load.window_usec = 0;
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        p = params(UMC_STUFF_IGNORE);
        p.n_rules = 1; /* without rules */
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        p.rules = rules;
        p.min_periods = 0;
        assert_int_equal(umc_canbus_new(&p, T0, &b), -EINVAL);
        assert_ptr_equal(b, (struct umc_canbus *)&p);
}

static void test_invalid_frames_change_nothing(void **state) {
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = checked_bus();
        struct canfd_frame f = classic(0x100, 9), high = classic(0x900, 8), fd9 = classic(0x100, 9),
                           fdrtr = classic(0x100 | CAN_RTR_FLAG, 8), ok = classic(0x100, 8);
        struct umc_canbus_status st;
        struct umc_canbus_window w;

        assert_int_equal(umc_canbus_feed(NULL, &ok, false, T0), -EINVAL);
        assert_int_equal(umc_canbus_feed(b, NULL, false, T0), -EINVAL);
        /* Each is stamped past the window's end: a refused frame must not close it either. */
        assert_int_equal(umc_canbus_feed(b, &f, false, T0 + 2 * SEC), -EINVAL);
        assert_int_equal(umc_canbus_feed(b, &high, false, T0 + 2 * SEC), -EINVAL);
        assert_int_equal(umc_canbus_feed(b, &fd9, true, T0 + 2 * SEC), -EINVAL);
        assert_int_equal(umc_canbus_feed(b, &fdrtr, true, T0 + 2 * SEC), -EINVAL);
        assert_int_equal(umc_canbus_status(b, &st), 0);
        assert_int_equal(st.frames, 0);
        assert_int_equal(st.windows, 0);
        assert_int_equal(st.unknown_ids, 0);
        assert_int_equal(umc_canbus_tick(b, T0 + SEC - 1, &w), 0);
        assert_int_equal(umc_canbus_tick(NULL, T0, &w), -EINVAL);
        assert_int_equal(umc_canbus_tick(b, T0, NULL), -EINVAL);
        assert_int_equal(umc_canbus_status(b, NULL), -EINVAL);
        assert_int_equal(umc_canbus_status(NULL, &st), -EINVAL);
}

static void test_channels_are_range_checked_and_bounded(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = new_bus(&p);

        assert_int_equal(umc_canbus_add_channel(b, 0x800, 0x7E8, false), -EINVAL);
        assert_int_equal(umc_canbus_add_channel(b, 0x7E0, 0x20000000, true), -EINVAL);
        assert_int_equal(umc_canbus_add_channel(NULL, 0x7E0, 0x7E8, false), -EINVAL);
        for (unsigned i = 0; i < UMC_CANBUS_CHANNELS_MAX; i++)
                assert_int_equal(umc_canbus_add_channel(b, 0x700 + i, 0x708 + i, false), 0);
        assert_int_equal(umc_canbus_add_channel(b, 0x600, 0x608, false), -ENOSPC);
        umc_canbus_clear_channels(b);
        assert_int_equal(umc_canbus_add_channel(b, 0x600, 0x608, false), 0);
        umc_canbus_clear_channels(NULL);
        umc_canbus_free(NULL);
}

/* ---- the socket and the kernel on this CAN-less host ---- */

static void test_open_failure_leaves_the_monitor_closed(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = NULL;
        struct umc_canbus_status st;
        int s, want;

        p.ifname = "umcnocan0";
        b = new_bus(&p);
        /* Without CONFIG_CAN socket(PF_CAN) fails first; with it, the name does. */
        s = socket(PF_CAN, SOCK_RAW | SOCK_CLOEXEC, CAN_RAW);
        want = s < 0 ? -errno : -ENODEV;
        if (s >= 0)
                close(s);
        assert_true(want == -EAFNOSUPPORT || want == -ENODEV);
        assert_int_equal(umc_canbus_open(b), want);
        assert_int_equal(umc_canbus_fd(b), -EBADF);
        assert_int_equal(umc_canbus_read(b), -EBADF);
        assert_int_equal(umc_canbus_status(b, &st), 0);
        assert_false(st.open);
        assert_true(st.nominal);
        assert_int_equal(umc_canbus_open(NULL), -EINVAL);
        assert_int_equal(umc_canbus_fd(NULL), -EBADF);
}

static void test_loopback_is_no_can_controller(void **state) {
        struct umc_canbus_params p = params(UMC_STUFF_IGNORE);
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = NULL;
        struct umc_canbus_link link = { .can = true, .data_bitrate = 1 };
        struct umc_canbus_status st;

        assert_int_equal(umc_canbus_query_link("lo", &link), 0);
        assert_false(link.can);
        assert_int_equal(link.data_bitrate, 0);
        assert_int_equal(umc_canbus_query_link("umcnosuchif0", &link), -ENODEV);
        assert_int_equal(umc_canbus_query_link("", &link), -EINVAL);
        assert_int_equal(umc_canbus_query_link("lo", NULL), -EINVAL);

        p.ifname = "lo";
        b = new_bus(&p);
        assert_int_equal(umc_canbus_refresh_state(b), -ENODATA);
        assert_int_equal(umc_canbus_restart(b), -ENODATA);
        assert_int_equal(umc_canbus_status(b, &st), 0);
        assert_false(st.have_state);
}

/* A crafted RTM_NEWLINK answer: IFLA_IFNAME, IFLA_LINKINFO { KIND, DATA { ... } }. */
struct nlbuf {
        uint8_t b[512];
        size_t len;
};

static struct rtattr *put_attr(struct nlbuf *m, unsigned short type, const void *data, size_t n) {
        struct rtattr *rta = (struct rtattr *)(m->b + m->len);

        rta->rta_type = type;
        rta->rta_len = (unsigned short)RTA_LENGTH(n);
        if (n)
                memcpy(RTA_DATA(rta), data, n);
        m->len += RTA_SPACE(n);
        return rta;
}

static void end_nest(struct nlbuf *m, struct rtattr *nest) {
        nest->rta_len = (unsigned short)(m->b + m->len - (uint8_t *)nest);
}

static void build_link(struct nlbuf *m, const char *kind, uint32_t dbitrate) {
        struct nlmsghdr *nh = (struct nlmsghdr *)m->b;
        struct can_bittiming bt = { .bitrate = 500000 }, dbt = { .bitrate = dbitrate };
        struct rtattr *li, *data;

        memset(m, 0, sizeof(*m));
        nh->nlmsg_type = RTM_NEWLINK;
        m->len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        (void)put_attr(m, IFLA_IFNAME, "can0", 5);
        li = put_attr(m, IFLA_LINKINFO, NULL, 0);
        (void)put_attr(m, IFLA_INFO_KIND, kind, strlen(kind) + 1);
        data = put_attr(m, IFLA_INFO_DATA | NLA_F_NESTED, NULL, 0);
        (void)put_attr(m, IFLA_CAN_BITTIMING, &bt, sizeof(bt));
        if (dbitrate)
                (void)put_attr(m, IFLA_CAN_DATA_BITTIMING, &dbt, sizeof(dbt));
        end_nest(m, data);
        end_nest(m, li);
        nh->nlmsg_len = (uint32_t)m->len;
}

static void test_link_reply_parsing(void **state) {
        struct nlbuf m;
        struct umc_canbus_link link = {};
        struct nlmsgerr *e;

        build_link(&m, "can", 2000000);
        assert_int_equal(umc_canbus_parse_link_reply(m.b, m.len, &link), 0);
        assert_true(link.can);
        assert_int_equal(link.data_bitrate, 2000000);

        /* A classic controller: CAN, no data phase. */
        build_link(&m, "can", 0);
        assert_int_equal(umc_canbus_parse_link_reply(m.b, m.len, &link), 0);
        assert_true(link.can);
        assert_int_equal(link.data_bitrate, 0);

        /* vcan's data attributes are not CAN's: not read at all. */
        build_link(&m, "vcan", 2000000);
        assert_int_equal(umc_canbus_parse_link_reply(m.b, m.len, &link), 0);
        assert_false(link.can);
        assert_int_equal(link.data_bitrate, 0);

        /* Truncated: the buffer, or the message's own length, cut into the attributes. */
        build_link(&m, "can", 2000000);
        link.data_bitrate = 7;
        assert_int_equal(umc_canbus_parse_link_reply(m.b, m.len - 4, &link), -EPROTO);
        ((struct nlmsghdr *)m.b)->nlmsg_len -= 8;
        assert_int_equal(umc_canbus_parse_link_reply(m.b, m.len, &link), -EPROTO);
        assert_int_equal(link.data_bitrate, 7);
        assert_int_equal(umc_canbus_parse_link_reply(m.b, 8, &link), -EPROTO);

        /* The kernel's error answer carries the errno. */
        memset(&m, 0, sizeof(m));
        ((struct nlmsghdr *)m.b)->nlmsg_type = NLMSG_ERROR;
        ((struct nlmsghdr *)m.b)->nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr));
        e = NLMSG_DATA((struct nlmsghdr *)m.b);
        e->error = -ENODEV;
        assert_int_equal(umc_canbus_parse_link_reply(m.b, NLMSG_LENGTH(sizeof(*e)), &link), -ENODEV);
        e->error = 0;
        assert_int_equal(umc_canbus_parse_link_reply(m.b, NLMSG_LENGTH(sizeof(*e)), &link), -EPROTO);
        assert_int_equal(umc_canbus_parse_link_reply(NULL, 100, &link), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_classic_11_bit_frames_by_hand),
                cmocka_unit_test(test_classic_29_bit_frames_worst_case_by_hand),
                cmocka_unit_test(test_fd_brs_frames_count_data_phase_at_data_bitrate),
                cmocka_unit_test(test_classic_frame_ignores_the_flags_byte),
                cmocka_unit_test(test_remote_frame_counts_dlc_as_canbusload),
                cmocka_unit_test(test_exact_mode_counts_content),
                cmocka_unit_test(test_own_channel_bits_are_summed_apart),
                cmocka_unit_test(test_own_fd_channel_splits_by_bitrate),
                cmocka_unit_test(test_error_frames_are_not_load),
                cmocka_unit_test(test_windows_close_on_tick),
                cmocka_unit_test(test_frame_past_window_end_closes_it_for_next_tick),
                cmocka_unit_test(test_status_reports_nominal_bitrates_and_last_load),
                cmocka_unit_test(test_listed_ids_at_nominal_rate_pass),
                cmocka_unit_test(test_unlisted_id_is_reported_at_window_close),
                cmocka_unit_test(test_double_rate_is_rate_high),
                cmocka_unit_test(test_violation_survives_a_batch_of_windows),
                cmocka_unit_test(test_empty_rule_table_makes_every_id_unknown),
                cmocka_unit_test(test_invalid_params_are_refused),
                cmocka_unit_test(test_invalid_frames_change_nothing),
                cmocka_unit_test(test_channels_are_range_checked_and_bounded),
                cmocka_unit_test(test_open_failure_leaves_the_monitor_closed),
                cmocka_unit_test(test_loopback_is_no_can_controller),
                cmocka_unit_test(test_link_reply_parsing),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
