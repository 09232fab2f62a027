/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "umc/busload.h"
#include "umc/util.h"

#define SEC USEC_PER_SEC
#define MSEC USEC_PER_MSEC

static const uint8_t fd_lengths[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64 };

static const uint8_t zeros[64];

static void bits_of(const struct umc_can_frame *f, enum umc_stuffing mode, enum umc_bitmodel model,
                    unsigned *ret_total, unsigned *ret_data) {
        assert_int_equal(umc_busload_frame_bits(f, mode, model, ret_total, ret_data), 0);
}

static void assert_bits(const struct umc_can_frame *f, enum umc_stuffing mode, enum umc_bitmodel model,
                        unsigned total, unsigned data) {
        unsigned t = 0xdead, d = 0xdead;

        bits_of(f, mode, model, &t, &d);
        assert_int_equal(t, total);
        assert_int_equal(d, data);
}

static void assert_percent(double got, double want) {
        if (fabs(got - want) > 1e-9)
                fail_msg("load %.12f %%, expected %.12f %%", got, want);
}

/* ---- CRC ---------------------------------------------------------------- */

static void test_crc_check_values_of_the_can_polynomials(void **state) {
        /* The "check" of each CRC: "123456789", init 0, no reflection (CRC-15/CAN, CRC-17/CAN-FD, CRC-21/CAN-FD). */
        static const uint8_t msg[] = "123456789";
        uint32_t crc;

        assert_int_equal(umc_busload_crc(15, 0, msg, 72, &crc), 0);
        assert_int_equal(crc, 0x059E);
        assert_int_equal(umc_busload_crc(17, 0, msg, 72, &crc), 0);
        assert_int_equal(crc, 0x04F03);
        assert_int_equal(umc_busload_crc(21, 0, msg, 72, &crc), 0);
        assert_int_equal(crc, 0x0ED841);
}

static void test_crc_of_zero_bits_from_zero_is_zero_and_bad_arguments_fail(void **state) {
        uint32_t crc = 1;

        assert_int_equal(umc_busload_crc(15, 0, zeros, 100, &crc), 0);
        assert_int_equal(crc, 0);
        /* A preset register shifts through: one bit from 0x4000 gives the polynomial itself. */
        assert_int_equal(umc_busload_crc(15, 0x4000, zeros, 1, &crc), 0);
        assert_int_equal(crc, 0x4599);

        assert_int_equal(umc_busload_crc(16, 0, zeros, 8, &crc), -EINVAL);
        assert_int_equal(umc_busload_crc(15, 0x8000, zeros, 8, &crc), -EINVAL);
        assert_int_equal(umc_busload_crc(17, 0x20000, zeros, 8, &crc), -EINVAL);
        assert_int_equal(umc_busload_crc(15, 0, NULL, 8, &crc), -EINVAL);
        assert_int_equal(umc_busload_crc(15, 0, zeros, 8, NULL), -EINVAL);
}

/* ---- canbusload model ----------------------------------------------------- */

static void test_canbusload_sample_values(void **state) {
        /* can-utils canframelen.c: 11-bit 8-byte 111 / 135, 29-bit 8-byte 131 / 160, FD 64-byte BRS 562|539 / 702|673. */
        struct umc_can_frame sff = { .id = 0x123, .len = 8, .data = zeros };
        struct umc_can_frame eff = { .id = 0x1234567, .eff = true, .len = 8, .data = zeros };
        struct umc_can_frame fd = { .id = 0x123, .fd = true, .brs = true, .len = 64, .data = zeros };

        assert_bits(&sff, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD, 111, 0);
        assert_bits(&sff, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, 135, 0);
        assert_bits(&eff, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD, 131, 0);
        assert_bits(&eff, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, 160, 0);
        assert_bits(&fd, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD, 562, 539);
        assert_bits(&fd, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD, 702, 673);
}

static void test_canbusload_classic_formulas_for_every_length(void **state) {
        /* canframelen.c: ignore 47 + 8n / 67 + 8n, worst 55 + 10n / 80 + 10n; ISO agrees for data frames. */
        for (unsigned n = 0; n <= 8; n++) {
                struct umc_can_frame sff = { .id = 0x7FF, .len = (uint8_t)n, .data = zeros };
                struct umc_can_frame eff = { .id = 0x1FFFFFFF, .eff = true, .len = (uint8_t)n, .data = zeros };

                for (int m = UMC_BITMODEL_ISO; m <= UMC_BITMODEL_CANBUSLOAD; m++) {
                        assert_bits(&sff, UMC_STUFF_IGNORE, m, 47 + 8 * n, 0);
                        assert_bits(&sff, UMC_STUFF_WORST, m, 55 + 10 * n, 0);
                        assert_bits(&eff, UMC_STUFF_IGNORE, m, 67 + 8 * n, 0);
                        assert_bits(&eff, UMC_STUFF_WORST, m, 80 + 10 * n, 0);
                }
        }
}

static void test_canbusload_fd_formulas_for_every_length(void **state) {
        /*
         * canframelen.c for CAN FD: 1 + (11|29) + CRC + 5 + 12 + 8n, CRC-21 from
         * n >= 16; data phase 1 + 1 + 4 + CRC + 8n only with BRS; worst = x * 5 / 4
         * (truncated); exact = 0.
         */
        for (size_t i = 0; i < UMC_ELEMENTSOF(fd_lengths); i++) {
                unsigned n = fd_lengths[i], crc = n >= 16 ? 21 : 17;

                for (int eff = 0; eff <= 1; eff++)
                        for (int brs = 0; brs <= 1; brs++) {
                                struct umc_can_frame f = {
                                        .id = 0x55, .eff = eff, .fd = true, .brs = brs,
                                        .len = (uint8_t)n, .data = zeros,
                                };
                                unsigned total = 1 + (eff ? 29 : 11) + crc + 5 + 12 + 8 * n;
                                unsigned data = brs ? 1 + 1 + 4 + crc + 8 * n : 0;

                                assert_bits(&f, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD, total, data);
                                assert_bits(&f, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD,
                                            total * 5 / 4, data * 5 / 4);
                                assert_bits(&f, UMC_STUFF_EXACT, UMC_BITMODEL_CANBUSLOAD, 0, 0);
                        }
        }
}

static void test_remote_frame_counts_data_only_in_canbusload_model(void **state) {
        static const uint8_t dead[] = { 0xde, 0xad, 0xbe, 0xef };
        struct umc_can_frame rtr = { .id = 0x123, .rtr = true, .len = 4, .data = dead };
        struct umc_can_frame rtr_nodata = { .id = 0x123, .rtr = true, .len = 4 };
        struct umc_can_wire w;

        /* canbusload passes the DLC on as data bytes; on the wire a remote frame has none. */
        assert_bits(&rtr, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD, 47 + 32, 0);
        assert_bits(&rtr, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 47, 0);
        assert_bits(&rtr, UMC_STUFF_WORST, UMC_BITMODEL_ISO, 55, 0);
        /*
         * ISO exact, by hand: 0 | 001 0010 0011 | 1 0 0 | 0100 | CRC-15 0x4352 =
         * 100 0011 0101 0010: the longest run is the CRC's four zeros, no stuff bit.
         */
        assert_int_equal(umc_busload_frame_wire(&rtr_nodata, &w), 0);
        assert_int_equal(w.crc, 0x4352);
        assert_int_equal(w.stuff_bits, 0);
        assert_bits(&rtr_nodata, UMC_STUFF_EXACT, UMC_BITMODEL_ISO, 47, 0);
        /* canbusload's exact mode puts the 4 bytes in the bitstream, so it needs them. */
        assert_int_equal(umc_busload_frame_bits(&rtr_nodata, UMC_STUFF_EXACT, UMC_BITMODEL_CANBUSLOAD,
                                                &(unsigned){ 0 }, NULL), -EINVAL);
}

/* ---- exact mode, classic ---------------------------------------------------- */

static void test_exact_all_zero_header_without_data(void **state) {
        /*
         * ID 0x000, DLC 0: SOF..DLC are 19 zeros, so the CRC-15 (init 0) is 0 too:
         * 34 zeros, a stuff bit after zeros 5, 10, 15, 20, 25, 30 = 6.
         * 34 + 6 + 13 = 53.
         */
        struct umc_can_frame f = { .id = 0 };
        struct umc_can_wire w;

        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.crc, 0);
        assert_int_equal(w.crc_len, 15);
        assert_int_equal(w.stuff_bits, 6);
        assert_int_equal(w.total_bits, 53);
        assert_bits(&f, UMC_STUFF_EXACT, UMC_BITMODEL_CANBUSLOAD, 53, 0);
        assert_bits(&f, UMC_STUFF_EXACT, UMC_BITMODEL_ISO, 53, 0);
}

static void test_exact_zero_frame_has_many_stuff_bits(void **state) {
        /*
         * ID 0x000, 8 bytes 00: 15 zeros (SOF, ID, RTR, IDE, r0) -> 3 stuff bits;
         * DLC 1000 then 3 + 64 = 67 zeros -> 13 more; the 2 zeros left run into
         * the CRC 0x145B = 001 0100 0101 1011 (4 zeros, then a 1): 16 in all.
         * 34 + 64 + 16 + 13 = 127.
         */
        struct umc_can_frame f = { .id = 0x000, .len = 8, .data = zeros };
        struct umc_can_wire w;

        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.crc, 0x145B);
        assert_int_equal(w.stuff_bits, 16);
        assert_int_equal(w.total_bits, 127);
        assert_bits(&f, UMC_STUFF_EXACT, UMC_BITMODEL_CANBUSLOAD, 127, 0);
}

static void test_exact_alternating_frame_has_few_stuff_bits(void **state) {
        /*
         * ID 0x555, 8 bytes 55: alternating except RTR IDE r0 (000), DLC 1000 and
         * the first data bit (4 zeros). CRC 0x1B04 = 001 1011 0000 0100 holds five
         * zeros: one stuff bit. 34 + 64 + 1 + 13 = 112.
         */
        static const uint8_t d55[8] = { 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55 };
        struct umc_can_frame f = { .id = 0x555, .len = 8, .data = d55 };
        struct umc_can_wire w;

        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.crc, 0x1B04);
        assert_int_equal(w.stuff_bits, 1);
        assert_int_equal(w.total_bits, 112);
        assert_bits(&f, UMC_STUFF_EXACT, UMC_BITMODEL_CANBUSLOAD, 112, 0);
}

static void test_exact_stuff_bit_starts_the_next_run(void **state) {
        /*
         * ID 0x7FF, DLC 0: 0 | 11 ones | 0000000 | CRC 0x272F = 010 0111 0010 1111.
         * Ones 1-5 -> stuff 0; that 0 starts a run, ones 6-10 -> stuff 0; zeros
         * 1-5 -> stuff 1; nothing in the CRC reaches five: 3. 34 + 3 + 13 = 50.
         */
        struct umc_can_frame f = { .id = 0x7FF };
        struct umc_can_wire w;

        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.crc, 0x272F);
        assert_int_equal(w.stuff_bits, 3);
        assert_int_equal(w.total_bits, 50);
}

static void test_exact_extended_zero_frame(void **state) {
        /*
         * 29-bit ID 0, 8 bytes 00: SOF + base ID = 12 zeros -> 2 stuff bits; SRR
         * IDE 11; ext ID + RTR r1 r0 = 21 zeros -> 4; DLC 1000, then 3 + 64 = 67
         * zeros -> 13, two left over, then CRC 0x3DAF = 011 1101 1010 1111 (runs
         * of 3 and 4 at most): 19. 54 + 64 + 19 + 13 = 150.
         */
        struct umc_can_frame f = { .id = 0, .eff = true, .len = 8, .data = zeros };
        struct umc_can_wire w;

        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.crc, 0x3DAF);
        assert_int_equal(w.stuff_bits, 19);
        assert_int_equal(w.total_bits, 150);
        assert_bits(&f, UMC_STUFF_EXACT, UMC_BITMODEL_CANBUSLOAD, 150, 0);
}

/* ---- ISO CAN FD ----------------------------------------------------------------- */

static void test_iso_fd_formulas_by_hand(void **state) {
        /*
         * Base format: SOF 1, ID 11, RRS, IDE, FDF, res, BRS, ESI, DLC 4 = 22;
         * CRC field: fixed stuff bit + stuff count 4 + CRC + a fixed stuff bit after
         * every 4 bits = 4 + 17 + 6 = 27 (CRC-17) or 4 + 21 + 7 = 32 (CRC-21);
         * trailer 13. Data phase: BRS/CRC-delimiter pair 1 + ESI 1 + DLC 4 + data + CRC field.
         */
        struct umc_can_frame f = { .id = 0x123, .fd = true, .data = zeros };

        f.len = 8;
        assert_bits(&f, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 22 + 64 + 27 + 13, 0); /* 126 */
        /* Worst: floor((86 - 1) / 4) = 21 over SOF..data. */
        assert_bits(&f, UMC_STUFF_WORST, UMC_BITMODEL_ISO, 126 + 21, 0);
        f.brs = true;
        assert_bits(&f, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 126, 6 + 64 + 27); /* 97 */
        /* 3 of the 21 fall in SOF..res (16 bits: floor(15 / 4)). */
        assert_bits(&f, UMC_STUFF_WORST, UMC_BITMODEL_ISO, 147, 97 + 18);

        /* 16 bytes: still CRC-17 in ISO (canbusload switches to CRC-21 here). */
        f.len = 16;
        assert_bits(&f, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 22 + 128 + 27 + 13, 6 + 128 + 27);
        f.len = 20;
        assert_bits(&f, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 22 + 160 + 32 + 13, 6 + 160 + 32);

        /* 64 bytes, BRS: 579 | 550, worst + floor(533 / 4) = 133, of which 133 - 3 in data. */
        f.len = 64;
        assert_bits(&f, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 579, 550);
        assert_bits(&f, UMC_STUFF_WORST, UMC_BITMODEL_ISO, 712, 680);

        /* Extended: + SRR, IDE, 18 ID bits = 41 before data; SOF..res is 35 bits (8 stuff at most). */
        f.eff = true;
        f.len = 8;
        assert_bits(&f, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 41 + 64 + 27 + 13, 97);
        assert_bits(&f, UMC_STUFF_WORST, UMC_BITMODEL_ISO, 145 + 26, 97 + 18);
}

static void test_iso_fd_exact_zero_frame(void **state) {
        /*
         * ID 0x000, 64 x 00, BRS: SOF, ID, RRS, IDE = 14 zeros -> stuff after 5
         * and 10 (both before BRS); then FDF 1 res 0 BRS 1 ESI 0 DLC 1111 and 512
         * zeros -> 512 / 5 = 102 in the data phase. 104 mod 8 = 0: stuff count
         * 000, parity 0. 579 + 104 = 683; data 550 + 102 = 652.
         */
        struct umc_can_frame f = { .id = 0, .fd = true, .brs = true, .len = 64, .data = zeros };
        struct umc_can_wire w;

        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.stuff_bits, 104);
        assert_int_equal(w.stuff_bits_data, 102);
        assert_int_equal(w.stuff_count, 0);
        assert_int_equal(w.crc_len, 21);
        assert_int_equal(w.fixed_stuff_bits, 7);
        assert_int_equal(w.total_bits, 683);
        assert_int_equal(w.data_bits, 652);
        assert_int_equal(w.crc, 0x17B97B);
        assert_bits(&f, UMC_STUFF_EXACT, UMC_BITMODEL_ISO, 683, 652);
}

static void test_iso_fd_exact_stuff_count_is_gray_coded_with_parity(void **state) {
        /*
         * ID 0x000, 8 x 00, no BRS: 2 stuff bits in the first 14 zeros; res BRS ESI
         * are 000, DLC 1000, then 3 + 64 = 67 zeros -> 13: 15 in all. 15 mod 8 = 7:
         * Gray 100, parity 1 -> 1001. 126 + 15 = 141.
         */
        struct umc_can_frame f = { .id = 0, .fd = true, .len = 8, .data = zeros };
        struct umc_can_wire w;

        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.stuff_bits, 15);
        assert_int_equal(w.stuff_count, 0x9);
        assert_int_equal(w.crc_len, 17);
        assert_int_equal(w.fixed_stuff_bits, 6);
        assert_int_equal(w.total_bits, 141);
        assert_int_equal(w.data_bits, 0);
        assert_int_equal(w.crc, 0x11F11);
}

static void test_iso_fd_no_dynamic_stuff_bit_after_last_data_bit(void **state) {
        /*
         * ID 0x555, 1 byte 0x1F: ...1 | RRS IDE 00 | FDF 1 | res BRS ESI 000 DLC 0001
         * gives zeros res..DLC2 -> one stuff bit; the data 000 11111 ends in five
         * ones, but the fixed stuff bit before the stuff count replaces that stuff
         * bit (ISO 11898-1:2015 10.5) and it is not counted: 1, count 001 parity 1.
         */
        static const uint8_t d[] = { 0x1F };
        struct umc_can_frame f = { .id = 0x555, .fd = true, .len = 1, .data = d };
        struct umc_can_wire w;

        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.stuff_bits, 1);
        assert_int_equal(w.stuff_count, 0x3);
        assert_int_equal(w.total_bits, 22 + 8 + 27 + 13 + 1);
}

static void test_iso_fd_alternating_frame_has_no_stuff_bits(void **state) {
        static uint8_t d55[64];
        struct umc_can_frame f = { .id = 0x555, .fd = true, .brs = true, .len = 64, .data = d55 };
        struct umc_can_wire w;

        memset(d55, 0x55, sizeof(d55));
        assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
        assert_int_equal(w.stuff_bits, 0);
        assert_int_equal(w.total_bits, 579);
        assert_int_equal(w.data_bits, 550);
}

/* A small deterministic generator, so the property test below is reproducible. */
static uint32_t lcg(uint32_t *s) {
        *s = *s * 1103515245u + 12345u;
        return *s >> 8;
}

static void test_exact_lies_between_ignore_and_worst(void **state) {
        uint8_t data[64];
        uint32_t seed = 42;

        for (unsigned i = 0; i < 5000; i++) {
                struct umc_can_frame f = { .eff = lcg(&seed) & 1, .fd = lcg(&seed) & 1, .data = data };
                unsigned ti, di, te, de, tw, dw, pattern = lcg(&seed) % 3;
                struct umc_can_wire w;

                f.id = lcg(&seed) & (f.eff ? 0x1FFFFFFF : 0x7FF);
                if (f.fd) {
                        f.len = fd_lengths[lcg(&seed) % UMC_ELEMENTSOF(fd_lengths)];
                        f.brs = lcg(&seed) & 1;
                } else
                        f.len = lcg(&seed) % 9;
                for (unsigned j = 0; j < f.len; j++)
                        data[j] = pattern == 0 ? 0 : pattern == 1 ? 0xFF : (uint8_t)lcg(&seed);

                bits_of(&f, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, &ti, &di);
                bits_of(&f, UMC_STUFF_EXACT, UMC_BITMODEL_ISO, &te, &de);
                bits_of(&f, UMC_STUFF_WORST, UMC_BITMODEL_ISO, &tw, &dw);
                assert_int_equal(umc_busload_frame_wire(&f, &w), 0);
                assert_true(ti <= te && te <= tw);
                assert_true(di <= de && de <= dw);
                assert_true(te - de >= ti - di && te - de <= tw - dw);
                assert_int_equal(te - ti, w.stuff_bits);
                assert_int_equal(de - di, w.stuff_bits_data);
                if (!f.fd) {
                        unsigned tc, dc;

                        bits_of(&f, UMC_STUFF_EXACT, UMC_BITMODEL_CANBUSLOAD, &tc, &dc);
                        assert_int_equal(tc, te);
                }
        }
}

static void test_invalid_frames_are_rejected(void **state) {
        static const struct umc_can_frame bad[] = {
                { .id = 0x800 },
                { .id = 0x20000000, .eff = true },
                { .id = 1, .len = 9, .data = zeros },
                { .id = 1, .fd = true, .len = 9, .data = zeros },
                { .id = 1, .fd = true, .len = 13, .data = zeros },
                { .id = 1, .fd = true, .len = 65, .data = zeros },
                { .id = 1, .fd = true, .rtr = true },
                { .id = 1, .brs = true },
        };
        struct umc_can_frame ok = { .id = 1, .len = 8 };
        struct umc_can_wire w;
        unsigned t = 7, d = 7;

        for (size_t i = 0; i < UMC_ELEMENTSOF(bad); i++) {
                for (int m = UMC_STUFF_IGNORE; m <= UMC_STUFF_EXACT; m++)
                        assert_int_equal(umc_busload_frame_bits(&bad[i], m, UMC_BITMODEL_ISO, &t, &d), -EINVAL);
                assert_int_equal(umc_busload_frame_wire(&bad[i], &w), -EINVAL);
        }
        /* Exact mode needs the data; the formulas do not. */
        assert_int_equal(umc_busload_frame_bits(&ok, UMC_STUFF_EXACT, UMC_BITMODEL_ISO, &t, &d), -EINVAL);
        assert_int_equal(umc_busload_frame_bits(&ok, UMC_STUFF_EXACT, UMC_BITMODEL_CANBUSLOAD, &t, &d), -EINVAL);
        assert_int_equal(umc_busload_frame_wire(&ok, &w), -EINVAL);
        assert_int_equal(umc_busload_frame_bits(&ok, (enum umc_stuffing)3, UMC_BITMODEL_ISO, &t, &d), -EINVAL);
        assert_int_equal(umc_busload_frame_bits(&ok, UMC_STUFF_IGNORE, (enum umc_bitmodel)2, &t, &d), -EINVAL);
        assert_int_equal(umc_busload_frame_bits(NULL, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, &t, &d), -EINVAL);
        assert_int_equal(umc_busload_frame_bits(&ok, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, NULL, &d), -EINVAL);
        /* Nothing was written on failure. */
        assert_int_equal(t, 7);
        assert_int_equal(d, 7);
        assert_int_equal(umc_busload_frame_bits(&ok, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, &t, NULL), 0);
        assert_int_equal(t, 111);
}

/* ---- windowed load ------------------------------------------------------------- */

static const struct umc_can_frame std8 = { .id = 0x100, .len = 8, .data = zeros }; /* 111 bits ignoring stuffing */

/* n frames spread evenly over [start, start + len). */
static void feed(struct umc_busload *b, const struct umc_can_frame *f, unsigned n, uint64_t start, uint64_t len) {
        for (unsigned i = 0; i < n; i++)
                assert_int_equal(umc_busload_add_frame(b, f, start + len * i / n), 0);
}

/* One window of n std8 frames from b->window_start, then close it; returns its class. */
static enum umc_load_class window_of(struct umc_busload *b, unsigned n) {
        uint64_t start = b->window_start;

        feed(b, &std8, n, start, b->cfg.window_usec);
        assert_int_equal(umc_busload_tick(b, start + b->cfg.window_usec), 1);
        return umc_busload_class(b);
}

static void init_can(struct umc_busload *b, uint64_t bitrate, uint64_t data_bitrate, enum umc_stuffing mode,
                     enum umc_bitmodel model) {
        struct umc_load_cfg cfg;

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_can(b, &cfg, bitrate, data_bitrate, mode, model, 5 * SEC), 0);
}

static void test_steady_stream_load(void **state) {
        struct umc_busload b;

        /* 1000 frames/s x 111 bits at 500 kbit/s = 111000 / 500000 = 22.2 %. */
        init_can(&b, 500000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD);
        for (unsigned s = 0; s < 5; s++) {
                assert_int_equal(window_of(&b, 1000), UMC_LOAD_NORMAL);
                assert_percent(umc_busload_percent(&b), 22.2);
        }
        assert_int_equal(b.n_windows, 5);

        /* Worst case: 135 bits -> 27 %. */
        init_can(&b, 500000, 0, UMC_STUFF_WORST, UMC_BITMODEL_CANBUSLOAD);
        window_of(&b, 1000);
        assert_percent(umc_busload_percent(&b), 27.0);
}

static void test_window_length_scales_to_bits_per_second(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload b;

        /* 100 frames in 100 ms is still 1000 frames/s: 22.2 %. */
        umc_load_cfg_default(&cfg);
        cfg.window_usec = 100 * MSEC;
        cfg.mutation_window_usec = 3 * SEC;
        assert_int_equal(umc_busload_init_can(&b, &cfg, 500000, 0, UMC_STUFF_IGNORE,
                                              UMC_BITMODEL_ISO, 0), 0);
        window_of(&b, 100);
        assert_percent(umc_busload_percent(&b), 22.2);

        /* 5 s windows: 5000 frames. */
        cfg.window_usec = 5 * SEC;
        cfg.mutation_window_usec = 30 * SEC;
        assert_int_equal(umc_busload_init_can(&b, &cfg, 500000, 0, UMC_STUFF_IGNORE,
                                              UMC_BITMODEL_ISO, 0), 0);
        window_of(&b, 5000);
        assert_percent(umc_busload_percent(&b), 22.2);
}

static void test_fd_data_phase_counts_at_data_bitrate(void **state) {
        struct umc_can_frame fd = { .id = 0x123, .fd = true, .brs = true, .len = 64, .data = zeros };
        struct umc_busload b;

        /* canbusload, ignore: 562 bits of which 539 at 2 Mbit/s. 100 frames: 2300 / 500k + 53900 / 2M. */
        init_can(&b, 500000, 2000000, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD);
        feed(&b, &fd, 100, b.window_start, SEC);
        assert_int_equal(b.arb_bits, 2300);
        assert_int_equal(b.data_bits, 53900);
        assert_int_equal(umc_busload_tick(&b, b.window_start + SEC), 1);
        assert_percent(umc_busload_percent(&b), 0.46 + 2.695);

        /* Without a data bitrate the data phase runs at the nominal rate. */
        init_can(&b, 500000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_CANBUSLOAD);
        assert_int_equal(b.data_bitrate, 500000);
        feed(&b, &fd, 100, b.window_start, SEC);
        assert_int_equal(umc_busload_tick(&b, b.window_start + SEC), 1);
        assert_percent(umc_busload_percent(&b), 11.24);
}

static void test_idle_windows_close_at_zero(void **state) {
        struct umc_busload b;
        uint64_t t0;

        init_can(&b, 500000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO);
        t0 = b.window_start;
        window_of(&b, 1000);
        assert_percent(umc_busload_percent(&b), 22.2);

        /* Nothing before the end of a window closes it. */
        assert_int_equal(umc_busload_tick(&b, t0 + 2 * SEC - 1), 0);
        assert_int_equal(umc_busload_tick(&b, t0 + 4 * SEC), 3);
        assert_percent(umc_busload_percent(&b), 0.0);
        assert_int_equal(umc_busload_class(&b), UMC_LOAD_NORMAL);
        assert_int_equal(b.n_windows, 4);
        assert_int_equal(b.window_start, t0 + 4 * SEC);
        assert_int_equal(b.history.n, 4);
        assert_percent(b.history.v[0], 22.2);
        assert_percent(b.history.v[3], 0.0);
}

static void test_frame_closes_windows_before_it(void **state) {
        struct umc_busload b;
        uint64_t t0;

        init_can(&b, 500000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO);
        t0 = b.window_start;
        feed(&b, &std8, 1000, t0, SEC);
        /* A frame exactly at the end belongs to the next window, which it does not close. */
        assert_int_equal(umc_busload_add_frame(&b, &std8, t0 + SEC), 0);
        assert_int_equal(b.n_windows, 1);
        assert_percent(umc_busload_percent(&b), 22.2);
        assert_int_equal(b.arb_bits, 111);
        /* 2.5 s later: the window with one frame and an idle one close. */
        assert_int_equal(umc_busload_add_frame(&b, &std8, t0 + 3 * SEC + SEC / 2), 0);
        assert_int_equal(b.n_windows, 3);
        assert_percent(b.history.v[1], 111 * 100.0 / 500000);
        assert_percent(umc_busload_percent(&b), 0.0);
        assert_int_equal(b.window_start, t0 + 3 * SEC);
}

static void test_late_frame_counts_in_open_window(void **state) {
        struct umc_busload b;
        uint64_t t0;

        init_can(&b, 500000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO);
        t0 = b.window_start;
        assert_int_equal(umc_busload_tick(&b, t0 + SEC), 1);
        /* Stamped in the window the tick already closed: it used the bus, count it now. */
        assert_int_equal(umc_busload_add_frame(&b, &std8, t0 + SEC - 1), 0);
        assert_int_equal(b.arb_bits, 111);
        assert_int_equal(b.n_windows, 1);
}

static void test_long_gap_closes_every_window(void **state) {
        struct umc_busload b;
        uint64_t t0;

        init_can(&b, 500000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO);
        t0 = b.window_start;
        window_of(&b, 1000);
        /* A day of silence: 86400 windows, most of them skipped, none lost from the count. */
        assert_int_equal(umc_busload_tick(&b, t0 + 86401 * SEC + 7), 86400);
        assert_int_equal(b.n_windows, 86401);
        assert_int_equal(b.window_start, t0 + 86401 * SEC);
        assert_int_equal(b.history.n, UMC_LOAD_HISTORY_MAX);
        for (size_t i = 0; i < UMC_LOAD_HISTORY_MAX; i++)
                assert_percent(b.history.v[i], 0.0);
        /* And a burst right after is judged against that silence. */
        assert_int_equal(window_of(&b, 1000), UMC_LOAD_MUTATION);
}

static void test_doubling_is_mutation_until_it_leaves_the_window(void **state) {
        struct umc_busload b;

        /* 444000 bit/s: 1000 frames of 111 bits = 25 %, 2000 = 50 %. */
        init_can(&b, 444000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO);
        for (unsigned i = 0; i < 3; i++)
                window_of(&b, 1000);
        assert_percent(umc_busload_percent(&b), 25.0);
        assert_int_equal(umc_busload_class(&b), UMC_LOAD_NORMAL);

        assert_int_equal(window_of(&b, 2000), UMC_LOAD_MUTATION);
        assert_percent(umc_busload_percent(&b), 50.0);
        /* The 25 % windows stay in the 30 s mutation window for 29 more windows. */
        for (unsigned i = 0; i < 29; i++)
                assert_int_equal(window_of(&b, 2000), UMC_LOAD_MUTATION);
        assert_int_equal(window_of(&b, 2000), UMC_LOAD_NORMAL);
}

static void test_less_than_double_is_not_mutation(void **state) {
        struct umc_busload b;

        init_can(&b, 444000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO);
        window_of(&b, 1000);                                 /* 25 % */
        assert_int_equal(window_of(&b, 1999), UMC_LOAD_NORMAL); /* 49.975 % */
}

static void test_small_doubling_below_min_delta_is_not_mutation(void **state) {
        struct umc_busload b;

        /* 0.5 % = 20 frames, 1.2 % = 48 frames at 444000 bit/s: x2.4 but only 0.7 points. */
        init_can(&b, 444000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO);
        assert_int_equal(window_of(&b, 20), UMC_LOAD_NORMAL);
        assert_percent(umc_busload_percent(&b), 0.5);
        assert_int_equal(window_of(&b, 48), UMC_LOAD_NORMAL);
        assert_percent(umc_busload_percent(&b), 1.2);
        /* 0.5 % -> 5.5 %: exactly 5 points, counted. */
        assert_int_equal(window_of(&b, 220), UMC_LOAD_MUTATION);
}

static void test_abnormal_above_threshold_then_normal(void **state) {
        struct umc_busload b;

        init_can(&b, 444000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO);
        window_of(&b, 2000); /* 50 % */
        /* Exactly 80 % is not above the threshold (and not double 50 %). */
        assert_int_equal(window_of(&b, 3200), UMC_LOAD_NORMAL);
        assert_percent(umc_busload_percent(&b), 80.0);
        assert_int_equal(window_of(&b, 3201), UMC_LOAD_ABNORMAL);
        assert_int_equal(window_of(&b, 4000), UMC_LOAD_ABNORMAL); /* 100 % */
        assert_int_equal(window_of(&b, 2000), UMC_LOAD_NORMAL);
        assert_percent(umc_busload_percent(&b), 50.0);
}

static void test_ethernet_counters(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload b;
        uint64_t t0 = 10 * SEC;

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_link(&b, &cfg, 100000000, t0), 0);
        /* The first reading is only a baseline, however large. */
        assert_int_equal(umc_busload_add_link_counters(&b, 5000000000, 9000000, t0), 0);
        assert_int_equal(b.arb_bits, 0);
        /* 1 MB in 1000 packets in 1 s: (1000000 + 24 * 1000) * 8 = 8192000 bits of 100 Mbit/s. */
        assert_int_equal(umc_busload_add_link_counters(&b, 5001000000, 9001000, t0 + SEC), 0);
        assert_int_equal(umc_busload_tick(&b, t0 + SEC), 0); /* the sample at the end closed it */
        assert_int_equal(b.n_windows, 1);
        assert_percent(umc_busload_percent(&b), 8.192);
}

static void test_ethernet_samples_are_spread_over_windows_by_time(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload b;
        uint64_t t0 = 0;

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_link(&b, &cfg, 8000000, t0), 0);
        assert_int_equal(umc_busload_add_link_counters(&b, 0, 0, t0 + SEC / 2), 0);
        /* 2 s worth of 100000 bytes/s read 2 s later: half of it belongs to window 1. */
        assert_int_equal(umc_busload_add_link_counters(&b, 200000, 0, t0 + 2 * SEC + SEC / 2), 0);
        assert_int_equal(b.n_windows, 2);
        assert_percent(b.history.v[0], 5.0);  /* 0.5 s of 800 kbit/s of 8 Mbit/s */
        assert_percent(b.history.v[1], 10.0);
        assert_int_equal(b.arb_bits, 400000);
}

static void test_ethernet_counter_wrap_is_counted_across(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload b;
        uint64_t t = 0, bytes = UINT32_MAX - 350000, packets = UINT32_MAX - 5;

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_link(&b, &cfg, 8000000, t), 0);
        assert_int_equal(umc_busload_add_link_counters(&b, bytes, packets, t), 0);
        for (unsigned i = 0; i < 3; i++) {
                bytes += 97600;
                packets += 100;
                t += SEC;
                /* (97600 + 24 * 100) * 8 = 800000 bits of 8 Mbit/s. */
                assert_int_equal(umc_busload_add_link_counters(&b, bytes & UINT32_MAX, packets & UINT32_MAX, t), 0);
                assert_percent(umc_busload_percent(&b), 10.0);
                assert_int_equal(umc_busload_class(&b), UMC_LOAD_NORMAL);
        }
        /* Both 32-bit counters wrapped in the first step; now the bytes do too. */
        bytes += 97600;
        packets += 100;
        t += SEC;
        assert_true((bytes & UINT32_MAX) < 100000);
        assert_int_equal(umc_busload_add_link_counters(&b, bytes & UINT32_MAX, packets & UINT32_MAX, t), 0);
        assert_percent(umc_busload_percent(&b), 10.0);
        assert_int_equal(umc_busload_class(&b), UMC_LOAD_NORMAL);
}

static void test_ethernet_reset_counts_from_zero_without_spike(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload b;
        uint64_t t = 0, bytes = UINT64_C(5000000000000), packets = UINT64_C(4000000000);

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_link(&b, &cfg, 8000000, t), 0);
        assert_int_equal(umc_busload_add_link_counters(&b, bytes, packets, t), 0);
        bytes += 97600;
        packets += 100;
        t += SEC;
        assert_int_equal(umc_busload_add_link_counters(&b, bytes, packets, t), 0);
        assert_percent(umc_busload_percent(&b), 10.0);

        /* Interface reset: 64-bit counters restart; 1500 bytes in 1 packet since then. */
        t += SEC;
        assert_int_equal(umc_busload_add_link_counters(&b, 1500, 1, t), 0);
        assert_percent(umc_busload_percent(&b), (1500 + 24) * 8 * 100.0 / 8000000);
        assert_int_equal(umc_busload_class(&b), UMC_LOAD_NORMAL);
        t += SEC;
        assert_int_equal(umc_busload_add_link_counters(&b, 1500 + 97600, 101, t), 0);
        assert_percent(umc_busload_percent(&b), 10.0);
}

static void test_ethernet_implausible_backwards_counter_rebases(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload b;

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_link(&b, &cfg, 8000000, 0), 0);
        assert_int_equal(umc_busload_add_link_counters(&b, UINT64_C(1000000000000), 0, 0), 0);
        /* Neither a 32-bit wrap nor 500 GB since a reset fits 8 Mbit/s for 1 s: count nothing. */
        assert_int_equal(umc_busload_add_link_counters(&b, UINT64_C(500000000000), 0, SEC), 0);
        assert_int_equal(b.n_windows, 1);
        assert_percent(umc_busload_percent(&b), 0.0);
        assert_int_equal(b.last_bytes, UINT64_C(500000000000));
        /* Counting resumes from the new value. */
        assert_int_equal(umc_busload_add_link_counters(&b, UINT64_C(500000100000), 0, 2 * SEC), 0);
        assert_percent(umc_busload_percent(&b), 10.0);
}

static void test_ethernet_gap_longer_than_history_rebases(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload b;

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_link(&b, &cfg, 8000000, 0), 0);
        assert_int_equal(umc_busload_add_link_counters(&b, 0, 0, 0), 0);
        assert_int_equal(umc_busload_add_link_counters(&b, 100000000, 0, 700 * SEC), 0);
        assert_int_equal(b.n_windows, 700);
        assert_int_equal(b.arb_bits, 0);
        assert_percent(umc_busload_percent(&b), 0.0);
}

static void test_frames_and_counters_go_to_their_own_kind(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload can, eth;

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_can(&can, &cfg, 500000, 0, UMC_STUFF_EXACT, UMC_BITMODEL_ISO, 0), 0);
        assert_int_equal(umc_busload_init_link(&eth, &cfg, 1000000000, 0), 0);
        assert_int_equal(umc_busload_add_link_counters(&can, 1, 1, 1), -EINVAL);
        assert_int_equal(umc_busload_add_frame(&eth, &std8, 1), -EINVAL);
        assert_int_equal(umc_busload_add_link_counters(&eth, 100, UINT64_MAX / 24, 1), -ERANGE);
        assert_false(eth.have_counter);
        /* An invalid frame changes nothing, not even the windows. */
        assert_int_equal(umc_busload_add_frame(&can, &(struct umc_can_frame){ .id = 0x800 }, 5 * SEC), -EINVAL);
        assert_int_equal(umc_busload_add_frame(&can, &(struct umc_can_frame){ .id = 1, .len = 1 }, 5 * SEC), -EINVAL);
        assert_int_equal(can.n_windows, 0);
        assert_int_equal(umc_busload_add_frame(NULL, &std8, 1), -EINVAL);
        assert_int_equal(umc_busload_tick(NULL, 1), -EINVAL);
}

static void test_config_validation(void **state) {
        struct umc_load_cfg cfg;
        struct umc_busload b;

        umc_load_cfg_default(&cfg);
        assert_int_equal(cfg.window_usec, SEC);
        assert_int_equal(cfg.mutation_window_usec, 30 * SEC);
        assert_true(cfg.mutation_factor == 2.0);
        assert_true(cfg.mutation_min_delta == 5.0);
        assert_true(cfg.abnormal_percent == 80.0);
        assert_int_equal(umc_load_cfg_validate(&cfg), 0);
        assert_int_equal(umc_load_cfg_validate(NULL), -EINVAL);

#define BAD(field, value)                                                        \
        do {                                                                     \
                umc_load_cfg_default(&cfg);                                      \
                cfg.field = (value);                                             \
                assert_int_equal(umc_load_cfg_validate(&cfg), -EINVAL);          \
        } while (0)
        BAD(window_usec, 0);
        BAD(mutation_window_usec, 0);
        BAD(mutation_window_usec, SEC - 1);
        BAD(mutation_window_usec, (UMC_LOAD_HISTORY_MAX + 1) * SEC);
        BAD(mutation_factor, 1.0);
        BAD(mutation_factor, 0.5);
        BAD(mutation_factor, NAN);
        BAD(mutation_factor, INFINITY);
        BAD(mutation_min_delta, 0.0);
        BAD(mutation_min_delta, -1.0);
        BAD(mutation_min_delta, NAN);
        BAD(abnormal_percent, 0.0);
        BAD(abnormal_percent, 1000.5);
        BAD(abnormal_percent, NAN);
#undef BAD

        umc_load_cfg_default(&cfg);
        cfg.mutation_window_usec = UMC_LOAD_HISTORY_MAX * SEC;
        cfg.abnormal_percent = 1000.0;
        assert_int_equal(umc_load_cfg_validate(&cfg), 0);
        cfg.mutation_window_usec = SEC;
        assert_int_equal(umc_load_cfg_validate(&cfg), 0);

        umc_load_cfg_default(&cfg);
        assert_int_equal(umc_busload_init_can(&b, &cfg, 0, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 0), -EINVAL);
        assert_int_equal(umc_busload_init_can(&b, &cfg, 1000001, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 0), -EINVAL);
        assert_int_equal(umc_busload_init_can(&b, &cfg, 500000, 8000001, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 0), -EINVAL);
        assert_int_equal(umc_busload_init_can(&b, &cfg, 500000, 0, (enum umc_stuffing)3, UMC_BITMODEL_ISO, 0), -EINVAL);
        assert_int_equal(umc_busload_init_can(&b, &cfg, 500000, 0, UMC_STUFF_IGNORE, (enum umc_bitmodel)2, 0), -EINVAL);
        assert_int_equal(umc_busload_init_can(&b, NULL, 500000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 0), -EINVAL);
        assert_int_equal(umc_busload_init_can(NULL, &cfg, 500000, 0, UMC_STUFF_IGNORE, UMC_BITMODEL_ISO, 0), -EINVAL);
        assert_int_equal(umc_busload_init_can(&b, &cfg, 1000000, 8000000, UMC_STUFF_EXACT, UMC_BITMODEL_ISO, 0), 0);
        assert_int_equal(umc_busload_init_link(&b, &cfg, 0, 0), -EINVAL);
        cfg.window_usec = 0;
        assert_int_equal(umc_busload_init_link(&b, &cfg, 100000000, 0), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_crc_check_values_of_the_can_polynomials),
                cmocka_unit_test(test_crc_of_zero_bits_from_zero_is_zero_and_bad_arguments_fail),
                cmocka_unit_test(test_canbusload_sample_values),
                cmocka_unit_test(test_canbusload_classic_formulas_for_every_length),
                cmocka_unit_test(test_canbusload_fd_formulas_for_every_length),
                cmocka_unit_test(test_remote_frame_counts_data_only_in_canbusload_model),
                cmocka_unit_test(test_exact_all_zero_header_without_data),
                cmocka_unit_test(test_exact_zero_frame_has_many_stuff_bits),
                cmocka_unit_test(test_exact_alternating_frame_has_few_stuff_bits),
                cmocka_unit_test(test_exact_stuff_bit_starts_the_next_run),
                cmocka_unit_test(test_exact_extended_zero_frame),
                cmocka_unit_test(test_iso_fd_formulas_by_hand),
                cmocka_unit_test(test_iso_fd_exact_zero_frame),
                cmocka_unit_test(test_iso_fd_exact_stuff_count_is_gray_coded_with_parity),
                cmocka_unit_test(test_iso_fd_no_dynamic_stuff_bit_after_last_data_bit),
                cmocka_unit_test(test_iso_fd_alternating_frame_has_no_stuff_bits),
                cmocka_unit_test(test_exact_lies_between_ignore_and_worst),
                cmocka_unit_test(test_invalid_frames_are_rejected),
                cmocka_unit_test(test_steady_stream_load),
                cmocka_unit_test(test_window_length_scales_to_bits_per_second),
                cmocka_unit_test(test_fd_data_phase_counts_at_data_bitrate),
                cmocka_unit_test(test_idle_windows_close_at_zero),
                cmocka_unit_test(test_frame_closes_windows_before_it),
                cmocka_unit_test(test_late_frame_counts_in_open_window),
                cmocka_unit_test(test_long_gap_closes_every_window),
                cmocka_unit_test(test_doubling_is_mutation_until_it_leaves_the_window),
                cmocka_unit_test(test_less_than_double_is_not_mutation),
                cmocka_unit_test(test_small_doubling_below_min_delta_is_not_mutation),
                cmocka_unit_test(test_abnormal_above_threshold_then_normal),
                cmocka_unit_test(test_ethernet_counters),
                cmocka_unit_test(test_ethernet_samples_are_spread_over_windows_by_time),
                cmocka_unit_test(test_ethernet_counter_wrap_is_counted_across),
                cmocka_unit_test(test_ethernet_reset_counts_from_zero_without_spike),
                cmocka_unit_test(test_ethernet_implausible_backwards_counter_rebases),
                cmocka_unit_test(test_ethernet_gap_longer_than_history_rebases),
                cmocka_unit_test(test_frames_and_counters_go_to_their_own_kind),
                cmocka_unit_test(test_config_validation),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
