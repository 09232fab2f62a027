/* SPDX-License-Identifier: MIT */
#include "umc/rotation.h"

#include "umc/util.h"

/* Key IDs travel as 16-bit values; 0 is never used, so 65535 is the last. */
#define KEY_ID_MAX UINT16_MAX

void umc_rotation_cfg_default(struct umc_rotation_cfg *cfg) {
        if (!cfg)
                return;
        *cfg = (struct umc_rotation_cfg){
                .interval_usec = UMC_ROTATION_INTERVAL_DEFAULT,
                .holdoff_usec = UMC_ROTATION_HOLDOFF_DEFAULT,
                .order = {
                        UMC_SUITE_AES_128_GCM,
                        UMC_SUITE_CHACHA20_POLY1305,
                        UMC_SUITE_AES_256_GCM,
                        UMC_SUITE_SM4_CTR_HMAC_SM3,
                },
                .n_order = 4,
        };
}

static bool suite_is_valid(enum umc_suite_id s) {
        /* Range check on the wire IDs of cipher.h: NONE is no AEAD at all. */
        return s > UMC_SUITE_NONE && s < _UMC_SUITE_MAX;
}

static bool load_is_valid(enum umc_load_class c) {
        return c == UMC_LOAD_NORMAL || c == UMC_LOAD_MUTATION || c == UMC_LOAD_ABNORMAL;
}

int umc_rotation_init(struct umc_rotation *r, const struct umc_rotation_cfg *cfg, uint64_t now_usec) {
        if (!r || !cfg)
                return -EINVAL;
        if (cfg->interval_usec == 0)
                return -EINVAL;
        if (cfg->n_order < 1 || cfg->n_order > UMC_SUITE_ORDER_MAX)
                return -EINVAL;
        for (size_t i = 0; i < cfg->n_order; i++)
                if (!suite_is_valid(cfg->order[i]))
                        return -EINVAL;

        *r = (struct umc_rotation){
                .cfg = *cfg,
                .idx = 0,
                .key_id = 1,
                .last_usec = now_usec,
                .last_class = UMC_LOAD_NORMAL,
        };
        return 0;
}

/*
 * Rule 1's trigger: the edge from NORMAL into MUTATION/ABNORMAL, an
 * escalation from MUTATION to ABNORMAL, or a non-normal load that has
 * lasted at least holdoff since the last rotation.
 */
static bool immediate_due(const struct umc_rotation *r, enum umc_load_class load, uint64_t elapsed) {
        if (load == UMC_LOAD_NORMAL)
                return false;
        if (r->last_class == UMC_LOAD_NORMAL)
                return true;
        if (load == UMC_LOAD_ABNORMAL && r->last_class == UMC_LOAD_MUTATION)
                return true;
        return elapsed >= r->cfg.holdoff_usec;
}

int umc_rotation_step(struct umc_rotation *r, uint64_t now_usec, enum umc_load_class load,
                      enum umc_rotation_cause *ret_cause) {
        enum umc_rotation_cause cause = UMC_ROTATE_NONE;
        uint64_t elapsed;

        if (!r || !ret_cause || !load_is_valid(load))
                return -EINVAL;
        /* The clock is monotonic: time running backwards is a caller bug, not a case to paper over. */
        if (now_usec < r->last_usec)
                return -EINVAL;
        elapsed = now_usec - r->last_usec;

        if (immediate_due(r, load, elapsed))
                cause = load == UMC_LOAD_ABNORMAL ? UMC_ROTATE_ABNORMAL : UMC_ROTATE_MUTATION;
        else if (load == UMC_LOAD_NORMAL && elapsed >= r->cfg.interval_usec)
                cause = UMC_ROTATE_SCHEDULED;

        if (cause != UMC_ROTATE_NONE) {
                /* No key ID left: leave the state as it was, the session must be re-keyed. */
                if (r->key_id >= KEY_ID_MAX)
                        return -ERANGE;
                r->idx = (r->idx + 1) % r->cfg.n_order;
                r->key_id++;
                r->last_usec = now_usec;
                r->n_rotations++;
        }
        r->last_class = load;
        *ret_cause = cause;
        return 0;
}

const char *umc_rotation_cause_to_string(enum umc_rotation_cause c) {
        switch (c) {
        case UMC_ROTATE_NONE:
                return "none";
        case UMC_ROTATE_SCHEDULED:
                return "scheduled";
        case UMC_ROTATE_MUTATION:
                return "load-mutation";
        case UMC_ROTATE_ABNORMAL:
                return "load-abnormal";
        }
        return NULL;
}
