/* SPDX-License-Identifier: MIT */
#include "umc/loadclass.h"

#include <errno.h>
#include <math.h>

#include "umc/util.h"

void umc_load_cfg_default(struct umc_load_cfg *cfg) {
        if (!cfg)
                return;
        *cfg = (struct umc_load_cfg){
                .window_usec = USEC_PER_SEC,
                .mutation_window_usec = 30 * USEC_PER_SEC,
                .mutation_factor = 2.0,
                .mutation_min_delta = 5.0,
                .abnormal_percent = 80.0,
        };
}

int umc_load_cfg_validate(const struct umc_load_cfg *cfg) {
        if (!cfg)
                return -EINVAL;
        if (cfg->window_usec == 0 || cfg->mutation_window_usec < cfg->window_usec)
                return -EINVAL;
        if (cfg->mutation_window_usec / cfg->window_usec > UMC_LOAD_HISTORY_MAX)
                return -EINVAL;
        /* Written so that NaN fails every test. */
        if (!(isfinite(cfg->mutation_factor) && cfg->mutation_factor > 1.0))
                return -EINVAL;
        if (!(isfinite(cfg->mutation_min_delta) && cfg->mutation_min_delta > 0.0))
                return -EINVAL;
        if (!(cfg->abnormal_percent > 0.0 && cfg->abnormal_percent <= 1000.0))
                return -EINVAL;
        return 0;
}

/* Samples of the last mutation window that h holds. */
static size_t mutation_windows(const struct umc_load_cfg *cfg, const struct umc_load_history *h) {
        size_t k = (size_t)(cfg->mutation_window_usec / cfg->window_usec);

        return k < h->n ? k : h->n;
}

enum umc_load_class umc_load_classify(const struct umc_load_cfg *cfg,
                                      const struct umc_load_history *h, double percent) {
        size_t k = mutation_windows(cfg, h);
        double min;

        if (percent > cfg->abnormal_percent)
                return UMC_LOAD_ABNORMAL;
        if (k == 0)
                return UMC_LOAD_NORMAL;
        min = INFINITY;
        for (size_t i = 1; i <= k; i++)
                min = fmin(min, h->v[(h->head + UMC_LOAD_HISTORY_MAX - i) % UMC_LOAD_HISTORY_MAX]);
        if (percent >= cfg->mutation_factor * min && percent - min >= cfg->mutation_min_delta)
                return UMC_LOAD_MUTATION;
        return UMC_LOAD_NORMAL;
}

void umc_load_history_push(struct umc_load_history *h, double percent) {
        h->v[h->head] = percent;
        h->head = (h->head + 1) % UMC_LOAD_HISTORY_MAX;
        if (h->n < UMC_LOAD_HISTORY_MAX)
                h->n++;
}

const char *umc_load_class_to_string(enum umc_load_class c) {
        switch (c) {
        case UMC_LOAD_NORMAL:
                return "normal";
        case UMC_LOAD_MUTATION:
                return "mutation";
        case UMC_LOAD_ABNORMAL:
                return "abnormal";
        }
        return NULL;
}
