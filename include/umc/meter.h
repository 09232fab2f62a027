/* SPDX-License-Identifier: MIT */
/*
 * The rate and ETA a person watches (umcctl): computed from the bytes the
 * ECU acknowledged and when each count arrived, so that a rate shows from
 * the first acknowledged checkpoint on (the daemon's own rate is a
 * per-load-window figure that stays 0 for the first window), and smoothed
 * so that the line neither jumps back nor flickers:
 *  - the rate is the bytes over the last UMC_METER_WINDOW_USEC of samples
 *    (from the first acknowledged checkpoint while that is shorter: the
 *    time before it is connection and handshake latency, not throughput);
 *  - the percent shown never goes down;
 *  - the ETA counts down by itself between samples and is revised at most
 *    once a second: down when a new estimate is more than 1 s lower, up
 *    only when it is more than 2 s and 10 % higher (a slowdown must be
 *    real, not the noise of one checkpoint).
 * A count below the last one (a new attempt resuming from a checkpoint)
 * restarts the rate, not the percent. The struct is plain data: zero it
 * (or umc_meter_reset()) to start. No I/O, no clock of its own.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UMC_METER_SAMPLES 32
#define UMC_METER_WINDOW_USEC (3 * 1000000ULL)
/* Less than this between the first and the last sample gives no rate yet. */
#define UMC_METER_MIN_SPAN_USEC (100 * 1000ULL)
#define UMC_METER_ETA_UNKNOWN UINT64_MAX

struct umc_meter {
        uint64_t t[UMC_METER_SAMPLES], b[UMC_METER_SAMPLES]; /* ring of (usec, bytes) */
        size_t n, head;
        uint64_t base;                 /* bytes at the start: not a sample, see umc_meter_start() */
        uint32_t percent;              /* the highest shown */
        uint64_t eta_s;                /* last ETA shown, at eta_usec */
        uint64_t eta_usec;
        bool have_eta;
};

void umc_meter_reset(struct umc_meter *m);

/*
 * A transfer (re)starts with bytes already acknowledged (0, or a resume
 * offset): the samples go, and the first count above bytes becomes the
 * first sample.
 */
void umc_meter_start(struct umc_meter *m, uint64_t bytes);

/* bytes acknowledged at now_usec (monotonic). */
void umc_meter_add(struct umc_meter *m, uint64_t now_usec, uint64_t bytes);

/* Bytes per second over the window; 0 while unknown. */
uint64_t umc_meter_rate(const struct umc_meter *m);

/* The percent to show: done/total (or fallback when total is 0), never lower than before. */
uint32_t umc_meter_percent(struct umc_meter *m, uint64_t done, uint64_t total, uint32_t fallback);

/*
 * Seconds left for remaining bytes at rate (bytes/s: umc_meter_rate(), or a
 * sum of several meters' rates), smoothed as above; UMC_METER_ETA_UNKNOWN
 * while there never was a rate.
 */
uint64_t umc_meter_eta(struct umc_meter *m, uint64_t now_usec, uint64_t remaining, uint64_t rate);
