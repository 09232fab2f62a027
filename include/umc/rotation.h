/* SPDX-License-Identifier: MIT */
/*
 * Cipher-suite and key rotation policy. Pure logic: the caller passes the
 * time (any monotonic microsecond clock, so tests inject a fake one) and
 * the current load class; the policy answers whether to rotate now and to
 * which suite and key ID.
 *
 * Rules, checked in this order on every umc_rotation_step():
 *  1. load MUTATION or ABNORMAL: rotate at once, whether or not the
 *     interval has elapsed, and restart the timer;
 *  2. elapsed >= interval and load NORMAL: rotate to the next suite in the
 *     configured order, restart the timer;
 *  3. otherwise keep the current suite and key.
 * Anti-thrashing: rule 1 fires on the edge into MUTATION/ABNORMAL (or on an
 * escalation from MUTATION to ABNORMAL); while the load stays non-normal it
 * fires again only once holdoff has passed since the last rotation.
 * Every rotation moves to the next suite in the order and the next key ID.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "umc/cipher.h"
#include "umc/loadclass.h"

enum umc_rotation_cause {
        UMC_ROTATE_NONE = 0,
        UMC_ROTATE_SCHEDULED = 1,
        UMC_ROTATE_MUTATION = 2,
        UMC_ROTATE_ABNORMAL = 3,
};

#define UMC_ROTATION_INTERVAL_DEFAULT (120 * UINT64_C(1000000))
#define UMC_ROTATION_HOLDOFF_DEFAULT (10 * UINT64_C(1000000))
#define UMC_SUITE_ORDER_MAX 16

struct umc_rotation_cfg {
        uint64_t interval_usec; /* scheduled rotation period, > 0 */
        uint64_t holdoff_usec;  /* minimum spacing of repeated immediate rotations */
        enum umc_suite_id order[UMC_SUITE_ORDER_MAX];
        size_t n_order;         /* 1..UMC_SUITE_ORDER_MAX; a suite may repeat */
};

struct umc_rotation {
        struct umc_rotation_cfg cfg;
        size_t idx;             /* current position in cfg.order */
        uint16_t key_id;        /* current key ID; starts at 1 */
        uint64_t last_usec;     /* time of the last rotation (or init) */
        enum umc_load_class last_class;
        uint64_t n_rotations;
};

/* Fill cfg with the defaults: 120 s, 10 s, AES-128-GCM -> ChaCha20-Poly1305 -> AES-256-GCM -> SM4. */
void umc_rotation_cfg_default(struct umc_rotation_cfg *cfg);

/* -EINVAL on an empty/oversized order, a NONE/unknown suite or a zero interval. */
int umc_rotation_init(struct umc_rotation *r, const struct umc_rotation_cfg *cfg, uint64_t now_usec);

/*
 * Apply the rules at now_usec with the latest load class. On a rotation the
 * suite and key ID advance and *ret_cause says why; otherwise it is
 * UMC_ROTATE_NONE. Returns 0, or -ERANGE when the key ID space (65535) is
 * used up: the session must be re-established.
 * -ERANGE comes only when a rotation is due while key ID 65535 is in use;
 * r is then left unchanged. -EINVAL for an unknown load class or a
 * now_usec earlier than the last rotation (the clock must be monotonic).
 */
int umc_rotation_step(struct umc_rotation *r, uint64_t now_usec, enum umc_load_class load,
                      enum umc_rotation_cause *ret_cause);

static inline enum umc_suite_id umc_rotation_suite(const struct umc_rotation *r) {
        return r->cfg.order[r->idx];
}

/* Static names for logs ("scheduled", "load-abnormal", ...); NULL for an unknown value. */
const char *umc_rotation_cause_to_string(enum umc_rotation_cause c);
