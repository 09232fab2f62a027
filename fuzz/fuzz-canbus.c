/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the CAN bus monitor: any frame another node on the
 * bus can send (and any kernel timestamp) into umc_canbus_feed(), the way
 * umc_canbus_read() passes what CAN_RAW delivers, with load windows closed
 * by umc_canbus_tick() in between. The input:
 *   byte 0       stuffing mode, bit model, ID check on/off, own channel
 *   byte 1       number of CAN ID rules (0..7), then 7 bytes per rule:
 *                ID and EFF flag (4), period in ms (2), tolerance % (1)
 *   then records of 1 + 2 + 4 + 1 + 1 bytes: what (frame classic / FD,
 *   tick, clock step back or forward), a time delta, can_id, len, flags.
 * Properties, beyond no crash under ASan/UBSan:
 *  - a refused frame changes no counter (feed checks before it counts);
 *  - every counted frame is in the status, error frames apart;
 *  - a closed window's load is finite and not negative, its own part no
 *    larger than the whole.
 */
#include <math.h>
#include <string.h>

#include "common.h"
#include "umc/canbus.h"
#include "umc/util.h"

#define T0 (UINT64_C(1700000000) * USEC_PER_SEC)

static size_t take_rules(struct fuzz_cursor *c, struct umc_canid_rule *rules, size_t max) {
        size_t n = fuzz_u8(c) % (max + 1);

        for (size_t i = 0; i < n; i++) {
                uint32_t id = fuzz_u32(c);

                rules[i].eff = id & 0x80000000u;
                rules[i].id = id & (rules[i].eff ? UMC_CANID_EFF_MAX : UMC_CANID_SFF_MAX);
                rules[i].period_usec = (uint64_t)fuzz_u16(c) * USEC_PER_MSEC;
                rules[i].tolerance_pct = fuzz_u8(c) % 101;
        }
        return n;
}

static void check_window(const struct umc_canbus_window *w) {
        CHECK(isfinite(w->percent) && w->percent >= 0);
        CHECK(isfinite(w->own_percent) && w->own_percent >= 0);
        CHECK(w->own_bits <= w->bits && w->own_frames <= w->frames);
}

static void feed(struct umc_canbus *b, struct fuzz_cursor *c, bool fd_frame, uint64_t t) {
        struct umc_canbus_status before, after;
        struct canfd_frame f = {};
        int r;

        f.can_id = fuzz_u32(c);
        f.len = fuzz_u8(c);
        f.flags = fuzz_u8(c);
        for (size_t i = 0; i < sizeof(f.data); i++)
                f.data[i] = (uint8_t)(f.can_id >> (i % 4 * 8)) ^ (uint8_t)i;
        CHECK(umc_canbus_status(b, &before) == 0);
        r = umc_canbus_feed(b, &f, fd_frame, t);
        CHECK(umc_canbus_status(b, &after) == 0);
        CHECK(r == 0 || r == -EINVAL);
        if (r < 0)
                CHECK(after.frames == before.frames && after.error_frames == before.error_frames);
        else if (f.can_id & CAN_ERR_FLAG)
                CHECK(after.error_frames == before.error_frames + 1 && after.frames == before.frames);
        else
                CHECK(after.frames == before.frames + 1 && after.error_frames == before.error_frames);
}

static void run(struct umc_canbus *b, struct fuzz_cursor *c) {
        uint64_t t = T0;

        while (c->left > 0) {
                struct umc_canbus_window w;
                uint8_t what = fuzz_u8(c);
                uint64_t dt = fuzz_u16(c);
                int r;

                switch (what % 5) {
                case 0:
                case 1:
                        t += dt;
                        feed(b, c, what % 5 == 1, t);
                        break;
                case 2:
                        t += (dt % 4096) * USEC_PER_MSEC;
                        r = umc_canbus_tick(b, t, &w);
                        CHECK(r >= 0);
                        if (r > 0)
                                check_window(&w);
                        break;
                case 3: /* the wall clock stepped back */
                        t -= t - T0 < dt * USEC_PER_MSEC ? t - T0 : dt * USEC_PER_MSEC;
                        break;
                default:
                        /*
                         * or forward, by up to 15 s, or 18 hours for dt
                         * 0xffff: the load model stops closing windows after a
                         * full history of idle ones, and many long gaps would
                         * only slow the fuzzer down
                         */
                        t += (dt == 0xffff ? 18 * 3600 : dt % 16) * USEC_PER_SEC;
                        break;
                }
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const enum umc_stuffing stuffing[] = { UMC_STUFF_IGNORE, UMC_STUFF_WORST, UMC_STUFF_EXACT };
        struct fuzz_cursor c = { data, size };
        struct umc_canid_rule rules[7];
        struct umc_canbus_params p = {
                .ifname = "vcan0",
                .nominal_bitrate = 500000,
                .nominal_data_bitrate = 2000000,
                .min_periods = UMC_CANMON_MIN_PERIODS_DEFAULT,
        };
        _cleanup_(umc_canbus_freep) struct umc_canbus *b = NULL;
        uint8_t mode = fuzz_u8(&c);

        umc_load_cfg_default(&p.load);
        p.stuffing = stuffing[(mode & 3) % 3];
        p.model = (mode >> 2) & 1 ? UMC_BITMODEL_CANBUSLOAD : UMC_BITMODEL_ISO;
        p.n_rules = take_rules(&c, rules, UMC_ELEMENTSOF(rules));
        /* Rules the table refuses (same ID twice) are the config loader's job: skip. */
        p.rules = (mode >> 3) & 1 ? rules : NULL;
        if (!p.rules)
                p.n_rules = 0;
        if (umc_canbus_new(&p, T0, &b) < 0)
                return 0;
        if ((mode >> 4) & 1)
                CHECK(umc_canbus_add_channel(b, 0x7e0, 0x7e8, false) == 0);
        run(b, &c);
        return 0;
}
