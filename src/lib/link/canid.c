/* SPDX-License-Identifier: MIT */
#include "umc/canid.h"

#include <string.h>

#include "umc/parse.h"
#include "umc/util.h"

/* ---- CAN ID whitelist ---- */

static uint32_t canid_max(bool eff) {
        return eff ? UMC_CANID_EFF_MAX : UMC_CANID_SFF_MAX;
}

static bool tolerance_valid(double tol) {
        /* Written so that NaN fails. */
        return tol >= 0.0 && tol <= 100.0;
}

static int canid_parse_id(const char *s, size_t len, uint32_t *ret_id, bool *ret_eff,
                          char *why, size_t why_size) {
        uint32_t id = 0;
        bool eff;

        for (size_t i = 0; i < len; i++)
                if (umc_hex_digit(s[i]) < 0)
                        return umc_why(why, why_size, -EINVAL, "ID is not hexadecimal");
        /* can-utils' convention (lib.c, cansend): the digit count gives the format. */
        if (len == 3)
                eff = false;
        else if (len == 8)
                eff = true;
        else
                return umc_why(why, why_size, -EINVAL,
                               "ID must be 3 (11-bit) or 8 (29-bit) hex digits");
        for (size_t i = 0; i < len; i++)
                id = id << 4 | (uint32_t)umc_hex_digit(s[i]);
        if (id > canid_max(eff))
                return umc_why(why, why_size, -EINVAL, "%s",
                               eff ? "29-bit ID above 1FFFFFFF" : "11-bit ID above 7FF");
        *ret_id = id;
        *ret_eff = eff;
        return 0;
}

static int canid_parse_period(const char *s, size_t len, uint64_t *ret_usec, char *why,
                              size_t why_size) {
        uint64_t ms;
        int r;

        if (len == 0)
                return umc_why(why, why_size, -EINVAL, "period is empty");
        r = umc_parse_uint(s, len, UMC_CANID_PERIOD_MS_MAX, &ms);
        if (r == -ERANGE)
                return umc_why(why, why_size, -EINVAL, "period above 3600000 ms");
        if (r < 0)
                return umc_why(why, why_size, -EINVAL, "period is not a number of milliseconds");
        *ret_usec = ms * USEC_PER_MSEC;
        return 0;
}

int umc_canid_rule_parse(const char *s, double default_tol, struct umc_canid_rule *ret,
                         char *why, size_t why_size) {
        uint64_t period_usec = 0;
        const char *colon;
        size_t id_len;
        uint32_t id = 0;
        bool eff = false;

        if (!ret)
                return umc_why(why, why_size, -EINVAL, "no result buffer");
        if (!tolerance_valid(default_tol))
                return umc_why(why, why_size, -EINVAL, "tolerance must be 0..100 percent");
        if (!s || !*s)
                return umc_why(why, why_size, -EINVAL, "empty CAN ID");

        colon = strchr(s, ':');
        id_len = colon ? (size_t)(colon - s) : strlen(s);
        if (canid_parse_id(s, id_len, &id, &eff, why, why_size) < 0)
                return -EINVAL;
        if (colon && canid_parse_period(colon + 1, strlen(colon + 1), &period_usec, why,
                                        why_size) < 0)
                return -EINVAL;

        *ret = (struct umc_canid_rule){
                .id = id,
                .eff = eff,
                .period_usec = period_usec,
                .tolerance_pct = default_tol,
        };
        return 0;
}

const struct umc_canid_rule *umc_canid_find(const struct umc_canid_rule *rules, size_t n,
                                            uint32_t id, bool eff) {
        for (size_t i = 0; i < n; i++)
                if (rules[i].id == id && rules[i].eff == eff)
                        return &rules[i];
        return NULL;
}

/* ---- CAN frequency monitor ---- */

/* Sort key: 11-bit IDs first, then 29-bit, each by ID. */
static int canid_cmp(uint32_t id_a, bool eff_a, uint32_t id_b, bool eff_b) {
        if (eff_a != eff_b)
                return eff_a ? 1 : -1;
        if (id_a != id_b)
                return id_a < id_b ? -1 : 1;
        return 0;
}

static bool canid_rule_valid(const struct umc_canid_rule *r) {
        return r->id <= canid_max(r->eff) &&
               r->period_usec <= (uint64_t)UMC_CANID_PERIOD_MS_MAX * USEC_PER_MSEC &&
               tolerance_valid(r->tolerance_pct);
}

/*
 * Insertion sort of rule indices: init runs once per configuration with at
 * most a few thousand rules, and this keeps qsort's global-context dance
 * away (qsort_r's signature differs between libcs).
 */
static void canmon_sort_index(const struct umc_canid_rule *rules, size_t *index, size_t n) {
        for (size_t i = 1; i < n; i++) {
                size_t v = index[i], j = i;

                while (j > 0 && canid_cmp(rules[index[j - 1]].id, rules[index[j - 1]].eff,
                                          rules[v].id, rules[v].eff) > 0) {
                        index[j] = index[j - 1];
                        j--;
                }
                index[j] = v;
        }
}

int umc_canmon_init(struct umc_canmon *m, const struct umc_canid_rule *rules, size_t n,
                    unsigned min_periods) {
        _cleanup_free_ struct umc_canid_stat *stats = NULL;
        _cleanup_free_ size_t *index = NULL;

        if (!m || (n > 0 && !rules) || min_periods < 1)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!canid_rule_valid(&rules[i]))
                        return -EINVAL;

        if (n > 0) {
                stats = calloc(n, sizeof(*stats));
                index = calloc(n, sizeof(*index));
                if (!stats || !index)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                index[i] = i;
        canmon_sort_index(rules, index, n);
        /* Sorted, so a duplicate sits next to its twin. */
        for (size_t i = 1; i < n; i++)
                if (canid_cmp(rules[index[i - 1]].id, rules[index[i - 1]].eff,
                              rules[index[i]].id, rules[index[i]].eff) == 0)
                        return -EINVAL;

        *m = (struct umc_canmon){
                .rules = rules,
                .n = n,
                .stats = TAKE_PTR(stats),
                .min_periods = min_periods,
                .index = TAKE_PTR(index),
        };
        return 0;
}

void umc_canmon_done(struct umc_canmon *m) {
        if (!m)
                return;
        free(m->stats);
        free(m->index);
        *m = (struct umc_canmon){};
}

/* Index of the rule for (id, eff), or m->n. */
static size_t canmon_lookup(const struct umc_canmon *m, uint32_t id, bool eff) {
        size_t lo = 0, hi = m->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const struct umc_canid_rule *r = &m->rules[m->index[mid]];
                int c = canid_cmp(r->id, r->eff, id, eff);

                if (c == 0)
                        return m->index[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return m->n;
}

enum umc_reason umc_canmon_frame(struct umc_canmon *m, uint32_t id, bool eff, uint64_t ts_usec) {
        struct umc_canid_stat *st;
        size_t i;

        i = canmon_lookup(m, id, eff);
        if (i == m->n) {
                m->n_unknown++;
                m->n_unknown_window++;
                m->last_unknown_id = id;
                m->last_unknown_eff = eff;
                return UMC_REASON_CAN_ID_UNKNOWN;
        }

        st = &m->stats[i];
        /* last_usec starts at 0 and survives new windows: the high-water mark. */
        if (ts_usec < st->last_usec)
                return UMC_REASON_OK;
        if (st->count == 0)
                st->first_usec = ts_usec;
        st->last_usec = ts_usec;
        st->count++;
        return UMC_REASON_OK;
}

/*
 * Judge one periodic rule whose window holds enough intervals. Compares
 * |mean - nominal| * 100 > tol * nominal, the header's formula with the
 * division by nominal moved across, so that whole-microsecond boundaries
 * (a mean of exactly 110 ms against 100 ms at 10%) are decided exactly.
 */
static enum umc_reason canmon_judge(const struct umc_canid_rule *r, const struct umc_canid_stat *st,
                                    uint64_t *ret_mean_usec) {
        uint64_t intervals = st->count - 1, span = st->last_usec - st->first_usec;
        double mean = (double)span / (double)intervals, nominal = (double)r->period_usec;
        double diff = mean > nominal ? mean - nominal : nominal - mean;

        *ret_mean_usec = span / intervals + (span % intervals >= (intervals + 1) / 2 ? 1 : 0);
        if (diff * 100.0 <= r->tolerance_pct * nominal)
                return UMC_REASON_OK;
        return mean < nominal ? UMC_REASON_CAN_RATE_HIGH : UMC_REASON_CAN_RATE_LOW;
}

void umc_canmon_evaluate(struct umc_canmon *m, struct umc_canid_verdict *ret) {
        struct umc_canid_verdict v = { .reason = UMC_REASON_OK };

        if (m->n_unknown_window > 0)
                v = (struct umc_canid_verdict){
                        .reason = UMC_REASON_CAN_ID_UNKNOWN,
                        .id = m->last_unknown_id,
                        .eff = m->last_unknown_eff,
                };
        m->n_unknown_window = 0;

        for (size_t i = 0; i < m->n; i++) {
                const struct umc_canid_rule *r = &m->rules[i];
                struct umc_canid_stat *st = &m->stats[i];
                enum umc_reason why;
                uint64_t mean = 0;

                if (st->count == 0)
                        continue; /* not seen: an ECU may sleep */
                if (r->period_usec == 0) {
                        st->count = 0; /* aperiodic: whitelist only */
                        continue;
                }
                if (st->count - 1 < m->min_periods)
                        continue; /* too few intervals: keep accumulating */

                why = canmon_judge(r, st, &mean);
                st->count = 0;
                if (why != UMC_REASON_OK && v.reason == UMC_REASON_OK)
                        v = (struct umc_canid_verdict){
                                .reason = why,
                                .id = r->id,
                                .eff = r->eff,
                                .nominal_usec = r->period_usec,
                                .observed_usec = mean,
                        };
        }

        if (ret)
                *ret = v;
}

