/* SPDX-License-Identifier: MIT */
/*
 * Receiver-side anti-replay window over 32-bit sequence numbers (the
 * RFC 4303 section 3.4.3 bitmap), one per (session, key ID). Check before
 * decrypting, update only after the tag verified, so forged frames cannot
 * move the window.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "umc/reason.h"

#define UMC_REPLAY_WINDOW_MAX 1024
#define UMC_REPLAY_WINDOW_DEFAULT 64

struct umc_replay {
        uint32_t top;     /* highest sequence accepted */
        bool any;         /* has anything been accepted */
        unsigned size;    /* window width in sequence numbers, 1..UMC_REPLAY_WINDOW_MAX */
        uint64_t bitmap[UMC_REPLAY_WINDOW_MAX / 64]; /* bit i: top - i seen */
};

/* size 1..UMC_REPLAY_WINDOW_MAX, else -EINVAL. */
int umc_replay_init(struct umc_replay *w, unsigned size);

/* 0 if seq would be accepted; -EBADMSG with REPLAYED or SEQ_TOO_OLD. */
int umc_replay_check(const struct umc_replay *w, uint32_t seq, enum umc_reason *ret_reason);

/* Mark seq as seen; call only after umc_replay_check() passed and the frame authenticated. */
void umc_replay_update(struct umc_replay *w, uint32_t seq);
