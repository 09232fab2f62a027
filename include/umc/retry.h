/* SPDX-License-Identifier: MIT */
/*
 * The retry decision for reaching a target (ConnectRetrySec=,
 * ConnectBackoffMSec=, ConnectBackoffMaxSec=): on TCP a connect() that is
 * refused or not answered, on CAN an ISO-TP session whose AUTH_CHALLENGE
 * gets no flow control or no AUTH_RESPONSE. Pure functions on a struct the
 * caller owns (the delivery embeds one); times are CLOCK_MONOTONIC
 * microseconds passed in, so that the decision can be tested without a
 * clock.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct umc_retry {
        unsigned attempt;               /* begun so far (the caller counts); 0 before the first */
        uint64_t first;                 /* when the first began */
        uint64_t until;                 /* first + the budget; 0: no retries */
        uint64_t backoff;               /* the wait before the next attempt */
        uint64_t backoff_max;
};

/*
 * The first attempt is about to begin at now: the budget (0: fail at the
 * first failure) counts from here, the first wait is backoff, each later
 * one twice the previous, at most backoff_max. attempt is 0: the caller
 * counts each attempt as it begins it.
 */
void umc_retry_start(struct umc_retry *r, uint64_t now, uint64_t budget, uint64_t backoff,
                     uint64_t backoff_max);

/*
 * The attempt that began last failed at now. True, with the time of the
 * next attempt in *ret_at (and the wait after it doubled), when that
 * attempt begins before the budget ends; false when the budget is spent
 * or retries are off (then *ret_at is untouched).
 */
bool umc_retry_next(struct umc_retry *r, uint64_t now, uint64_t *ret_at);

/*
 * How long an attempt beginning at now may wait for its answer: wait for
 * the first attempt; a later one no longer than the budget has left, but
 * at least floor (a last attempt too short to be answered would be none).
 */
uint64_t umc_retry_attempt_wait(const struct umc_retry *r, uint64_t now, uint64_t wait,
                                uint64_t floor);
