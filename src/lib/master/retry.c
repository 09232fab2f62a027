/* SPDX-License-Identifier: MIT */
/*
 * The retry decision for reaching a target (retry.h): a bounded budget
 * from the first attempt and a doubling backoff, the same on TCP and CAN.
 */
#include "umc/retry.h"

void umc_retry_start(struct umc_retry *r, uint64_t now, uint64_t budget, uint64_t backoff,
                     uint64_t backoff_max) {
        *r = (struct umc_retry){
                .first = now,
                .until = budget > 0 ? now + budget : 0,
                .backoff = backoff < backoff_max ? backoff : backoff_max,
                .backoff_max = backoff_max,
        };
}

bool umc_retry_next(struct umc_retry *r, uint64_t now, uint64_t *ret_at) {
        uint64_t at = now + r->backoff;

        if (r->until == 0 || at >= r->until)
                return false;
        *ret_at = at;
        r->backoff = r->backoff <= r->backoff_max / 2 ? r->backoff * 2 : r->backoff_max;
        return true;
}

uint64_t umc_retry_attempt_wait(const struct umc_retry *r, uint64_t now, uint64_t wait,
                                uint64_t floor) {
        uint64_t left;

        if (r->attempt <= 1 || r->until == 0)
                return wait;
        left = r->until > now ? r->until - now : 0;
        if (left < floor)
                left = floor;
        return wait < left ? wait : left;
}
