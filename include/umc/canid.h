/* SPDX-License-Identifier: MIT */
/*
 * The CAN header check before and during a transfer: an ID whitelist where
 * each ID may carry a nominal period (umc_canid_*), and the frequency
 * monitor (umc_canmon_*) that measures each ID's mean period over a window
 * of many periods and flags rates outside the tolerance (default +-10%).
 * Unknown IDs are an immediate violation. Every check answers with an enum
 * umc_reason (UMC_REASON_OK = pass). Rule tables are plain arrays owned by
 * the caller (the config); the monitor owns only its counters. No I/O, no
 * global state.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "umc/reason.h"

struct umc_canid_rule {
        uint32_t id;
        bool eff;             /* 29-bit ID */
        uint64_t period_usec; /* nominal period; 0 = aperiodic (whitelist only) */
        double tolerance_pct; /* allowed deviation of the mean period, percent */
};

#define UMC_CANID_SFF_MAX UINT32_C(0x7FF)      /* ISO 11898-1 base format, 11 bits */
#define UMC_CANID_EFF_MAX UINT32_C(0x1FFFFFFF) /* extended format, 29 bits */
#define UMC_CANID_PERIOD_MS_MAX 3600000        /* one hour */

/*
 * Parse "ID[:PERIOD_MS]" the way can-utils writes IDs: 3 hex digits = 11-bit,
 * 8 hex digits = 29-bit (e.g. "7E0", "18DAF110:100"), either case. The
 * period is decimal milliseconds 0..UMC_CANID_PERIOD_MS_MAX; 0 or no
 * ":PERIOD_MS" makes the ID aperiodic (whitelisted, never rate-checked).
 * No sign, no spaces, no "0x", nothing after the period. tolerance_pct is
 * set to default_tol, which must be 0..100.
 * Returns 0 with *ret filled, or -EINVAL with why (see umc_why(); may be
 * NULL) naming the defect, e.g. "ID must be 3 (11-bit) or 8 (29-bit) hex
 * digits", "ID is not hexadecimal", "11-bit ID above 7FF", "29-bit ID
 * above 1FFFFFFF", "period is empty", "period is not a number of
 * milliseconds", "period above 3600000 ms". *ret is written only on
 * success, why only on failure.
 */
int umc_canid_rule_parse(const char *s, double default_tol, struct umc_canid_rule *ret,
                         char *why, size_t why_size);

/* The first rule for (id, eff) in rules[0..n), or NULL. Borrowed pointer. */
const struct umc_canid_rule *umc_canid_find(const struct umc_canid_rule *rules, size_t n,
                                            uint32_t id, bool eff);

/* One rule's current window. */
struct umc_canid_stat {
        uint64_t count;                 /* frames in the window */
        uint64_t first_usec, last_usec; /* last_usec survives a new window, see below */
};

#define UMC_CANMON_MIN_PERIODS_DEFAULT 10

/*
 * The frequency monitor (measure each ID's rate over a window of
 * many periods, never per frame, since single intervals jitter with
 * arbitration and queuing).
 *
 * Per window and rule it keeps the frame count and the first and last
 * timestamp; umc_canmon_evaluate() ends the window. Rules:
 *  - Unknown IDs are a violation at once: umc_canmon_frame() says so, and
 *    the next evaluate reports it before any rate (precedence: unknown ID,
 *    then rates).
 *  - A periodic ID is judged when its window holds at least min_periods
 *    intervals (count - 1 >= min_periods): mean = (last - first) /
 *    (count - 1); violation when |mean - nominal| / nominal * 100 >
 *    tolerance_pct (a deviation of exactly tolerance_pct passes). A mean
 *    below nominal (frames too frequent, e.g. an injected copy of the ID)
 *    is CAN_RATE_HIGH; above nominal is CAN_RATE_LOW.
 *  - An ID with fewer intervals is not judged and keeps accumulating into
 *    the next window, so slow IDs are judged eventually; a pause (an ECU
 *    asleep) inside such an accumulating window lengthens its mean.
 *  - An ID never seen in the window is not judged at all: an ECU may sleep,
 *    and silence is not a rate. A missing ECU must be detected elsewhere.
 *  - Aperiodic IDs (period 0) are whitelisted only, never judged on rate.
 *  - Judged and aperiodic IDs start an empty window; the interval across
 *    the window boundary is not measured.
 *  - A frame whose timestamp is before the last one counted for its ID
 *    (this or an earlier window) is not counted; umc_canmon_frame() still
 *    answers OK for a listed ID. Equal timestamps are counted.
 *  - Several violations in one window: the verdict is the first in
 *    precedence order, among rates the first in rule table order; the
 *    others are not reported (every judged window is still restarted).
 */
struct umc_canmon {
        const struct umc_canid_rule *rules; /* borrowed, must outlive the monitor */
        size_t n;
        struct umc_canid_stat *stats;       /* owned, one per rule */
        unsigned min_periods;               /* intervals needed before a rate is judged */
        uint64_t n_unknown;                 /* unknown-ID frames since init */
        uint32_t last_unknown_id;           /* the most recent one, valid if n_unknown > 0 */
        bool last_unknown_eff;
        uint64_t n_unknown_window;          /* unknown-ID frames since the last evaluate */
        size_t *index;                      /* owned: rule indices sorted by (eff, id) */
};

struct umc_canid_verdict {
        enum umc_reason reason;   /* OK, CAN_ID_UNKNOWN, CAN_RATE_HIGH, CAN_RATE_LOW */
        uint32_t id;
        bool eff;
        uint64_t nominal_usec;    /* rate checks: nominal and observed mean period */
        uint64_t observed_usec;
};

/*
 * Set up *m over rules[0..n) (borrowed; n may be 0: every ID is unknown).
 * min_periods must be >= 1 (UMC_CANMON_MIN_PERIODS_DEFAULT is a good value).
 * -EINVAL for a bad argument, a rule out of range (ID above its format's
 * maximum, period above one hour, tolerance outside 0..100) or the same
 * (id, eff) listed twice; -ENOMEM. *m is written only on success; release
 * it with umc_canmon_done().
 */
int umc_canmon_init(struct umc_canmon *m, const struct umc_canid_rule *rules, size_t n,
                    unsigned min_periods);

/* Free what init allocated and zero *m. Accepts NULL and a zeroed monitor. */
void umc_canmon_done(struct umc_canmon *m);

/*
 * Count a frame seen at ts_usec (any monotonic clock, the same for every
 * frame). Returns UMC_REASON_CAN_ID_UNKNOWN for an ID not listed (and
 * remembers it in n_unknown and last_unknown_*), else UMC_REASON_OK.
 * O(log n).
 */
enum umc_reason umc_canmon_frame(struct umc_canmon *m, uint32_t id, bool eff, uint64_t ts_usec);

/*
 * Judge the window that ends now and start a new one: the first
 * violation found (unknown IDs first, then rates) goes to *ret; IDs with
 * fewer than min_periods intervals are not judged yet (and keep counting).
 * *ret (may be NULL to only restart) is always written: reason OK with the
 * other fields 0 when nothing was wrong; for CAN_ID_UNKNOWN the last
 * unknown ID of the window with nominal and observed 0; for rates the
 * rule's ID, nominal period and the mean period rounded to 1 us.
 * See struct umc_canmon for every rule.
 */
void umc_canmon_evaluate(struct umc_canmon *m, struct umc_canid_verdict *ret);
