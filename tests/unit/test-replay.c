/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "umc/replay.h"
#include "umc/util.h"

/* Check, and on success record, as the session does after the tag verified. */
static enum umc_reason offer(struct umc_replay *w, uint32_t seq) {
        enum umc_reason why = (enum umc_reason)0xdead;
        int r = umc_replay_check(w, seq, &why);

        if (r == 0) {
                assert_int_equal(why, UMC_REASON_OK);
                umc_replay_update(w, seq);
        } else
                assert_int_equal(r, -EBADMSG);
        return why;
}

static void test_init_rejects_sizes_outside_1_to_max(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 0), -EINVAL);
        assert_int_equal(umc_replay_init(&w, UMC_REPLAY_WINDOW_MAX + 1), -EINVAL);
        assert_int_equal(umc_replay_init(&w, 1), 0);
        assert_int_equal(umc_replay_init(&w, UMC_REPLAY_WINDOW_MAX), 0);
        assert_false(w.any);
}

static void test_in_order_sequence_from_zero_is_accepted(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, UMC_REPLAY_WINDOW_DEFAULT), 0);
        for (uint32_t s = 0; s < 5000; s++)
                assert_int_equal(offer(&w, s), UMC_REASON_OK);
        assert_int_equal(w.top, 4999);
}

static void test_duplicate_is_replayed(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 64), 0);
        assert_int_equal(offer(&w, 0), UMC_REASON_OK);
        assert_int_equal(offer(&w, 0), UMC_REASON_REPLAYED);
        assert_int_equal(offer(&w, 1), UMC_REASON_OK);
        assert_int_equal(offer(&w, 1), UMC_REASON_REPLAYED);
        assert_int_equal(offer(&w, 0), UMC_REASON_REPLAYED);
}

static void test_check_alone_does_not_move_the_window(void **state) {
        struct umc_replay w;
        enum umc_reason why;

        assert_int_equal(umc_replay_init(&w, 64), 0);
        assert_int_equal(offer(&w, 10), UMC_REASON_OK);
        /* A forged frame is checked but never recorded: the same seq stays acceptable. */
        assert_int_equal(umc_replay_check(&w, 1000, &why), 0);
        assert_int_equal(umc_replay_check(&w, 1000, &why), 0);
        assert_int_equal(umc_replay_check(&w, 9, &why), 0);
        assert_int_equal(w.top, 10);
}

static void test_out_of_order_within_window_is_accepted_once(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 64), 0);
        assert_int_equal(offer(&w, 100), UMC_REASON_OK);
        assert_int_equal(offer(&w, 98), UMC_REASON_OK);
        assert_int_equal(offer(&w, 99), UMC_REASON_OK);
        assert_int_equal(offer(&w, 37), UMC_REASON_OK); /* 63 behind: last slot of the window */
        assert_int_equal(offer(&w, 98), UMC_REASON_REPLAYED);
        assert_int_equal(offer(&w, 37), UMC_REASON_REPLAYED);
        assert_int_equal(offer(&w, 50), UMC_REASON_OK);
}

static void test_older_than_window_is_too_old(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 64), 0);
        assert_int_equal(offer(&w, 100), UMC_REASON_OK);
        assert_int_equal(offer(&w, 36), UMC_REASON_SEQ_TOO_OLD); /* exactly 64 behind */
        assert_int_equal(offer(&w, 0), UMC_REASON_SEQ_TOO_OLD);
        assert_int_equal(offer(&w, 37), UMC_REASON_OK);
}

static void test_jump_larger_than_window_forgets_the_past(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 100), 0);
        for (uint32_t s = 0; s < 100; s++)
                assert_int_equal(offer(&w, s), UMC_REASON_OK);
        assert_int_equal(offer(&w, 1000000), UMC_REASON_OK);
        assert_int_equal(offer(&w, 99), UMC_REASON_SEQ_TOO_OLD);
        /* Inside the new window nothing was seen yet. */
        assert_int_equal(offer(&w, 1000000 - 99), UMC_REASON_OK);
        assert_int_equal(offer(&w, 1000000 - 100), UMC_REASON_SEQ_TOO_OLD);
        assert_int_equal(offer(&w, 1000000), UMC_REASON_REPLAYED);
}

static void test_jump_of_exactly_the_window_clears_every_bit(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 65), 0);
        for (uint32_t s = 0; s <= 64; s++)
                assert_int_equal(offer(&w, s), UMC_REASON_OK);
        assert_int_equal(offer(&w, 64 + 65), UMC_REASON_OK);
        for (uint32_t s = 65; s < 64 + 65; s++)
                assert_int_equal(offer(&w, s), UMC_REASON_OK);
        assert_int_equal(offer(&w, 64), UMC_REASON_SEQ_TOO_OLD);
}

static void test_first_frame_may_be_zero_or_uint32_max(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 64), 0);
        assert_int_equal(offer(&w, 0), UMC_REASON_OK);
        assert_int_equal(w.top, 0);
        assert_true(w.any);

        assert_int_equal(umc_replay_init(&w, 64), 0);
        assert_int_equal(offer(&w, UINT32_MAX), UMC_REASON_OK);
        assert_int_equal(offer(&w, UINT32_MAX), UMC_REASON_REPLAYED);
}

static void test_no_wrap_after_uint32_max(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 64), 0);
        for (uint32_t s = UINT32_MAX - 10; s != 0; s++)
                assert_int_equal(offer(&w, s), UMC_REASON_OK);
        assert_int_equal(w.top, UINT32_MAX);
        assert_int_equal(offer(&w, UINT32_MAX), UMC_REASON_REPLAYED);
        assert_int_equal(offer(&w, UINT32_MAX - 20), UMC_REASON_OK);
        assert_int_equal(offer(&w, UINT32_MAX - 63), UMC_REASON_OK);
        assert_int_equal(offer(&w, UINT32_MAX - 64), UMC_REASON_SEQ_TOO_OLD);
        /* Sequence numbers do not wrap: the sender rotates to a new key ID first. */
        assert_int_equal(offer(&w, 0), UMC_REASON_SEQ_TOO_OLD);
        assert_int_equal(offer(&w, 1), UMC_REASON_SEQ_TOO_OLD);
}

static void test_window_of_one_accepts_only_increasing(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 1), 0);
        assert_int_equal(offer(&w, 5), UMC_REASON_OK);
        assert_int_equal(offer(&w, 5), UMC_REASON_REPLAYED);
        assert_int_equal(offer(&w, 4), UMC_REASON_SEQ_TOO_OLD);
        assert_int_equal(offer(&w, 7), UMC_REASON_OK);
        assert_int_equal(offer(&w, 6), UMC_REASON_SEQ_TOO_OLD);
}

static void test_no_bits_survive_outside_the_window(void **state) {
        struct umc_replay w;

        assert_int_equal(umc_replay_init(&w, 100), 0);
        for (uint32_t s = 0; s < 1000; s += 3)
                assert_int_equal(offer(&w, s), UMC_REASON_OK);
        for (size_t i = 100; i < UMC_REPLAY_WINDOW_MAX; i++)
                assert_int_equal((w.bitmap[i / 64] >> (i % 64)) & 1, 0);
}

/*
 * Against a model that remembers every sequence number ever accepted: the
 * window must answer exactly like it for any walk (forward jumps of every
 * size, duplicates, stragglers), for window sizes that are and are not
 * multiples of 64, near 0 and near UINT32_MAX.
 */
#define SPAN (1u << 22)

static void run_against_model(unsigned size, uint32_t base, unsigned seed) {
        static uint8_t seen[SPAN];
        struct umc_replay w;
        uint32_t top = 0, pos = 0;
        unsigned n_ok = 0, n_replayed = 0, n_old = 0;
        bool any = false;

        memset(seen, 0, sizeof(seen));
        srand(seed);
        assert_int_equal(umc_replay_init(&w, size), 0);
        for (int i = 0; i < 20000; i++) {
                uint32_t rel;
                enum umc_reason want, got;
                int pick = rand() % 10;
                uint32_t back;

                if (pick < 4)
                        rel = pos + 1 + (uint32_t)rand() % 3; /* next frames */
                else if (pick < 5)
                        rel = pos + 1 + (uint32_t)rand() % (2 * size + 130); /* forward jump */
                else {
                        /* Stragglers: near the top (duplicates), or anywhere around the window's edge. */
                        back = pick < 7 ? (uint32_t)rand() % 8 : (uint32_t)rand() % (2 * size + 70);
                        rel = back <= pos ? pos - back : 0;
                }
                if (rel >= SPAN)
                        break;

                if (!any || rel > top)
                        want = UMC_REASON_OK;
                else if (top - rel >= size)
                        want = UMC_REASON_SEQ_TOO_OLD;
                else if (seen[rel])
                        want = UMC_REASON_REPLAYED;
                else
                        want = UMC_REASON_OK;

                got = offer(&w, base + rel);
                assert_int_equal(got, want);
                n_ok += want == UMC_REASON_OK;
                n_replayed += want == UMC_REASON_REPLAYED;
                n_old += want == UMC_REASON_SEQ_TOO_OLD;
                if (want == UMC_REASON_OK) {
                        seen[rel] = 1;
                        if (!any || rel > top)
                                top = rel;
                        any = true;
                }
                if (pick < 5)
                        pos = rel;
        }
        /* The walk must have exercised every answer, else it proves little. */
        assert_true(n_ok > 100 && n_replayed > 100 && n_old > 100);
}

static void test_matches_model_for_odd_window_sizes(void **state) {
        static const unsigned sizes[] = { 1, 2, 63, 64, 65, 100, 127, 128, 129, 500, 1000, 1023, 1024 };

        for (size_t i = 0; i < UMC_ELEMENTSOF(sizes); i++) {
                run_against_model(sizes[i], 0, 1000 + (unsigned)i);
                run_against_model(sizes[i], UINT32_MAX - SPAN + 1, 2000 + (unsigned)i);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_init_rejects_sizes_outside_1_to_max),
                cmocka_unit_test(test_in_order_sequence_from_zero_is_accepted),
                cmocka_unit_test(test_duplicate_is_replayed),
                cmocka_unit_test(test_check_alone_does_not_move_the_window),
                cmocka_unit_test(test_out_of_order_within_window_is_accepted_once),
                cmocka_unit_test(test_older_than_window_is_too_old),
                cmocka_unit_test(test_jump_larger_than_window_forgets_the_past),
                cmocka_unit_test(test_jump_of_exactly_the_window_clears_every_bit),
                cmocka_unit_test(test_first_frame_may_be_zero_or_uint32_max),
                cmocka_unit_test(test_no_wrap_after_uint32_max),
                cmocka_unit_test(test_window_of_one_accepts_only_increasing),
                cmocka_unit_test(test_no_bits_survive_outside_the_window),
                cmocka_unit_test(test_matches_model_for_odd_window_sizes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
