/* SPDX-License-Identifier: MIT */
/*
 * The load classifier: a series of load samples (one percentage per fixed
 * window, of a CAN bus or an Ethernet link alike) and the class of each
 * new sample against the recent ones:
 *  - ABNORMAL: above abnormal_percent;
 *  - MUTATION: at least mutation_factor times the lowest sample of the
 *    last mutation window and at least mutation_min_delta points above it
 *    ("at least doubled", without 0.5 % -> 1 % counting as a change);
 *  - NORMAL otherwise, and for the first sample.
 * Pure logic on caller-owned structs: no I/O, no clock, no allocation.
 * busload.h measures the samples; rotation.h acts on the class.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum umc_load_class {
        UMC_LOAD_NORMAL = 0,
        UMC_LOAD_MUTATION = 1, /* load at least doubled within the mutation window */
        UMC_LOAD_ABNORMAL = 2, /* load above the abnormal threshold */
};

/* Samples kept: the longest mutation window, in windows. */
#define UMC_LOAD_HISTORY_MAX 600

struct umc_load_cfg {
        uint64_t window_usec;          /* one load sample, default 1 s */
        uint64_t mutation_window_usec; /* default 30 s */
        double mutation_factor;        /* default 2.0: "at least doubled" */
        double mutation_min_delta;     /* percentage points, default 5: ignores 0.5% -> 1% */
        double abnormal_percent;       /* default 80 */
};

void umc_load_cfg_default(struct umc_load_cfg *cfg);
/*
 * -EINVAL on zero windows, mutation window shorter than a window or longer
 * than the history, factor <= 1, abnormal outside (0, 1000]. Also -EINVAL:
 * NULL, a non-finite factor, and a min_delta that is not > 0 (with 0, an
 * idle window after idle windows would count as "doubled"). The mutation
 * window covers its whole number of windows, at most UMC_LOAD_HISTORY_MAX.
 */
int umc_load_cfg_validate(const struct umc_load_cfg *cfg);

/* The samples so far, a ring of the last UMC_LOAD_HISTORY_MAX. Zeroed = empty. */
struct umc_load_history {
        double v[UMC_LOAD_HISTORY_MAX]; /* oldest first from (head - n) */
        size_t n, head;
};

/*
 * The class of percent against the samples in h of the last mutation
 * window (cfg must be valid: umc_load_cfg_validate()). h is not changed:
 * add the sample with umc_load_history_push() afterwards.
 */
enum umc_load_class umc_load_classify(const struct umc_load_cfg *cfg,
                                      const struct umc_load_history *h, double percent);

/* Append a sample, dropping the oldest when full. */
void umc_load_history_push(struct umc_load_history *h, double percent);

/* Static names for logs ("normal", "mutation", "abnormal"); NULL for an unknown value. */
const char *umc_load_class_to_string(enum umc_load_class c);
