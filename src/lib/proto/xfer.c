/* SPDX-License-Identifier: MIT */
#include "umc/xfer.h"

#include "umc/util.h"

uint32_t umc_xfer_auto_verify_every(uint64_t image_len, uint32_t chunk_len) {
        uint64_t frames, n;

        if (chunk_len == 0)
                return 4;
        frames = (image_len + chunk_len - 1) / chunk_len;
        n = (frames + 63) / 64;
        if (n < 4)
                n = 4;
        if (n > 256)
                n = 256;
        return (uint32_t)n;
}

bool umc_xfer_rejects_add(struct umc_xfer_rejects *c, enum umc_reason why) {
        c->total++;
        if (c->window < UINT32_MAX)
                c->window++;
        c->last = why;
        return c->window > c->limit;
}

void umc_xfer_rejects_new_window(struct umc_xfer_rejects *c) {
        c->window = 0;
}
