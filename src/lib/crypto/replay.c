/* SPDX-License-Identifier: MIT */
#include "umc/replay.h"

#include "umc/util.h"

#define WORDS UMC_ELEMENTSOF(((struct umc_replay *)0)->bitmap)

int umc_replay_init(struct umc_replay *w, unsigned size) {
        if (!w || size < 1 || size > UMC_REPLAY_WINDOW_MAX)
                return -EINVAL;
        *w = (struct umc_replay){ .size = size };
        return 0;
}

static bool bit_test(const struct umc_replay *w, uint32_t i) {
        return (w->bitmap[i / 64] >> (i % 64)) & 1;
}

static void bit_set(struct umc_replay *w, uint32_t i) {
        w->bitmap[i / 64] |= UINT64_C(1) << (i % 64);
}

/* Clear bits at and above w->size so that only the window's bits are ever set. */
static void mask_to_size(struct umc_replay *w) {
        size_t full = w->size / 64;
        unsigned rest = w->size % 64;

        if (rest) {
                w->bitmap[full] &= (UINT64_C(1) << rest) - 1;
                full++;
        }
        for (size_t i = full; i < WORDS; i++)
                w->bitmap[i] = 0;
}

/* Bit i moves to bit i + n (the top advanced by n, 0 < n < size). */
static void shift_up(struct umc_replay *w, uint32_t n) {
        size_t words = n / 64;
        unsigned bits = n % 64;

        for (size_t j = WORDS; j-- > 0;) {
                uint64_t v = 0;

                if (j >= words) {
                        v = w->bitmap[j - words] << bits;
                        if (bits && j >= words + 1)
                                v |= w->bitmap[j - words - 1] >> (64 - bits);
                }
                w->bitmap[j] = v;
        }
        mask_to_size(w);
}

static int reject(enum umc_reason why, enum umc_reason *ret_reason) {
        if (ret_reason)
                *ret_reason = why;
        return -EBADMSG;
}

int umc_replay_check(const struct umc_replay *w, uint32_t seq, enum umc_reason *ret_reason) {
        uint32_t behind;

        if (!w || w->size < 1 || w->size > UMC_REPLAY_WINDOW_MAX)
                return -EINVAL;
        /*
         * RFC 4303 section 3.4.3: right of the window (newer) is always fine;
         * inside it, only if not seen; left of it, never. Sequence numbers do
         * not wrap: the sender changes key ID first (docs/protocol.md).
         */
        if (!w->any || seq > w->top)
                goto ok;
        behind = w->top - seq;
        if (behind >= w->size)
                return reject(UMC_REASON_SEQ_TOO_OLD, ret_reason);
        if (bit_test(w, behind))
                return reject(UMC_REASON_REPLAYED, ret_reason);
ok:
        if (ret_reason)
                *ret_reason = UMC_REASON_OK;
        return 0;
}

void umc_replay_update(struct umc_replay *w, uint32_t seq) {
        if (!w || w->size < 1 || w->size > UMC_REPLAY_WINDOW_MAX)
                return;

        if (!w->any) {
                memset(w->bitmap, 0, sizeof(w->bitmap));
                w->any = true;
                w->top = seq;
        } else if (seq > w->top) {
                uint32_t n = seq - w->top;

                /* A jump of the window's width or more forgets everything before. */
                if (n >= w->size)
                        memset(w->bitmap, 0, sizeof(w->bitmap));
                else
                        shift_up(w, n);
                w->top = seq;
        } else if (w->top - seq >= w->size)
                return; /* too old: the caller skipped umc_replay_check() */

        bit_set(w, w->top - seq);
}
