/* SPDX-License-Identifier: MIT */
#include "umc/meter.h"

#include <string.h>

void umc_meter_reset(struct umc_meter *m) {
        memset(m, 0, sizeof(*m));
}

static size_t oldest(const struct umc_meter *m) {
        return (m->head + UMC_METER_SAMPLES - m->n) % UMC_METER_SAMPLES;
}

static size_t newest(const struct umc_meter *m) {
        return (m->head + UMC_METER_SAMPLES - 1) % UMC_METER_SAMPLES;
}

static void push(struct umc_meter *m, uint64_t now, uint64_t bytes) {
        m->t[m->head] = now;
        m->b[m->head] = bytes;
        m->head = (m->head + 1) % UMC_METER_SAMPLES;
        if (m->n < UMC_METER_SAMPLES)
                m->n++;
}

void umc_meter_start(struct umc_meter *m, uint64_t bytes) {
        m->n = m->head = 0;
        m->have_eta = false;
        m->base = bytes;
}

void umc_meter_add(struct umc_meter *m, uint64_t now_usec, uint64_t bytes) {
        if (m->n == 0 && bytes <= m->base) {
                m->base = bytes; /* nothing acknowledged since the start yet */
                return;
        }
        if (m->n > 0) {
                size_t last = newest(m);

                if (bytes < m->b[last] || now_usec < m->t[last]) {
                        /* A new attempt from a checkpoint: count from here. */
                        umc_meter_start(m, bytes);
                        return;
                }
                if (bytes == m->b[last])
                        return; /* no news: keep the window's start where it is */
        }
        push(m, now_usec, bytes);
        /* Drop samples older than the window, keeping at least two. */
        while (m->n > 2 && now_usec - m->t[oldest(m)] > UMC_METER_WINDOW_USEC &&
               now_usec - m->t[(oldest(m) + 1) % UMC_METER_SAMPLES] >= UMC_METER_WINDOW_USEC)
                m->n--;
}

uint64_t umc_meter_rate(const struct umc_meter *m) {
        size_t a, z;
        uint64_t dt;

        if (m->n < 2)
                return 0;
        a = oldest(m);
        z = newest(m);
        dt = m->t[z] - m->t[a];
        if (dt < UMC_METER_MIN_SPAN_USEC)
                return 0;
        return (uint64_t)((double)(m->b[z] - m->b[a]) * 1e6 / (double)dt);
}

uint32_t umc_meter_percent(struct umc_meter *m, uint64_t done, uint64_t total, uint32_t fallback) {
        uint32_t p = total > 0 ? (uint32_t)((done > total ? total : done) * 100 / total) : fallback;

        if (p > 100)
                p = 100;
        if (p > m->percent)
                m->percent = p;
        return m->percent;
}

uint64_t umc_meter_eta(struct umc_meter *m, uint64_t now_usec, uint64_t remaining, uint64_t rate) {
        uint64_t est, cand, elapsed, diff;

        if (remaining == 0)
                return 0;
        /* The shown ETA counts down by itself (no rate between two targets: keep counting). */
        elapsed = m->have_eta && now_usec > m->eta_usec ? now_usec - m->eta_usec : 0;
        cand = m->eta_s > elapsed / 1000000ULL ? m->eta_s - elapsed / 1000000ULL : 0;
        if (rate == 0)
                return m->have_eta ? cand : UMC_METER_ETA_UNKNOWN;
        est = remaining / rate + (remaining % rate ? 1 : 0);
        if (m->have_eta) {
                /*
                 * Revise it at most once a second, down by more than a second, up
                 * only by more than 2 s and 10 %: a slowdown must be real, not
                 * the noise of one checkpoint.
                 */
                diff = est > cand ? est - cand : cand - est;
                if (elapsed < 1000000ULL || diff <= 1 ||
                    (est > cand && (diff <= 2 || diff * 10 <= cand)))
                        return cand;
        }
        m->eta_s = est;
        m->eta_usec = now_usec;
        m->have_eta = true;
        return est;
}
